"""Web plumbing shared by the IdP's pages (login, second factor, consent, logout, account).

What every page of the OpenID provider needs, in one place so the pages agree:

* The login-session cookie: ``__Host-natid_session`` with ``Secure`` when the public base URL
  is https (the ``__Host-`` prefix, RFC 6265bis §4.1.3.2, pins it to this host and path ``/``),
  ``natid_session`` otherwise (plain http is for development on localhost only); always
  ``HttpOnly``, ``SameSite=Lax``, ``Path=/`` and no ``Max-Age`` (the session's own idle and
  lifetime limits in :mod:`idp.sessions` decide how long it is good for).
* The page language (``km`` or ``en``): an explicit ``lang`` query or form value, then the
  request's ``ui_locales`` (OIDC Core §3.1.2.1), then ``Accept-Language`` (RFC 9110 §12.5.4),
  then Khmer, the national language.
* Rendering: Jinja2 with autoescaping over ``api/templates/idp/``, times in Cambodia time and
  numbers in Khmer digits on Khmer pages (:mod:`api.page_format`), one small stylesheet served
  by :mod:`api.routers.idp_login` at ``/static/idp/site.css?v=<hash>``, and the security
  headers of every page (CSP ``default-src 'self'``, no framing, no referrer, ``no-store``).
* CSRF: a signed double-submit token (OWASP CSRF cheat sheet, "Signed Double-Submit Cookie").
  A random pre-session value lives in its own cookie; the form token is its HMAC-SHA256 under a
  key derived from ``NATID_IDP_SECRET_KEY`` (or the soft key passphrase), compared in constant
  time. A request that lacks either, or whose token does not match its cookie, is refused with
  a 403 page and nothing else happens.
* :class:`PageRoute`, a route class for page routers: a :class:`PageError` raised by a page
  route becomes an HTML error page in the visitor's language (FastAPI's own handlers would
  answer JSON).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast
from urllib.parse import quote, urlencode, urlsplit

import jinja2
from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import page_format
from api.context import AppContext
from api.routers.idp_text import LANGUAGES, texts
from core.settings import Settings

if TYPE_CHECKING:
    from idp.account_records import LoginResult
    from idp.authorize import AuthorizationRequest, PendingAuthorizations
    from idp.consents import Consents
    from idp.logout import LogoutSender
    from idp.sessions import LoginSession, LoginSessions

__all__ = [
    "CSRF_FIELD",
    "LANGUAGES",
    "PAGE_HEADERS",
    "SESSION_COOKIE_NAME",
    "CsrfRejected",
    "PageError",
    "PageRoute",
    "check_csrf",
    "choose_language",
    "clear_session_cookie",
    "client_ip",
    "consents",
    "context_of",
    "continue_url",
    "csrf_cookie_name",
    "csrf_token",
    "current_session",
    "end_login_session",
    "error_page",
    "finish_login",
    "forget_cached_session",
    "is_https",
    "login_sessions",
    "logout_sender",
    "negotiate_language",
    "page_csp",
    "page_language",
    "page_url",
    "pending_request",
    "pending_store",
    "render",
    "see_other",
    "session_token",
    "set_session_cookie",
    "static_url",
]

CSRF_FIELD: Final = "csrf_token"
_HERE = Path(__file__).resolve().parent
TEMPLATE_DIR: Final = _HERE / "templates" / "idp"
STATIC_DIR: Final = _HERE / "static" / "idp"
STATIC_PREFIX: Final = "/static/idp/"
#: The files :mod:`api.routers.idp_login` serves under :data:`STATIC_PREFIX`.
STATIC_MEDIA_TYPES: Final = {"site.css": "text/css; charset=utf-8"}

_CSP = (
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)
#: A source expression of CSP: scheme, host and port only (no path, quote, comma or semicolon).
_CSP_SOURCE = re.compile(r"(?:https?://[A-Za-z0-9.\-\[\]:]+|[a-z][a-z0-9+.\-]*:)")
#: Headers of every IdP page. Their ``form-action 'self'`` does not let a form's redirect leave
#: NatID: Chromium applies ``form-action`` to every redirect after the POST (CSP Level 3), so a
#: page whose form may end at a client's redirect URI says so (:func:`page_csp`).
PAGE_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": _CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}
_LANGUAGE_NAMES = (("km", "ខ្មែរ"), ("en", "English"))
_CSRF_STATE = "natid_csrf_seed"
_SESSION_STATE = "natid_login_session"
_UNSET = object()


def page_csp(redirect_uris: Iterable[str]) -> str:
    """The pages' Content-Security-Policy with ``form-action`` widened to the origins of
    ``redirect_uris``: the client a login, consent or logout form's 303s end at. A private-use
    scheme (a mobile app's ``kh.gov.app:/cb``) is named by its scheme; anything that is not a
    plain origin is left out rather than put in the header."""
    sources = []
    for uri in redirect_uris:
        parts = urlsplit(uri)
        scheme = parts.scheme.lower()
        source = f"{scheme}://{parts.netloc}" if scheme in ("http", "https") else f"{scheme}:"
        if _CSP_SOURCE.fullmatch(source) and source not in sources:
            sources.append(source)
    if not sources:
        return _CSP
    return _CSP.replace("form-action 'self'", "form-action 'self' " + " ".join(sources))


# --- context, cookies, sessions -----------------------------------------------------------------


def context_of(request: Request) -> AppContext:
    """The application context of the app serving ``request``."""
    ctx: AppContext = request.app.state.ctx
    return ctx


def is_https(settings: Settings) -> bool:
    return settings.public_base_url.lower().startswith("https://")


def SESSION_COOKIE_NAME(settings: Settings) -> str:  # noqa: N802 - the contract's name
    """The login-session cookie's name: ``__Host-`` prefixed whenever it can be Secure."""
    return "__Host-natid_session" if is_https(settings) else "natid_session"


def csrf_cookie_name(settings: Settings) -> str:
    return "__Host-natid_csrf" if is_https(settings) else "natid_csrf"


def _set_cookie(response: Response, name: str, value: str, settings: Settings) -> None:
    response.set_cookie(
        name, value, path="/", secure=is_https(settings), httponly=True, samesite="lax"
    )


def set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    """Put the login session's token into the response's session cookie."""
    _set_cookie(response, SESSION_COOKIE_NAME(settings), token, settings)


def clear_session_cookie(response: Response, settings: Settings) -> None:
    """Tell the browser to forget the session cookie (same attributes, expired)."""
    response.delete_cookie(
        SESSION_COOKIE_NAME(settings),
        path="/",
        secure=is_https(settings),
        httponly=True,
        samesite="lax",
    )


def login_sessions(request: Request) -> LoginSessions:
    """The login-session store on the application's database and ledger."""
    from idp.sessions import LoginSessions

    ctx = context_of(request)
    return LoginSessions(ctx.sessions, ledger=ctx.ledger)


def session_token(request: Request) -> str | None:
    """The session token the browser sent, if any (shape-checked, not yet looked up)."""
    token = request.cookies.get(SESSION_COOKIE_NAME(context_of(request).settings))
    if not token or len(token) > 128 or not token.isascii():
        return None
    return token


def current_session(request: Request, *, consent_for: str | None = None) -> LoginSession | None:
    """The live login session behind the request's cookie, or None (looked up once per
    request; an ended, idle or expired session counts as none).

    ``consent_for`` (a client id; /authorize) has the first lookup of the request also read the
    account's consent to that client, in the same statement (``LoginSession.consent``)."""
    from idp.errors import SessionNotFound

    state = request.state  # one lookup of Starlette's per-request state, not three
    found: Any = getattr(state, _SESSION_STATE, _UNSET)
    if found is not _UNSET:
        memo: LoginSession | None = found
        return memo
    token = session_token(request)
    session = None
    if token is not None:
        try:
            session = login_sessions(request).get(
                token, at=context_of(request).clock.now(), consent_for=consent_for
            )
        except SessionNotFound:
            session = None
    setattr(state, _SESSION_STATE, session)
    return session


def forget_cached_session(request: Request) -> None:
    """Drop the per-request memo of :func:`current_session` (after starting or ending one)."""
    if hasattr(request.state, _SESSION_STATE):
        delattr(request.state, _SESSION_STATE)


def client_ip(request: Request) -> str | None:
    """The peer address (the proxy in front is expected to rewrite it, e.g. uvicorn's
    ``--proxy-headers`` with ``--forwarded-allow-ips``)."""
    return request.client.host if request.client else None


def logout_sender(request: Request) -> LogoutSender:
    """The back-channel logout transport: ``app.state.logout_sender`` when set (tests put a
    recorder there), else :class:`idp.logout.HttpxLogoutSender`."""
    from idp.logout import HttpxLogoutSender

    sender: LogoutSender | None = getattr(request.app.state, "logout_sender", None)
    return sender if sender is not None else HttpxLogoutSender()


def end_login_session(
    request: Request,
    session: LoginSession,
    *,
    reason: str,
    actor: str | None = None,
    account_id: str | None = None,
) -> LoginSession:
    """End ``session`` and send back-channel logout tokens to every client it logged into
    (OIDC Back-Channel Logout 1.0 §2.5); an RP that cannot be reached is audited, not fatal.
    With ``account_id``, only a session of that account can be ended."""
    from idp.logout import BackChannelLogout

    ctx = context_of(request)
    now = ctx.clock.now()
    ended = login_sessions(request).end(
        session.id,
        at=now,
        actor=actor or session.account_id,
        reason=reason,
        account_id=account_id,
    )
    if ended.clients:
        person_id = ctx.idp_accounts().get(ended.account_id).person_id
        BackChannelLogout(ctx.idp_core(), sender=logout_sender(request), ledger=ctx.ledger).notify(
            ended, person_id=person_id, at=now
        )
    # The session's tokens end with it (OIDC Back-Channel Logout 1.0 §2.7), except those of an
    # offline_access grant, which a citizen gave to work while they are not logged in.
    ctx.idp_core().tokens.revoke_grants_where(
        sid=ended.id, keep_offline=True, reason="session_ended", at=now, actor=actor or "idp"
    )
    forget_cached_session(request)
    return ended


def consents(request: Request) -> Consents:
    """The consent store on the application's database and ledger."""
    from idp.consents import Consents

    ctx = context_of(request)
    return Consents(ctx.sessions, ledger=ctx.ledger)


# --- language -----------------------------------------------------------------------------------


def negotiate_language(accept_language: str | None) -> str | None:
    """The supported language an ``Accept-Language`` header (RFC 9110 §12.5.4) weights
    highest, or None when it names neither."""
    best: str | None = None
    best_q = 0.0
    for position, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.strip().lower().split("-")[0]
        weight = q - position * 1e-6  # earlier entries win ties
        if primary in LANGUAGES and q > 0 and weight > best_q:
            best, best_q = primary, weight
    return best


def choose_language(request: Request, ui_locales: Sequence[str] = ()) -> str:
    """``km`` or ``en``: explicit ``lang`` (query, or a form value a route put in
    ``request.state.lang``), then ``ui_locales`` in order, then Accept-Language, then Khmer."""
    explicit = getattr(request.state, "lang", None) or request.query_params.get("lang")
    if explicit in LANGUAGES:
        return str(explicit)
    for tag in ui_locales:
        primary = str(tag).strip().lower().split("-")[0]
        if primary in LANGUAGES:
            return primary
    return negotiate_language(request.headers.get("accept-language")) or LANGUAGES[0]


# --- static files and rendering -----------------------------------------------------------------


@functools.cache
def static_files() -> tuple[dict[str, bytes], str]:
    """The pages' static files and their version (a hash over all of them), read once."""
    files = {name: (STATIC_DIR / name).read_bytes() for name in sorted(STATIC_MEDIA_TYPES)}
    digest = hashlib.sha256()
    for name, data in files.items():
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return files, digest.hexdigest()[:16]


def static_url(name: str) -> str:
    """The versioned URL of a static file (cached as immutable by browsers)."""
    return f"{STATIC_PREFIX}{name}?v={static_files()[1]}"


@functools.cache
def _environment() -> jinja2.Environment:
    return page_format.environment([TEMPLATE_DIR])


#: Pages whose query is the request itself, kept by the language links of a page answered to a
#: GET: the authorization endpoint (OIDC Core §3.1.2.1), whose error pages are useless without
#: the site's parameters. Elsewhere a query may carry a target such as ``next``, which a page
#: does not repeat back.
_QUERY_IS_THE_REQUEST = frozenset({"/authorize"})


def _language_links(request: Request) -> list[dict[str, str]]:
    """Links to this page in each language: ``lang``, then ``pending``, then - on a page of
    :data:`_QUERY_IS_THE_REQUEST` answered to a GET - the rest of the request's query, so the
    page in the other language answers the same request."""
    pending = request.query_params.get("pending") or getattr(request.state, "pending", None)
    path = request.url.path
    kept = ""
    if request.method == "GET" and path in _QUERY_IS_THE_REQUEST:
        rest = [
            (name, value)
            for name, value in request.query_params.multi_items()
            if name not in ("lang", "pending")
        ]
        kept = "&" + urlencode(rest, quote_via=quote, safe="") if rest else ""
    links = []
    for code, name in _LANGUAGE_NAMES:
        query = f"lang={code}" + (f"&pending={quote(str(pending), safe='')}" if pending else "")
        links.append({"code": code, "name": name, "href": f"{path}?{query}{kept}"})
    return links


def render(
    request: Request,
    template_name: str,
    context: Mapping[str, Any],
    *,
    lang: str,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    form_targets: Iterable[str] = (),
) -> HTMLResponse:
    """Render ``idp/<template_name>`` in ``lang`` with the page headers.

    ``form_targets``: URIs outside NatID that the page's form may be redirected to (the CSP's
    ``form-action`` names their origins); the client of a ``pending`` authorization in the
    context is added by itself.

    Every template gets ``lang``, ``t`` (the words in that language), ``csrf_token``,
    ``languages`` (the switch links), ``static`` (:func:`static_url`) and the route's context.
    """
    if lang not in LANGUAGES:
        lang = LANGUAGES[0]
    token = csrf_token(request, None)
    values: dict[str, Any] = {
        "lang": lang,
        "t": texts(lang),
        CSRF_FIELD: token,
        "languages": _language_links(request),
        "static": static_url,
        "pending": None,
    }
    values.update(context)
    html = _environment().get_template(template_name).render(values)
    targets = list(form_targets)
    pending = values.get("pending")
    if isinstance(pending, str) and pending:
        # The form continues an authorization: its last redirect goes to the client.
        with contextlib.suppress(PageError):
            auth = pending_request(request, pending)
            if auth is not None:
                targets.append(auth.redirect_uri)
    csp = {"Content-Security-Policy": page_csp(targets)} if targets else {}
    response = HTMLResponse(
        html,
        status_code=status,
        headers={**PAGE_HEADERS, **csp, "Content-Language": lang, **(headers or {})},
    )
    _store_new_csrf_seed(request, response)
    return response


def error_page(
    request: Request, *, lang: str, message_key: str, status: int, reference: str | None = None
) -> HTMLResponse:
    """A page that says what went wrong (``message_key`` from :mod:`api.routers.idp_text`);
    ``reference``, if given, is the request id a person can quote to the help desk. Under
    ``/officer`` the way back is the officers' search page, elsewhere the person's account."""
    path = request.url.path
    officer_area = path == "/officer" or path.startswith("/officer/")
    return render(
        request,
        "error.html",
        {"message_key": message_key, "reference": reference, "officer_area": officer_area},
        lang=lang,
        status=status,
    )


# --- CSRF ---------------------------------------------------------------------------------------


def _csrf_key(settings: Settings) -> bytes:
    from idp.totp import derive_key

    configured = settings.idp_secret_key or settings.soft_key_passphrase
    return derive_key(configured.get_secret_value().encode(), "csrf")


def _sign(key: bytes, seed: str) -> str:
    mac = hmac.new(key, b"natid-csrf\x00" + seed.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def _cookie_seed(request: Request) -> str | None:
    seed = request.cookies.get(csrf_cookie_name(context_of(request).settings))
    if not seed or len(seed) > 64 or not seed.isascii():
        return None
    return seed


def _seed(request: Request) -> str:
    existing = getattr(request.state, _CSRF_STATE, None)
    if existing is not None:
        return str(existing[0])
    seed = _cookie_seed(request)
    fresh = seed is None
    if seed is None:
        seed = secrets.token_urlsafe(32)
    setattr(request.state, _CSRF_STATE, (seed, fresh))
    return seed


def _store_new_csrf_seed(request: Request, response: Response) -> None:
    state = getattr(request.state, _CSRF_STATE, None)
    if state is not None and state[1]:
        _set_cookie(
            response,
            csrf_cookie_name(context_of(request).settings),
            state[0],
            context_of(request).settings,
        )


def csrf_token(request: Request, response: Response | None) -> str:
    """The CSRF token for a form on this page. When the browser has no pre-session cookie
    yet, a new one is made and set on ``response`` (or, with ``response=None``, on the
    response :func:`render` makes for this request)."""
    token = _sign(_csrf_key(context_of(request).settings), _seed(request))
    if response is not None:
        _store_new_csrf_seed(request, response)
    return token


class PageError(StarletteHTTPException):
    """An error a page route answers with an HTML page (under :class:`PageRoute`; elsewhere
    FastAPI answers it as an ordinary HTTP error with the same status)."""

    def __init__(self, message_key: str, *, status: int, lang: str | None = None) -> None:
        super().__init__(status_code=status, detail=message_key)
        self.message_key = message_key
        self.lang = lang


class CsrfRejected(PageError):
    """The form's CSRF token is missing or does not match the browser's cookie."""

    def __init__(self, lang: str | None = None) -> None:
        super().__init__("csrf_failed", status=403, lang=lang)


def check_csrf(request: Request, form_value: str | None) -> None:
    """Raise :class:`CsrfRejected` unless ``form_value`` is this browser's CSRF token."""
    seed = _cookie_seed(request)
    if not seed or not form_value or len(form_value) > 128:
        raise CsrfRejected()
    expected = _sign(_csrf_key(context_of(request).settings), seed)
    if not hmac.compare_digest(expected.encode(), form_value.encode("utf-8", "replace")):
        raise CsrfRejected()


async def _form_language(request: Request) -> str | None:
    """The ``lang`` field of a posted form (already parsed and cached by FastAPI)."""
    if request.method != "POST" or not request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        return None
    try:
        value = (await request.form()).get("lang")
    except Exception:  # noqa: BLE001 - a broken body must still get its error page
        return None
    return value if isinstance(value, str) and value in LANGUAGES else None


class PageRoute(APIRoute):
    """A route class for page routers: :class:`PageError` becomes an HTML error page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except PageError as exc:
                lang = exc.lang or await _form_language(request) or choose_language(request)
                return error_page(
                    request, lang=lang, message_key=exc.message_key, status=exc.status_code
                )

        return page_handler


# --- pending authorization requests and page navigation ------------------------------------------

_PENDING_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def pending_store(request: Request) -> PendingAuthorizations:
    """The pending authorization requests: the authorization router's accessor when it has
    one (the one store of the app), else a store on the application's cache."""
    from api.routers import oidc_authorize
    from idp.authorize import PendingAuthorizations

    accessor = getattr(oidc_authorize, "pending_authorizations", None)
    if accessor is not None:
        return cast("PendingAuthorizations", accessor(request))
    return PendingAuthorizations(context_of(request).cache)


def pending_request(request: Request, pending: str | None) -> AuthorizationRequest | None:
    """The stored authorization request ``pending`` names (None without one); a
    :class:`PageError` ``pending_unknown`` (400) when it is malformed, unknown or expired."""
    from idp.errors import InvalidRequest

    if not pending:
        return None
    if not _PENDING_ID.fullmatch(pending):
        raise PageError("pending_unknown", status=400)
    try:
        return pending_store(request).get(pending)
    except InvalidRequest:
        raise PageError("pending_unknown", status=400) from None


def form_language(request: Request, form_lang: str | None = None) -> str:
    """:func:`choose_language` with a posted ``lang`` (every NatID page that has forms)."""
    if form_lang in LANGUAGES:
        request.state.lang = form_lang
    return choose_language(request)


@functools.cache
def page_environment(folder: str) -> jinja2.Environment:
    """The Jinja environment of one family of pages: ``templates/<folder>`` first, then the
    IdP's templates (``base.html`` and its parts), with the IdP pages' options and their way
    of writing times and numbers (:mod:`api.page_format`)."""
    return page_format.environment([TEMPLATE_DIR.parent / folder, TEMPLATE_DIR])


def page_language(
    request: Request, form_lang: str | None, auth: AuthorizationRequest | None
) -> str:
    """:func:`choose_language` with a posted ``lang`` and the request's ``ui_locales``."""
    if form_lang in LANGUAGES:
        request.state.lang = form_lang
    return choose_language(request, auth.ui_locales if auth is not None else ())


def safe_next(value: str | None) -> str | None:
    """``value`` if it is a path on this site (``/sign/documents/..``), else None: a login
    never sends the browser to another origin (no ``//host``, no scheme, no backslash)."""
    if not value or len(value) > 512 or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        return None
    return value


def continue_url(pending: str | None, *, consented: bool = False) -> str:
    """Where a finished login (or consent) goes: back to the authorization endpoint."""
    if not pending:
        return "/account"
    url = f"/authorize/continue?pending={quote(pending, safe='')}"
    return url + "&consented=1" if consented else url


def page_url(
    path: str, *, lang: str | None, pending: str | None, next_path: str | None = None
) -> str:
    """``path`` with ``lang``, ``pending`` and ``next`` (each only when given; ``next`` only
    when it is a path on this site)."""
    params = {
        "lang": lang if lang in LANGUAGES else None,
        "pending": pending or None,
        "next": safe_next(next_path),
    }
    query = urlencode({k: v for k, v in params.items() if v})
    return f"{path}?{query}" if query else path


def see_other(url: str) -> RedirectResponse:
    """A 303 (RFC 9110 §15.4.4: the answer to a form POST) that no cache keeps."""
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def finish_login(
    request: Request, result: LoginResult, pending: str | None, *, next_path: str | None = None
) -> RedirectResponse:
    """After a successful authentication (password, second factor, passkey, certificate):
    step up the browser's session if it belongs to the same account, else end any other
    account's session (back-channel logout included) and start a new one; mark the pending
    request as logged in; set the cookie; 303 to ``/authorize/continue``, else to ``next_path``
    when it is a path on this site (a page that asked for a fresh login), else ``/account``."""
    from idp.errors import InvalidRequest, SessionNotFound

    ctx = context_of(request)
    now = ctx.clock.now()
    sessions = login_sessions(request)
    current, token = current_session(request), session_token(request)
    new_token: str | None = None
    stepped = False
    if current is not None and token is not None and current.account_id == result.account_id:
        try:
            sessions.step_up(token, acr=result.acr, amr=result.amr, at=now)
            stepped = True
        except SessionNotFound:
            stepped = False
    elif current is not None:
        end_login_session(request, current, reason="other_account_login")
    if not stepped:
        started = sessions.start(
            result.account_id,
            acr=result.acr,
            amr=result.amr,
            at=now,
            source=client_ip(request),
            user_agent=request.headers.get("user-agent"),
        )
        new_token = started.token
    forget_cached_session(request)
    if pending:
        try:
            pending_store(request).mark_login_done(pending, at=now)
        except InvalidRequest:
            raise PageError("pending_unknown", status=400) from None
    target = continue_url(pending) if pending else (safe_next(next_path) or continue_url(None))
    response = see_other(target)
    if new_token is not None:
        set_session_cookie(response, new_token, ctx.settings)
    return response
