"""The consent page, ``GET/POST /consent?pending=..`` (OIDC Core §3.1.2.4), in Khmer and English.

Included by :mod:`api.routers.idp_login` (whose router ``api/app.py`` mounts).

The page names the client and lists, in plain words, each requested scope and each claim the
``claims`` parameter asks for by name (OIDC Core §5.5) that no requested scope already covers.
``openid`` and essential claims (§5.5.1) are fixed; everything else is a ticked box the citizen
may untick. Claims that are not personal data (``acr``, ``auth_time``) are not listed and are
allowed; a claim a scope covers is allowed with that scope.

* Allow -> :meth:`idp.consents.Consents.grant` (a year; the unticked items are recorded as
  refused and dropped from an earlier consent), audited ``idp.consent.granted``, then 303 to
  ``/authorize/continue?pending=..&consented=1``, where the code is issued for the consented
  subset only.
* Deny -> ``idp.consent.denied`` (ids, scope and claim names only), the pending request is
  dropped, and 303 to the client's redirect URI with ``error=access_denied``, ``state`` and
  ``iss`` (RFC 6749 §4.1.2.1, RFC 9207).

Without a login session the page sends the browser to ``/login`` first.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse

from api.idp_web import (
    PageError,
    PageRoute,
    check_csrf,
    consents,
    context_of,
    continue_url,
    current_session,
    page_language,
    page_url,
    pending_request,
    pending_store,
    render,
    see_other,
)
from api.routers.idp_text import claim_words, scope_words
from idp.authorize import AuthorizationRequest, error_redirect_url
from idp.claims import CLAIMS_BY_SCOPE
from idp.consents import DEFAULT_LIFETIME

__all__ = ["router"]

router = APIRouter(tags=["idp"], route_class=PageRoute)

_KNOWN_CLAIMS = frozenset(name for names in CLAIMS_BY_SCOPE.values() for name in names)
Short = Annotated[str, Form(max_length=128)]


def _implied_claims(scopes: tuple[str, ...] | frozenset[str] | set[str]) -> set[str]:
    return {name for scope in scopes for name in CLAIMS_BY_SCOPE.get(scope, ())}


def _shown_claims(auth: AuthorizationRequest) -> tuple[list[str], set[str]]:
    """The claims the page lists (known personal data not implied by a requested scope, and
    every essential one) and the essential ones."""
    essential = set(auth.essential_claims) & _KNOWN_CLAIMS
    implied = _implied_claims(auth.scopes)
    shown = [
        name
        for name in auth.requested_claim_names
        if name in _KNOWN_CLAIMS and (name in essential or name not in implied)
    ]
    return shown, essential


def _consent_items(auth: AuthorizationRequest, lang: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for i, scope in enumerate(dict.fromkeys(auth.scopes)):
        items.append({
            "kind": "scope", "name": scope, "fixed": scope == "openid", "id": f"scope-{i}",
            "words": scope_words(scope, lang),
        })  # fmt: skip
    shown, essential = _shown_claims(auth)
    for i, name in enumerate(shown):
        items.append({
            "kind": "claim", "name": name, "fixed": name in essential, "id": f"claim-{i}",
            "words": claim_words(name, lang),
        })  # fmt: skip
    return items


def _consent_context(request: Request, pending: str | None, lang: str | None) -> tuple[
    AuthorizationRequest, str, Any
]:  # fmt: skip
    auth = pending_request(request, pending)
    if auth is None:
        raise PageError("pending_unknown", status=400)
    return auth, page_language(request, lang, auth), current_session(request)


@router.get("/consent", response_class=HTMLResponse, summary="The consent page")
def consent_form(
    request: Request,
    *,
    pending: Annotated[str | None, Query(max_length=128)] = None,
    lang: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    auth, chosen, session = _consent_context(request, pending, lang)
    if session is None:
        return see_other(page_url("/login", lang=lang, pending=pending))
    context = {
        "client_name": auth.client_name,
        "items": _consent_items(auth, chosen),
        "pending": pending,
    }
    return render(request, "consent.html", context, lang=chosen)


@router.post("/consent", response_class=HTMLResponse, summary="Allow or deny a client")
def consent_submit(
    request: Request,
    *,
    decision: Short = "",
    scope: Annotated[list[str] | None, Form(max_length=100)] = None,
    claim: Annotated[list[str] | None, Form(max_length=100)] = None,
    csrf_token: Short = "",
    pending: Short = "",
    lang: Short = "",
) -> Response:
    check_csrf(request, csrf_token)
    auth, _chosen, session = _consent_context(request, pending, lang)
    if session is None:
        return see_other(page_url("/login", lang=lang, pending=pending))
    if decision not in {"allow", "deny"}:
        raise PageError("bad_request", status=400)
    ctx = context_of(request)
    now = ctx.clock.now()
    requested_claims = set(auth.requested_claim_names)
    if decision == "deny":
        ctx.ledger.append(
            "idp.consent.denied",
            actor=session.account_id,
            subject=auth.client_id,
            data={"scopes": list(auth.scopes), "claims": sorted(requested_claims)},
        )
        pending_store(request).delete(pending)
        description = "the user refused to share the requested information"
        return see_other(
            error_redirect_url(auth, "access_denied", description, issuer=ctx.idp_core().issuer)
        )
    optional_scopes = set(auth.scopes) - {"openid"}
    scopes = {"openid"} | (set(scope or ()) & optional_scopes)
    shown, essential = _shown_claims(auth)
    ticked = set(claim or ())
    allowed = essential | {n for n in shown if n in ticked}
    # A claim the page did not list is either named by a requested scope (allowed with that
    # scope) or not personal data at all (``acr``, ``auth_time``: allowed).
    implied = _implied_claims(scopes)
    for name in requested_claims - set(shown):
        if name not in _KNOWN_CLAIMS or name in implied:
            allowed.add(name)
    consents(request).grant(
        session.account_id,
        auth.client_id,
        scopes,
        allowed,
        at=now,
        lifetime=DEFAULT_LIFETIME,
        refused_scopes=optional_scopes - scopes,
        refused_claims=requested_claims - allowed,
    )
    return see_other(continue_url(pending, consented=True))
