"""The citizen's account area, passkey login and certificate login (issue 4), Khmer and English.

Account pages (a live login session is required; without one: 303 to ``/login``):

* ``GET /account`` - overview; ``GET /account/sessions`` and ``POST /account/sessions/end``
  (ending the current session logs this browser out); ``GET /account/security`` - password,
  TOTP (``POST /account/totp`` starts an enrolment and shows the QR code as inline SVG, no
  JavaScript; ``POST /account/totp/confirm`` takes the first code and shows the recovery codes
  once), passkeys (``POST /account/passkeys/options`` JSON, ``POST /account/passkeys`` stores
  the browser's answer, ``POST /account/passkeys/remove``); ``GET /account/certificates`` (the
  CA's records for the person and their civil-servant positions, with each certificate's
  transparency-log entry); ``GET /account/logins`` (:mod:`idp.login_history`);
  ``GET /account/consents`` and ``POST /account/consents/withdraw``.
* Changing a sign-in method needs a recent login (:data:`FRESH_LOGIN`), and once the account
  has a second factor, a session whose ``amr`` has ``mfa``: a stolen password alone must not
  be able to add the thief's passkey.

Logins (each ends like ``/login``: the session is started or stepped up, then 303 to
``/authorize/continue?pending=..`` or ``/account``):

* ``GET /login/passkey``, ``POST /login/passkey/options`` (JSON), ``POST /login/passkey`` -
  discoverable-credential login (:mod:`idp.passkeys`); the page's script
  (``/static/idp/js/passkey.js``) is the only JavaScript and fills a normal form.
* ``GET /login/certificate``, ``POST /login/certificate`` - the TLS client certificate that the
  proxy forwards in ``NATID_CLIENT_CERT_HEADER`` (default ``X-Client-Cert``), read only when the
  connection comes from an address in ``NATID_TRUSTED_PROXIES`` (default ``127.0.0.1/32`` and
  ``::1/128``); anywhere else the header is ignored (a browser could send one itself).

Every POST checks the CSRF token first. No page or log line shows an ID card number. Times
are shown in Cambodia time (Asia/Phnom_Penh, UTC+7) and say so, and a Khmer page writes its
numbers with Khmer digits (:mod:`api.page_format`); a session's device is named by its browser
and platform (:mod:`api.user_agents`); codes typed with Khmer digits are read as ASCII digits
(:mod:`api.digits`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from api.digits import ascii_digits
from api.idp_web import (
    PAGE_HEADERS,
    STATIC_DIR,
    PageRoute,
    check_csrf,
    clear_session_cookie,
    client_ip,
    consents,
    context_of,
    current_session,
    end_login_session,
    finish_login,
    login_sessions,
    render,
    safe_next,
)
from api.idp_web import form_language as _lang
from api.routers.idp_account_text import account_texts
from api.routers.idp_text import claim_words, scope_words
from api.routers.kyc_pages import pending_kyc_requests
from api.user_agents import parse_user_agent
from ca.store import IssuedCertificate
from idp.account_models import AuthenticatorKind
from idp.account_records import LoginResult
from idp.certlogin import CertificateLogin, CertificateRefused, parse_forwarded_certificate
from idp.claims import CLAIMS_BY_SCOPE
from idp.errors import (
    AccountNotActive,
    AuthenticatorError,
    ClientNotFound,
    LoginFailed,
    SessionNotFound,
)
from idp.login_history import LoginHistory
from idp.passkeys import Passkeys, RelyingParty
from idp.sessions import LoginSession
from idp.totp import qr_svg

if TYPE_CHECKING:
    from idp.consents import GrantedConsent

__all__ = ["DEFAULT_CLIENT_CERT_HEADER", "FRESH_LOGIN", "router"]

router = APIRouter(tags=["idp"], route_class=PageRoute)

FRESH_LOGIN: Final = dt.timedelta(minutes=15)
DEFAULT_CLIENT_CERT_HEADER: Final = "X-Client-Cert"
_SCRIPT = STATIC_DIR / "passkey.js"
_NOTICES = frozenset(
    {"session_ended", "passkey_added", "passkey_removed", "passkey_failed", "withdrawn"}
)

_PENDING_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")

Short = Annotated[str, Form(max_length=128)]
Lang = Annotated[str | None, Query(max_length=8)]
#: ``next``: where a login for one of NatID's own pages returns (a local path; ``safe_next``).
NextPath = Annotated[str | None, Query(max_length=512)]
NextForm = Annotated[str, Form(max_length=512)]


# --- helpers ------------------------------------------------------------------------------------


def device_name(user_agent: str | None, lang: str) -> str:
    """A session's device as people recognise it ("Chrome on Android"), from its
    ``User-Agent`` (:mod:`api.user_agents`)."""
    words = account_texts(lang)
    device = parse_user_agent(user_agent)
    if device.browser is None:
        if device.platform is None:
            return words["unknown_browser"]
        return words["unknown_browser_on"].format(platform=device.platform)
    if device.platform is None:
        return device.browser
    return words["device_on"].format(browser=device.browser, platform=device.platform)


def shared_words(consent: GrantedConsent, lang: str) -> list[str]:
    """What a consent lets the service see, in the consent page's plain words: each scope
    (``openid`` first), then each claim given by name that no consented scope covers."""
    scopes = sorted(consent.scopes, key=lambda scope: (scope != "openid", scope))
    covered = {claim for scope in consent.scopes for claim in CLAIMS_BY_SCOPE.get(scope, ())}
    claims = sorted(set(consent.claims) - covered)
    return [scope_words(s, lang) for s in scopes] + [claim_words(c, lang) for c in claims]


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def _page(
    request: Request, template: str, lang: str, status: int = 200, **values: Any
) -> HTMLResponse:
    values.setdefault("notice", None)
    values.setdefault("error", None)
    context: Mapping[str, Any] = {"w": account_texts(lang), **values}
    return render(request, template, context, lang=lang, status=status)


def _notice(value: str | None) -> str | None:
    return value if value in _NOTICES else None


def _pending(value: str | None) -> str:
    """A ``pending`` id passed through to ``/authorize/continue`` (shape only; F checks it)."""
    if value and len(value) <= 64 and set(value) <= _PENDING_CHARS:
        return value
    return ""


def _finish_login(
    request: Request, result: LoginResult, pending: str, next_path: str = ""
) -> Response:
    """Start or step up the login session exactly like ``/login`` does (then on to the
    authorization request, or to ``next`` - a path on this site - for NatID's own pages)."""
    return finish_login(request, result, pending or None, next_path=safe_next(next_path))


def _next(value: str | None) -> str:
    """``next`` when it is a path on this site (see ``safe_next``), else ``""``."""
    return safe_next(value) or ""


def _passkeys(request: Request) -> Passkeys:
    ctx = context_of(request)
    return Passkeys(
        ctx.sessions,
        cache=ctx.cache,
        ledger=ctx.ledger,
        register=ctx.register,
        relying_party=RelyingParty.from_base_url(ctx.settings.public_base_url),
    )


def _person_name(request: Request, account_id: str, lang: str) -> str:
    person = context_of(request).idp_accounts().claims_subject(account_id).person
    return person.name_km if lang == "km" else person.name_latin


def _fresh(session: LoginSession, request: Request, *, has_second_factor: bool) -> bool:
    """May this session change sign-in methods? (module docstring)."""
    recent = context_of(request).clock.now() - session.auth_time <= FRESH_LOGIN
    return recent and (not has_second_factor or "mfa" in session.amr)


def _script_url() -> str:
    return f"/static/idp/js/passkey.js?v={_script()[1]}"


@functools.cache
def _script() -> tuple[bytes, str]:
    data = _SCRIPT.read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:16]


# --- overview, sessions ---------------------------------------------------------------------------


@router.get("/account", response_class=HTMLResponse, summary="The account overview")
def overview(request: Request, lang: Lang = None) -> Response:
    session = current_session(request)
    if session is None:
        return _see_other("/login")
    chosen = _lang(request, lang)
    ctx = context_of(request)
    now = ctx.clock.now()
    return _page(
        request,
        "account.html",
        chosen,
        section="overview",
        name=_person_name(request, session.account_id, chosen),
        session=session,
        sessions=len(login_sessions(request).list_for_account(session.account_id, at=now)),
        passkeys=len(_passkeys(request).list_for_account(session.account_id)),
        certificates=len(_certificates(request, session.account_id)),
        kyc_pending=pending_kyc_requests(request, session.account_id),
    )


@router.get("/account/sessions", response_class=HTMLResponse, summary="My active sessions")
def sessions_page(request: Request, lang: Lang = None, done: str | None = None) -> Response:
    session = current_session(request)
    if session is None:
        return _see_other("/login")
    chosen = _lang(request, lang)
    now = context_of(request).clock.now()
    listed = login_sessions(request).list_for_account(session.account_id, at=now)
    return _page(
        request,
        "account_sessions.html",
        chosen,
        section="sessions",
        sessions=listed,
        devices={s.id: device_name(s.user_agent, chosen) for s in listed},
        current_id=session.id,
        notice=_notice(done),
    )


@router.post("/account/sessions/end", summary="End one of my sessions")
def end_session(
    request: Request, *, session_id: Short = "", csrf_token: Short = "", lang: Short = ""
) -> Response:
    check_csrf(request, csrf_token)
    session = current_session(request)
    if session is None:
        return _see_other("/login")
    ctx = context_of(request)
    sessions = login_sessions(request)
    target = next(
        (s for s in sessions.list_for_account(session.account_id, at=ctx.clock.now())
         if s.id == session_id),
        None,
    )  # fmt: skip
    suffix = f"&lang={lang}" if lang in {"km", "en"} else ""
    if target is None:
        return _see_other(f"/account/sessions?done=session_ended{suffix}")
    with contextlib.suppress(SessionNotFound):
        end_login_session(request, target, reason="ended_by_holder", account_id=session.account_id)
    if target.id == session.id:
        response = _see_other("/login")
        clear_session_cookie(response, ctx.settings)
        return response
    return _see_other(f"/account/sessions?done=session_ended{suffix}")


# --- security: password, TOTP, passkeys ---------------------------------------------------------


def _security_state(request: Request, account_id: str) -> dict[str, Any]:
    accounts = context_of(request).idp_accounts()
    authenticators = accounts.authenticators(account_id)
    password = next((a for a in authenticators if a.kind is AuthenticatorKind.PASSWORD), None)
    totp = accounts.totp.status(account_id)
    passkeys = _passkeys(request).list_for_account(account_id)
    return {
        "password": password,
        "totp": totp,
        "passkeys": passkeys,
        "has_second_factor": totp.enrolled or bool(passkeys),
    }


@router.get("/account/security", response_class=HTMLResponse, summary="My sign-in methods")
def security_page(request: Request, lang: Lang = None, done: str | None = None) -> Response:
    session = current_session(request)
    if session is None:
        return _see_other("/login")
    chosen = _lang(request, lang)
    state = _security_state(request, session.account_id)
    return _page(
        request,
        "account_security.html",
        chosen,
        section="security",
        fresh=_fresh(session, request, has_second_factor=state["has_second_factor"]),
        notice=_notice(done),
        script=_script_url(),
        **state,
    )


def _guarded(request: Request, csrf_token: str, lang: str) -> tuple[LoginSession, str] | Response:
    """The session for a sign-in-method change, or the response to send instead."""
    check_csrf(request, csrf_token)
    session = current_session(request)
    if session is None:
        return _see_other("/login")
    chosen = _lang(request, lang)
    state = _security_state(request, session.account_id)
    if not _fresh(session, request, has_second_factor=state["has_second_factor"]):
        return _page(
            request, "account_security.html", chosen, 403, section="security", fresh=False,
            script=_script_url(), error=account_texts(chosen)["reauth_needed"], **state,
        )  # fmt: skip
    return session, chosen


@router.post("/account/totp", response_class=HTMLResponse, summary="Start a TOTP enrolment")
def totp_start(request: Request, *, csrf_token: Short = "", lang: Short = "") -> Response:
    guarded = _guarded(request, csrf_token, lang)
    if isinstance(guarded, Response):
        return guarded
    session, chosen = guarded
    ctx = context_of(request)
    person = ctx.idp_accounts().claims_subject(session.account_id).person
    enrolment = ctx.idp_accounts().totp.begin(
        session.account_id, account_name=person.name_latin, at=ctx.clock.now(),
        actor=session.account_id,
    )  # fmt: skip
    return _page(
        request, "account_totp.html", chosen, section="security",
        authenticator_id=enrolment.authenticator_id, qr=qr_svg(enrolment.uri),
        secret=" ".join(enrolment.secret[i : i + 4] for i in range(0, len(enrolment.secret), 4)),
    )  # fmt: skip


@router.post("/account/totp/confirm", response_class=HTMLResponse, summary="Confirm TOTP")
def totp_confirm(
    request: Request,
    *,
    authenticator_id: Short = "",
    code: Annotated[str, Form(max_length=16)] = "",
    csrf_token: Short = "",
    lang: Short = "",
) -> Response:
    guarded = _guarded(request, csrf_token, lang)
    if isinstance(guarded, Response):
        return guarded
    session, chosen = guarded
    ctx = context_of(request)
    try:
        codes = ctx.idp_accounts().totp.confirm(
            session.account_id, authenticator_id, "".join(ascii_digits(code).split()),
            at=ctx.clock.now(),
            actor=session.account_id,
        )  # fmt: skip
    except AuthenticatorError as exc:
        words = account_texts(chosen)
        expired = exc.code == "no_pending_enrolment"
        return _page(
            request, "account_totp.html", chosen, 400, section="security",
            authenticator_id=None if expired else authenticator_id, qr=None, secret=None,
            error=words["totp_expired" if expired else "totp_mismatch"],
        )  # fmt: skip
    return _page(request, "account_recovery.html", chosen, section="security", codes=codes)


@router.post("/account/passkeys/options", summary="Options to register a passkey (JSON)")
def passkey_registration_options(request: Request, *, csrf_token: Short = "") -> Response:
    guarded = _guarded(request, csrf_token, "")
    if isinstance(guarded, Response):
        return JSONResponse({"error": "login_required"}, status_code=403)
    session, _ = guarded
    person = context_of(request).idp_accounts().claims_subject(session.account_id).person
    options = _passkeys(request).registration_options(
        session.account_id, user_name=person.name_latin, display_name=person.name_latin
    )
    return Response(options, media_type="application/json", headers=dict(PAGE_HEADERS))


@router.post("/account/passkeys", summary="Register a passkey")
def passkey_register(
    request: Request,
    *,
    credential: Annotated[str, Form(max_length=65536)] = "",
    label: Annotated[str, Form(max_length=100)] = "",
    csrf_token: Short = "",
    lang: Short = "",
) -> Response:
    guarded = _guarded(request, csrf_token, lang)
    if isinstance(guarded, Response):
        return guarded
    session, chosen = guarded
    try:
        _passkeys(request).register(
            session.account_id, credential, label=label, at=context_of(request).clock.now(),
            actor=session.account_id,
        )  # fmt: skip
        done = "passkey_added"
    except AuthenticatorError:
        done = "passkey_failed"
    return _see_other(f"/account/security?done={done}&lang={chosen}")


@router.post("/account/passkeys/remove", summary="Remove a passkey")
def passkey_remove(
    request: Request, *, authenticator_id: Short = "", csrf_token: Short = "", lang: Short = ""
) -> Response:
    guarded = _guarded(request, csrf_token, lang)
    if isinstance(guarded, Response):
        return guarded
    session, chosen = guarded
    with contextlib.suppress(AuthenticatorError):
        _passkeys(request).remove(session.account_id, authenticator_id, actor=session.account_id)
    return _see_other(f"/account/security?done=passkey_removed&lang={chosen}")


# --- certificates, logins, consents -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CertificateView:
    """A certificate as the account page lists it."""

    cert: IssuedCertificate
    #: ``good``, ``revoked``, ``on_hold`` or ``expired``.
    status: str
    #: Its transparency-log entry's index, None if it is not in the log.
    leaf_index: int | None


def _certificates(request: Request, account_id: str) -> list[CertificateView]:
    """The certificates the CA issued to the account's person and their positions, newest
    first, each with its transparency-log entry (``CAService.list`` and
    ``TransparencyLog.entries_for_subject``: no new CA query was needed)."""
    ctx = context_of(request)
    person_id = ctx.idp_accounts().get(account_id).person_id
    subjects = [person_id, *(s.id for s in ctx.register.servants_of_person(person_id))]
    ca = ctx.ca()
    log = ca.transparency_log
    now = ctx.clock.now()
    found: list[CertificateView] = []
    for subject in subjects:
        # The log names the issuer by its DN (ca/transparency.py), the CA records by name.
        logged: dict[tuple[str, str], int] = {}
        if log is not None:
            entries = log.entries_for_subject(subject)
            logged = {(e.issuer, e.serial_hex): e.leaf_index for e in entries}
        for cert in ca.list(subject_id=subject, limit=100):
            status = cert.status.value
            if status == "good" and now > cert.not_after:
                status = "expired"
            found.append(
                CertificateView(
                    cert,
                    status,
                    logged.get((cert.certificate.issuer.rfc4514_string(), cert.serial_hex)),
                )
            )
    found.sort(key=lambda item: item.cert.issued_at, reverse=True)
    return found


@router.get("/account/certificates", response_class=HTMLResponse, summary="My certificates")
def certificates_page(request: Request, lang: Lang = None) -> Response:
    session = current_session(request)
    if session is None:
        return _see_other("/login")
    chosen = _lang(request, lang)
    return _page(
        request, "account_certificates.html", chosen, section="certificates",
        certificates=_certificates(request, session.account_id),
    )  # fmt: skip


@router.get("/account/logins", response_class=HTMLResponse, summary="My recent logins")
def logins_page(request: Request, lang: Lang = None) -> Response:
    session = current_session(request)
    if session is None:
        return _see_other("/login")
    chosen = _lang(request, lang)
    history = LoginHistory(context_of(request).sessions).recent(session.account_id, limit=30)
    return _page(request, "account_logins.html", chosen, section="logins", logins=history)


@router.get("/account/consents", response_class=HTMLResponse, summary="Consents I gave")
def consents_page(request: Request, lang: Lang = None, done: str | None = None) -> Response:
    session = current_session(request)
    if session is None:
        return _see_other("/login")
    chosen = _lang(request, lang)
    ctx = context_of(request)
    given = consents(request).list_for_account(session.account_id, at=ctx.clock.now())
    names = {}
    for consent in given:
        try:
            names[consent.client_id] = (
                ctx.idp_core().clients.get(consent.client_id, include_disabled=True).name
            )
        except ClientNotFound:  # a deleted client still shows by its id
            names[consent.client_id] = consent.client_id
    return _page(
        request, "account_consents.html", chosen, section="consents", consents=given,
        names=names, shared={c.client_id: shared_words(c, chosen) for c in given},
        notice=_notice(done),
    )  # fmt: skip


@router.post("/account/consents/withdraw", summary="Withdraw a consent")
def consent_withdraw(
    request: Request, *, client_id: Short = "", csrf_token: Short = "", lang: Short = ""
) -> Response:
    check_csrf(request, csrf_token)
    session = current_session(request)
    if session is None:
        return _see_other("/login")
    ctx = context_of(request)
    now = ctx.clock.now()
    if consents(request).withdraw(session.account_id, client_id, at=now):
        # The site's tokens go with the consent: its refresh tokens ("offline access" too)
        # stop working now, not when they expire.
        person_id = ctx.idp_accounts().get(session.account_id).person_id
        ctx.idp_core().tokens.revoke_grants_where(
            subject=person_id, client_id=client_id, reason="consent_withdrawn", at=now,
            actor=session.account_id,
        )  # fmt: skip
    chosen = _lang(request, lang)
    return _see_other(f"/account/consents?done=withdrawn&lang={chosen}")


# --- passkey login ------------------------------------------------------------------------------


@router.get("/login/passkey", response_class=HTMLResponse, summary="Log in with a passkey")
def passkey_login_page(
    request: Request,
    lang: Lang = None,
    pending: str | None = None,
    next: NextPath = None,  # noqa: A002 - the URL's name
) -> Response:
    chosen = _lang(request, lang)
    return _passkey_login(request, chosen, _pending(pending), next_path=_next(next))


def _passkey_login(
    request: Request, lang: str, pending: str, error: str | None = None, *, next_path: str = ""
) -> Response:
    request.state.pending = pending or None
    return _page(
        request, "passkey_login.html", lang, 401 if error else 200, pending=pending or None,
        error=error, script=_script_url(), quoted=quote(pending, safe=""),
        next_path=next_path, next_quoted=quote(next_path, safe=""),
    )  # fmt: skip


@router.post("/login/passkey/options", summary="Options for a passkey login (JSON)")
def passkey_login_options(request: Request, *, csrf_token: Short = "") -> Response:
    check_csrf(request, csrf_token)
    options = _passkeys(request).authentication_options()
    return Response(options, media_type="application/json", headers=dict(PAGE_HEADERS))


@router.post("/login/passkey", summary="Log in with a passkey")
def passkey_login(
    request: Request,
    *,
    credential: Annotated[str, Form(max_length=65536)] = "",
    csrf_token: Short = "",
    pending: Short = "",
    lang: Short = "",
    next: NextForm = "",  # noqa: A002 - the form field's name
) -> Response:
    check_csrf(request, csrf_token)
    chosen = _lang(request, lang)
    words = account_texts(chosen)
    ctx = context_of(request)
    try:
        result = _passkeys(request).authenticate(
            credential, at=ctx.clock.now(), source=client_ip(request)
        )
    except AccountNotActive:
        return _passkey_login(
            request, chosen, _pending(pending), words["account_not_active"], next_path=_next(next)
        )
    except (LoginFailed, AuthenticatorError):
        return _passkey_login(
            request, chosen, _pending(pending), words["passkey_failed"], next_path=_next(next)
        )
    return _finish_login(request, result, _pending(pending), next)


# --- certificate login --------------------------------------------------------------------------


def _trusted_proxy(request: Request) -> bool:
    """Whether the connection comes from a configured TLS-terminating proxy. The address is
    the peer before any ``X-Forwarded-For`` rewriting when the app recorded it
    (``scope["natid.peer"]``), else the client address the server reports. The networks are
    NATID_TRUSTED_PROXIES as the settings parsed and checked it, once (an empty list trusts
    no proxy, as for the proxy headers in api/app.py)."""
    peer = request.scope.get("natid.peer") or request.scope.get("client")
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(str(peer[0]))
    except ValueError:
        return False  # a Unix socket or a test client's name: no proxy's address
    networks = context_of(request).settings.trusted_proxy_networks
    return any(address in network for network in networks if network.version == address.version)


def _cert_login_page(
    request: Request,
    lang: str,
    pending: str,
    error: str | None = None,
    status: int = 200,
    *,
    next_path: str = "",
) -> Response:
    request.state.pending = pending or None
    return _page(
        request, "account_certlogin.html", lang, status, pending=pending or None, error=error,
        quoted=quote(pending, safe=""), next_path=next_path,
        next_quoted=quote(next_path, safe=""),
    )  # fmt: skip


@router.get("/login/certificate", response_class=HTMLResponse, summary="Certificate login page")
def certificate_login_page(
    request: Request,
    lang: Lang = None,
    pending: str | None = None,
    next: NextPath = None,  # noqa: A002 - the URL's name
) -> Response:
    return _cert_login_page(request, _lang(request, lang), _pending(pending), next_path=_next(next))


@router.post("/login/certificate", summary="Log in with a NatID certificate (level high)")
def certificate_login(
    request: Request,
    *,
    csrf_token: Short = "",
    pending: Short = "",
    lang: Short = "",
    next: NextForm = "",  # noqa: A002 - the form field's name
) -> Response:
    check_csrf(request, csrf_token)
    chosen = _lang(request, lang)
    words = account_texts(chosen)
    ctx = context_of(request)
    header = ctx.settings.client_cert_header or DEFAULT_CLIENT_CERT_HEADER
    value = request.headers.get(header) if _trusted_proxy(request) else None
    try:
        cert = parse_forwarded_certificate(value)
        result = CertificateLogin(
            ctx.sessions, ca=ctx.ca(), register=ctx.register, ledger=ctx.ledger
        ).authenticate(cert, at=ctx.clock.now(), source=client_ip(request))
    except CertificateRefused as exc:
        key = {"no_certificate": "cert_none", "malformed": "cert_none"}.get(
            exc.code, "cert_no_account" if exc.code == "no_account" else "cert_refused"
        )
        return _cert_login_page(
            request, chosen, _pending(pending), words[key], 401, next_path=_next(next)
        )
    except AccountNotActive:
        return _cert_login_page(
            request, chosen, _pending(pending), words["account_not_active"], 403,
            next_path=_next(next),
        )  # fmt: skip
    return _finish_login(request, result, _pending(pending), next)


# --- the script ---------------------------------------------------------------------------------


@router.get("/static/idp/js/passkey.js", include_in_schema=False)
def passkey_script() -> Response:
    data, _version = _script()
    return Response(
        data,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=31536000, immutable",
                 "X-Content-Type-Options": "nosniff"},
    )  # fmt: skip
