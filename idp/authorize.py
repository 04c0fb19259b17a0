"""The authorization endpoint's decisions (OIDC Core §3.1.2.2-§3.1.2.6, RFC 6749 §4.1.2,
RFC 9207): pending requests, login / step-up / consent, issuing the code, error redirects.

* :class:`~idp.authz_pending.PendingAuthorizations` (re-exported here) keeps a validated
  request while the user logs in and consents, with a marker of the browser's login session
  when the request arrived, so a login made after the request is recognised.
* :meth:`AuthorizationService.decide` is the decision of OIDC Core §3.1.2.3-§3.1.2.4, in order:
  (1) a login is needed when there is no session, when ``prompt=login``,
  ``prompt=select_account`` (the login page is where another account is chosen) or ``max_age``
  ask for one that has not happened since the request, when the session's ``acr`` is below the
  lowest known ``acr_values`` (step-up; only before a login for this request, since
  ``acr_values`` are voluntary and the ID token tells the client what was achieved; an
  essential ``acr`` claim request is a requirement: unmet after a login it is
  ``unmet_authentication_requirements``), or when an ``id_token_hint`` names another user;
  (2) consent is needed when ``prompt=consent`` was not answered for this request or the
  stored consent does not cover the scopes and claims; with ``prompt=none`` each of these is
  an error redirect (``login_required``, ``consent_required``); (3) otherwise the code is
  issued for the consented subset.
* :meth:`AuthorizationService.issue_code` issues the code (:mod:`idp.codes`) for the PERSON id
  (the token service derives the pairwise ``sub``), with the session's id as ``sid``, its
  ``acr``, ``amr`` and ``auth_time``, the request's ``nonce``, ``claims`` (narrowed to the
  consented claims) and ``dpop_jkt``; consumes the PAR ``request_uri``; records the client on
  the session (for logout); audits ``idp.authorization.granted``. The redirect carries ``code``,
  ``state`` and ``iss`` (RFC 9207 §2).
* :func:`error_redirect_url` is the error response (RFC 6749 §4.1.2.1) with ``iss``.

A ``refresh token`` is wanted only when ``offline_access`` is among the granted scopes: the
token endpoint passes ``issue_refresh_token="offline_access" in grant.scopes``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import quote_plus, urlsplit, urlunsplit

from core.audit import AuditLedger
from core.clock import require_aware
from core.errors import NotFound
from idp.authz_pending import (
    PENDING_LIFETIME,
    PendingAuthorization,
    PendingAuthorizations,
    session_marker,
)
from idp.authz_request import (
    AuthorizationError,
    AuthorizationRequest,
    UntrustedRedirect,
    error_code,
    parse_request,
    resolve_client,
)
from idp.codes import AccountFacts
from idp.par import InvalidRequestUri, PushedRequests
from idp.service import ProviderCore
from idp.sessions import LoginSession, LoginSessions, satisfies

__all__ = [
    "PENDING_LIFETIME",
    "AuthorizationError",
    "AuthorizationRequest",
    "AuthorizationService",
    "Decision",
    "PendingAuthorization",
    "PendingAuthorizations",
    "Step",
    "UntrustedRedirect",
    "error_code",
    "error_redirect",
    "error_redirect_url",
    "parse_request",
    "resolve_client",
    "session_marker",
]

#: ``prompt`` values that send the user to the login page even with a session.
_NEW_LOGIN_PROMPTS = frozenset({"login", "select_account"})


# --- the error response -----------------------------------------------------------------------


@lru_cache(maxsize=256)
def _redirect_base(uri: str) -> tuple[str, str]:
    """``uri`` without query and fragment, and its query. A client has a few registered
    redirect URIs, so each is split once per process, not once per response."""
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), parts.query


#: Parameter names and the issuer recur in every redirect: quoted once per process.
_quote_constant = lru_cache(maxsize=64)(quote_plus)


def _add_query(uri: str, params: Mapping[str, str]) -> str:
    # A registered redirect URI may carry a query; ours is appended to it (RFC 6749 §3.1.2).
    # The same string as ``urlunsplit((scheme, netloc, path, query, ""))`` with ``query`` the
    # existing query and ``urlencode(params)`` joined by ``&``: ``urlunsplit`` appends
    # ``"?" + query`` (when not empty) to what it builds from the other parts, and
    # ``urlencode`` of text is ``quote_plus`` of each name and value.
    base, existing = _redirect_base(uri)
    encoded = "&".join(
        _quote_constant(k) + "=" + (_quote_constant(v) if k == "iss" else quote_plus(v))
        for k, v in params.items()
    )
    query = "&".join(p for p in (existing, encoded) if p)
    return base + "?" + query if query else base


def error_redirect(
    redirect_uri: str, error: str, description: str, *, state: str | None, issuer: str
) -> str:
    """The error redirect to a verified ``redirect_uri`` (RFC 6749 §4.1.2.1, RFC 9207 §2)."""
    params = {"error": error, "error_description": description[:300]}
    if state is not None:
        params["state"] = state
    params["iss"] = issuer
    return _add_query(redirect_uri, params)


def error_redirect_url(
    request: AuthorizationRequest, error: str, description: str, *, issuer: str
) -> str:
    """The error redirect back to the client of ``request``, with its ``state`` and ``iss``."""
    return error_redirect(
        request.redirect_uri, error, description, state=request.state, issuer=issuer
    )


def success_redirect(request: AuthorizationRequest, code: str, *, issuer: str) -> str:
    """``redirect_uri?code=..&state=..&iss=..`` (OIDC Core §3.1.2.5, RFC 9207 §2)."""
    params = {"code": code}
    if request.state is not None:
        params["state"] = request.state
    params["iss"] = issuer
    return _add_query(request.redirect_uri, params)


# --- the decision -----------------------------------------------------------------------------


class Step(StrEnum):
    LOGIN = "login"
    CONSENT = "consent"
    ISSUE = "issue"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do next with a request; for ``ISSUE``, the scopes and claims to grant."""

    step: Step
    error: str | None = None
    description: str | None = None
    scopes: tuple[str, ...] = ()
    claim_names: frozenset[str] | None = None
    #: The register's id of the logged-in person (the grant's subject), for ``ISSUE``.
    subject: str | None = None


class GrantedConsentView(Protocol):
    @property
    def scopes(self) -> frozenset[str]: ...

    @property
    def claims(self) -> frozenset[str]: ...

    @property
    def granted_at(self) -> dt.datetime: ...


class ConsentStore(Protocol):
    """What the decision needs of :class:`idp.consents.Consents`."""

    def find(self, account_id: str, client_id: str, *, at: dt.datetime) -> Any: ...

    def covers(
        self,
        account_id: str,
        client_id: str,
        scopes: Collection[str],
        claim_names: Collection[str],
        *,
        at: dt.datetime,
    ) -> bool: ...


class AccountLookup(Protocol):
    """What the decision needs of :class:`idp.accounts.AccountService`."""

    def get(self, account_id: str) -> Any: ...


def _error(error: str, description: str) -> Decision:
    return Decision(Step.ERROR, error=error, description=description)


class AuthorizationService:
    """Decides and completes authorization requests (the routes do the HTTP)."""

    def __init__(
        self,
        core: ProviderCore,
        *,
        accounts: AccountLookup,
        login_sessions: LoginSessions,
        consents: ConsentStore,
        pushed: PushedRequests,
        ledger: AuditLedger,
    ) -> None:
        self.core = core
        self._accounts = accounts
        self._login_sessions = login_sessions
        self._consents = consents
        self.pushed = pushed
        self._ledger = ledger

    def _subject_matches(self, request: AuthorizationRequest, person_id: str) -> bool:
        if request.id_token_hint_sub is None:
            return True
        client = self.core.clients.get(request.client_id)
        return self.core.tokens.subject_for(client, person_id) == request.id_token_hint_sub

    def _needs_login(
        self, request: AuthorizationRequest, session: LoginSession, fresh: bool, at: dt.datetime
    ) -> str | None:
        """Why a (new) login is needed, or None."""
        if fresh:
            return None
        # OIDC Core §3.1.2.1: prompt=select_account SHOULD let the user select an account. A
        # browser holds one person's session here, so the choice is the login page, as for
        # prompt=login: whoever signs in there is the account used (/login ends the session
        # of another account first).
        asked = request.prompt & _NEW_LOGIN_PROMPTS
        if asked:
            return f"the client asks for a new login (prompt={' '.join(sorted(asked))})"
        if request.max_age is not None and not satisfies(
            session, acr_values=None, max_age=request.max_age, at=at
        ):
            return "the last login is older than max_age"
        if not satisfies(session, acr_values=request.acr_values, max_age=None, at=at):
            return "the requested level of assurance needs a stronger login"
        if not self._essential_acr_met(request, session, at):
            return "the essential acr claim needs a stronger login"
        return None

    @staticmethod
    def _essential_acr_met(
        request: AuthorizationRequest, session: LoginSession, at: dt.datetime
    ) -> bool:
        wanted = request.essential_acr_values
        return not wanted or satisfies(session, acr_values=wanted, max_age=None, at=at)

    def decide(
        self,
        request: AuthorizationRequest,
        *,
        session: LoginSession | None,
        logged_in_since_request: bool,
        consent_given_now: bool,
        at: dt.datetime,
    ) -> Decision:
        """The next step for ``request`` (see the module docstring)."""
        at = require_aware(at)
        silent = "none" in request.prompt
        person_id = self._person_id(session)
        if session is None or person_id is None:
            reason: str | None = "the user is not logged in"
        else:
            reason = self._needs_login(request, session, logged_in_since_request, at)
            if reason is None and not self._subject_matches(request, person_id):
                if logged_in_since_request:
                    return _error("login_required", "the user is not the one of id_token_hint")
                reason = "id_token_hint names another user"
        if reason is not None:
            return _error("login_required", reason) if silent else Decision(Step.LOGIN)
        assert session is not None and person_id is not None
        if not self._essential_acr_met(request, session, at):
            # A login for this request happened and still did not reach an essential acr:
            # a failed authentication (OIDC Core §5.5.1.1; the error code of OpenID Connect
            # Core Unmet Authentication Requirements 1.0).
            return _error(
                "unmet_authentication_requirements",
                "the login did not reach the essential level of assurance",
            )
        # The subject goes into an ISSUE decision as it is built (no ``dataclasses.replace``).
        return self._consent_step(
            request,
            session.account_id,
            consent_given_now,
            silent,
            at,
            subject=person_id,
            carried=session.consent,
        )

    def _person_id(self, session: LoginSession | None) -> str | None:
        """The person id of the session's account when it is active, else None. The account
        read with the session (:mod:`idp.session_reads`, the same statement) answers it; a
        session without one (ORM path, just started, account row missing) reads it here."""
        if session is None:
            return None
        account: Any = session.account
        if account is None:
            try:
                account = self._accounts.get(session.account_id)
            except NotFound:
                return None
        if str(getattr(account, "status", "active")) != "active":
            return None
        return str(account.person_id)

    def _consent_step(
        self,
        request: AuthorizationRequest,
        account_id: str,
        answered: bool,
        silent: bool,
        at: dt.datetime,
        *,
        subject: str,
        carried: tuple[str, Any] | None = None,
    ) -> Decision:
        wanted = request.requested_claim_names
        if not answered and carried is not None and carried[0] == request.client_id:
            # Read with the session, in the same statement (idp/session_reads.py). Never once
            # the consent page was answered: that consent was granted after the session read.
            consent = carried[1]
        else:
            consent = self._consents.find(account_id, request.client_id, at=at)
        if answered and consent is not None and consent.granted_at >= request.created_at:
            # The user has just answered the consent page for this very request: grant what
            # they allowed (RFC 6749 §3.3: the granted scope may be narrower than asked).
            scopes = tuple(s for s in request.scopes if s in consent.scopes or s == "openid")
            return Decision(
                Step.ISSUE, scopes=scopes, claim_names=frozenset(consent.claims), subject=subject
            )
        # The consent found above answers ``covers`` too (one read of the row, not two).
        if (
            "consent" not in request.prompt
            and consent is not None
            and consent.covers(request.scopes, wanted)
        ):
            return Decision(
                Step.ISSUE, scopes=request.scopes, claim_names=frozenset(wanted), subject=subject
            )
        if silent:
            return _error("consent_required", "the user has not consented to this request")
        return Decision(Step.CONSENT)

    # --- completing ---------------------------------------------------------------------------

    def issue_code(
        self, request: AuthorizationRequest, decision: Decision, *, session: LoginSession,
        at: dt.datetime,
    ) -> str:  # fmt: skip
        """Issue the code for an ``ISSUE`` decision; returns the redirect URL to the client."""
        at = require_aware(at)
        if decision.step is not Step.ISSUE or decision.subject is None:
            raise ValueError("issue_code needs an ISSUE decision")
        if request.request_uri is not None:
            try:
                self.pushed.consume(request.request_uri, at=at)
            except InvalidRequestUri as exc:
                return self.deny(request, "invalid_request_uri", exc.description, at=at)
        code = self.core.codes.issue(
            client_id=request.client_id,
            redirect_uri=request.redirect_uri,
            subject=decision.subject,
            scopes=decision.scopes,
            code_challenge=request.code_challenge,
            code_challenge_method="S256",
            auth_time=session.auth_time,
            at=at,
            nonce=request.nonce,
            acr=session.acr.value,
            amr=session.amr,
            sid=session.id,
            claims=_grant_claims(request, decision.claim_names),
            dpop_jkt=request.dpop_jkt,
            account=_account_facts(session),
        )
        if request.client_id not in session.clients:
            # The session was read (live) for this request; a client it already lists needs
            # no second read and write of it.
            self._login_sessions.add_client(session.id, request.client_id, at=at)
        # With the token's write (core/audit.py, "Soon"): the code is of no use before /token,
        # whose transaction records this entry first.
        self._ledger.append_soon(
            "idp.authorization.granted",
            actor=session.account_id,
            subject=request.client_id,
            data={
                "sid": session.id,
                "scope": " ".join(decision.scopes),
                "acr": session.acr.value,
                "par": request.request_uri is not None,
            },
        )
        return success_redirect(request, code, issuer=self.core.issuer)

    def deny(
        self,
        request: AuthorizationRequest,
        error: str,
        description: str,
        *,
        at: dt.datetime,
        account_id: str | None = None,
    ) -> str:
        """Audit ``idp.authorization.denied`` and return the error redirect."""
        require_aware(at)
        self._ledger.append(
            "idp.authorization.denied",
            actor=account_id,
            subject=request.client_id,
            data={"error": error},
        )
        return error_redirect_url(request, error, description, issuer=self.core.issuer)


#: The member of a grant's ``claims`` under which the request's ``claims_locales`` travel to
#: the token and UserInfo endpoints (``api.routers.oidc_token.CLAIMS_LOCALES_KEY``).
CLAIMS_LOCALES_KEY = "claims_locales"


def _account_facts(session: LoginSession) -> AccountFacts | None:
    """What the code exchange's claims need of the session's account, when the account came
    with the session (idp/codes.py); None has the exchange read the account itself."""
    account = session.account
    if account is None:
        return None
    return AccountFacts(account.email_verified, account.phone_verified, account.operator_id)


def _grant_claims(
    request: AuthorizationRequest, allowed: frozenset[str] | None
) -> Mapping[str, Any] | None:
    """The ``claims`` request without the claims the user did not consent to, plus the
    request's ``claims_locales`` (OIDC Core §5.2)."""
    narrowed: dict[str, Any] = {}
    for target, members in (request.claims or {}).items():
        if target not in {"userinfo", "id_token"}:
            continue
        if isinstance(members, Mapping) and allowed is not None:
            narrowed[target] = {k: v for k, v in members.items() if k in allowed}
        else:
            narrowed[target] = members
    if request.claims_locales:
        narrowed[CLAIMS_LOCALES_KEY] = list(request.claims_locales)
    return narrowed or None
