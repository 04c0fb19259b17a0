"""Operator authentication for the admin and RA APIs: ``Depends(require_operator(*roles))``.

Operators send ``Authorization: Bearer <token>`` (RFC 6750 §2.1) with a token issued by
``natid operator add`` or ``natid operator token``; :class:`core.operators.OperatorService`
checks it, enforces the failure limit and records every use in the audit ledger. This module
only translates the outcome to HTTP:

* no bearer credentials - 401 with ``WWW-Authenticate: Bearer realm="natid-admin"`` and no
  error code (RFC 6750 §3.1: a request without credentials gets none); nothing is recorded,
  since nobody claimed to be anybody;
* a token that is malformed, unknown, expired, revoked or of a disabled operator - 401 with
  ``error="invalid_token"``; the same answer for every reason, so the reason (recorded in the
  ledger) is not an oracle;
* a valid token without any of the route's roles - 403 problem+json, code
  ``insufficient_role``;
* too many failures from the source address - 429 with ``Retry-After`` (RFC 6585 §4).

Every answer is RFC 9457 problem+json (``api/errors.py``). ``require_operator()`` with no role
admits any active operator; with roles, an operator needs at least one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.context import AppContext
from api.deps import Ctx
from api.errors import ProblemHTTPException
from core.operators import (
    AuthenticationFailed,
    Operator,
    OperatorRole,
    OperatorService,
    RequestInfo,
    TooManyFailures,
)

__all__ = ["REALM", "AnyOperator", "operator_service", "require_operator"]

#: The protection space named in ``WWW-Authenticate`` (RFC 9110 §11.5).
REALM = "natid-admin"

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="OperatorToken",
    description="An operator token from `natid operator add` (natid_op_...).",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def operator_service(ctx: AppContext) -> OperatorService:
    """The operator service on the application's database, ledger, clock and cache."""
    return OperatorService(ctx.sessions, ledger=ctx.ledger, clock=ctx.clock, cache=ctx.cache)


def _unauthorized(detail: str, error: str | None) -> ProblemHTTPException:
    challenge = f'Bearer realm="{REALM}"'
    if error is not None:
        challenge += f', error="{error}"'
    return ProblemHTTPException(
        401,
        code=error or "missing_token",
        detail=detail,
        headers={"WWW-Authenticate": challenge},
    )


def _request_info(request: Request) -> RequestInfo:
    # The route template (/admin/v1/operators/{id}), never the concrete path with its ids.
    route = getattr(request.scope.get("route"), "path", "unmatched")
    return RequestInfo(
        method=request.method,
        route=str(route),
        source=request.client.host if request.client else None,
        request_id=getattr(request.state, "request_id", None),
    )


def require_operator(*roles: OperatorRole | str) -> Callable[..., Operator]:
    """A dependency that returns the authenticated operator holding one of ``roles``.

    Role names are checked here, when the route is declared, so a misspelt role fails at
    import time instead of locking everyone out at run time.
    """
    wanted = frozenset(OperatorRole(role) for role in roles)

    def authenticated_operator(request: Request, ctx: Ctx, credentials: Credentials) -> Operator:
        if credentials is None:
            raise _unauthorized("this endpoint needs an operator token (Bearer)", None)
        try:
            return operator_service(ctx).authenticate(
                credentials.credentials, roles=wanted, request=_request_info(request)
            )
        except AuthenticationFailed as exc:
            raise _unauthorized(exc.message, "invalid_token") from exc
        except TooManyFailures as exc:
            raise ProblemHTTPException(
                429,
                code=exc.code,
                detail=exc.message,
                headers={"Retry-After": str(exc.retry_after)},
            ) from exc

    return authenticated_operator


#: Any active operator, whatever their roles.
AnyOperator = Annotated[Operator, Depends(require_operator())]
