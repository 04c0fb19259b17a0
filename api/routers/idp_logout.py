"""The end-session endpoint, ``GET/POST /logout``: OpenID Connect RP-Initiated Logout 1.0.

Included by :mod:`api.routers.idp_login` (whose router ``api/app.py`` mounts).

Parameters (§2): ``id_token_hint``, ``client_id``, ``post_logout_redirect_uri``, ``state``,
``ui_locales``; by GET or by a form POST. Decisions:

* ``id_token_hint`` must be an ID token this provider signed (expired ones too: §2 says the OP
  must accept them); one that is not is ignored, and then nothing it names is trusted. A
  ``client_id`` that is not among the hint's audiences is an error page (§2).
* ``post_logout_redirect_uri`` is used only if it is registered for the client named by
  ``client_id`` or the hint, by exact match (§3); otherwise the browser stays here and is told
  "you are logged out". ``state`` goes back with the redirect (§3).
* A browser with a login session is asked to confirm (§2 "the OP SHOULD ask the End-User
  whether to log out"): a page whose form POSTs ``decision=logout`` with the CSRF token and
  the parameters above as hidden fields. A browser without a session has nothing to confirm.
* Confirming ends the session (``idp.session.ended``, reason ``logout``), clears the cookie,
  and sends a back-channel logout token to each client of the session that registered a
  ``backchannel_logout_uri`` (:func:`api.idp_web.end_login_session`, :mod:`idp.logout`).
* Refresh tokens are kept: logout ends the provider's session, and ``offline_access`` exists
  so that a client keeps access while the user is away; a client that wants otherwise revokes
  its tokens when the back-channel logout token arrives.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse

from api.idp_web import (
    LANGUAGES,
    PageError,
    PageRoute,
    check_csrf,
    choose_language,
    clear_session_cookie,
    context_of,
    current_session,
    end_login_session,
    page_language,
    render,
    see_other,
)
from idp.errors import ClientNotFound, IdPError, InvalidJWS, InvalidRequest
from idp.jose import JWSUse, verify_jws

__all__ = ["router"]

router = APIRouter(tags=["idp"], route_class=PageRoute)

Short = Annotated[str, Form(max_length=128)]
_LOGOUT_FIELDS = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales")


def _hint_audiences(request: Request, id_token_hint: str) -> list[str] | None:
    """The audiences of an ID token this provider issued (expired or not, §2), else None."""
    ctx = context_of(request)
    core = ctx.idp_core()
    keys = [k.jwk for k in core.signing_keys.published(at=ctx.clock.now())]
    try:
        claims = verify_jws(id_token_hint, keys=keys, use=JWSUse.ID_TOKEN).claims
    except InvalidJWS:
        return None
    if claims.get("iss") != core.issuer:
        return None
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    return [a for a in audiences if isinstance(a, str)]


def _logout_target(request: Request, params: dict[str, str]) -> tuple[str | None, str | None]:
    """The client's name and the validated ``post_logout_redirect_uri`` (with ``state``), or
    None for each. A URI is used only when it is registered for a client known from
    ``client_id`` or a valid ``id_token_hint`` (§3); a ``client_id`` that contradicts the
    hint is an error (§2)."""
    client_id = params.get("client_id") or None
    hint = params.get("id_token_hint")
    if hint:
        audiences = _hint_audiences(request, hint)
        if audiences is None:
            client_id = None  # not ours: trust nothing it says, redirect nowhere
        elif client_id is None and len(audiences) == 1:
            client_id = audiences[0]
        elif client_id is not None and client_id not in audiences:
            raise PageError("bad_request", status=400)
    if client_id is None:
        return None, None
    try:
        client = context_of(request).idp_core().clients.get(client_id)
    except (ClientNotFound, IdPError):
        return None, None
    uri = params.get("post_logout_redirect_uri")
    target = None
    if uri:
        try:
            target = client.check_post_logout_redirect_uri(uri)
        except InvalidRequest:
            target = None
    if target is not None and params.get("state"):
        parts = urlsplit(target)
        query = "&".join(p for p in (parts.query, urlencode({"state": params["state"]})) if p)
        target = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    return client.name, target


def _logged_out(request: Request, target: str | None, lang: str) -> Response:
    response: Response = (
        see_other(target) if target else render(request, "logged_out.html", {}, lang=lang)
    )
    clear_session_cookie(response, context_of(request).settings)
    return response


def _logout(request: Request, params: dict[str, str], *, confirm: bool) -> Response:
    chosen = page_language(request, params.get("lang"), None)
    if "lang" not in params or params.get("lang") not in LANGUAGES:
        chosen = choose_language(request, params.get("ui_locales", "").split()[:10])
    client_name, target = _logout_target(request, params)
    session = current_session(request)
    if session is None:
        return _logged_out(request, target, chosen)
    if not confirm:
        hidden = [(name, params[name]) for name in _LOGOUT_FIELDS if params.get(name)]
        context = {"client_name": client_name, "hidden": hidden}
        targets = [target] if target else []
        return render(request, "logout.html", context, lang=chosen, form_targets=targets)
    end_login_session(request, session, reason="logout")
    return _logged_out(request, target, chosen)


@router.get("/logout", response_class=HTMLResponse, summary="RP-initiated logout")
def logout_get(
    request: Request,
    *,
    id_token_hint: Annotated[str | None, Query(max_length=8192)] = None,
    client_id: Annotated[str | None, Query(max_length=128)] = None,
    post_logout_redirect_uri: Annotated[str | None, Query(max_length=2048)] = None,
    state: Annotated[str | None, Query(max_length=2048)] = None,
    ui_locales: Annotated[str | None, Query(max_length=200)] = None,
    lang: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    values = {
        "id_token_hint": id_token_hint, "client_id": client_id,
        "post_logout_redirect_uri": post_logout_redirect_uri, "state": state,
        "ui_locales": ui_locales, "lang": lang,
    }  # fmt: skip
    return _logout(request, {k: v for k, v in values.items() if v}, confirm=False)


@router.post("/logout", response_class=HTMLResponse, summary="RP-initiated logout (form)")
def logout_post(
    request: Request,
    *,
    id_token_hint: Annotated[str, Form(max_length=8192)] = "",
    client_id: Short = "",
    post_logout_redirect_uri: Annotated[str, Form(max_length=2048)] = "",
    state: Annotated[str, Form(max_length=2048)] = "",
    ui_locales: Annotated[str, Form(max_length=200)] = "",
    lang: Short = "",
    decision: Short = "",
    csrf_token: Short = "",
) -> Response:
    values = {
        "id_token_hint": id_token_hint, "client_id": client_id,
        "post_logout_redirect_uri": post_logout_redirect_uri, "state": state,
        "ui_locales": ui_locales, "lang": lang,
    }  # fmt: skip
    confirm = decision == "logout"
    if confirm:
        check_csrf(request, csrf_token)
    return _logout(request, {k: v for k, v in values.items() if v}, confirm=confirm)
