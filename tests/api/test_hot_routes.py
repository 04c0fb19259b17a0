"""The hot routes answered by direct dispatch (api/hot_routes.py) answer exactly as FastAPI does.

Every comparison sends the same request to two applications on one context: ``create_app`` as
served (``hot``) and the same application without the direct dispatch (``ref``: FastAPI's
routing, as before). Both record whether FastAPI's router was entered, so a test also fails
if the request it meant to send through the direct dispatch quietly went through FastAPI.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from api.app import create_app
from api.context import AppContext, build_context
from api.deps import Ctx, get_context
from api.errors import ProblemHTTPException, install_error_handlers
from api.hot_routes import HotRouteError, HotRoutes, install_hot_routes
from api.idp_web import SESSION_COOKIE_NAME, csrf_cookie_name
from api.observability import JsonFormatter, install_observability
from core.clock import FixedClock
from core.errors import InvalidInput
from core.settings import load_settings
from idp.consents import Consents
from idp.pkce import s256_challenge
from idp.sessions import LoginSessions
from registry.records import AssuranceLevel, Person
from tests.api.idp_token._rp import RegisteredRP, basic_header, mint_code
from tests.api.kyc.conftest import bank_token, consent, make_bank
from tests.idp._accounts import person_record

REDIRECT = "https://portal.moh.gov.kh/cb"
REQUEST_ID = "hot-route-test-1"
#: Headers that differ between any two responses, whoever answers.
VOLATILE = frozenset({"date", "x-request-id"})


@pytest.fixture
def app_ctx(tmp_path: Path, db_url: str, clock: FixedClock) -> Iterator[AppContext]:
    settings = load_settings(data_dir=tmp_path / "var", database_url=db_url)
    ctx = build_context(settings, clock=clock)
    ctx.idp_core().signing_keys.ensure_active(actor="test")
    try:
        yield ctx
    finally:
        ctx.close()


class _RouterProbe:
    """Wraps FastAPI's router: the paths of the requests that reached it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


def _probed(app: FastAPI) -> _RouterProbe:
    probe = _RouterProbe(app.router.middleware_stack)
    app.router.middleware_stack = probe
    return probe


@dataclass
class Pair:
    """The application with the direct dispatch and the same one without it."""

    hot: TestClient
    ref: TestClient
    hot_router: _RouterProbe
    ref_router: _RouterProbe
    apps: list[FastAPI] = field(default_factory=list)

    def send(
        self, method: str, path: str, *, direct: bool = True, **kw: Any
    ) -> tuple[httpx.Response, httpx.Response]:
        """The answers of both; ``direct``: whether the hot one must skip FastAPI's router."""
        kw.setdefault("headers", {})["X-Request-ID"] = REQUEST_ID
        before = len(self.hot_router.paths)
        hot = self.hot.request(method, path, **kw)
        ref = self.ref.request(method, path, **kw)
        assert (len(self.hot_router.paths) == before) is direct
        assert self.ref_router.paths[-1] == urlsplit(str(ref.request.url)).path
        return hot, ref

    def cookie(self, name: str, value: str) -> None:
        self.hot.cookies.set(name, value)
        self.ref.cookies.set(name, value)


def _reference(ctx: AppContext) -> FastAPI:
    app = create_app(ctx)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not HotRoutes]
    return app


@pytest.fixture
def pair(app_ctx: AppContext) -> Iterator[Pair]:
    hot_app, ref_app = create_app(app_ctx), _reference(app_ctx)
    probes = _probed(hot_app), _probed(ref_app)
    kw: dict[str, Any] = {"raise_server_exceptions": False, "follow_redirects": False}
    with TestClient(hot_app, **kw) as hot, TestClient(ref_app, **kw) as ref:
        yield Pair(hot, ref, *probes, apps=[hot_app, ref_app])


def _view(response: httpx.Response, *, drop: frozenset[str] = frozenset()) -> Any:
    headers = [
        (k, v) for k, v in response.headers.multi_items() if k not in VOLATILE and k not in drop
    ]
    return response.status_code, headers, response.content


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "natid.http"]


def assert_same(hot: httpx.Response, ref: httpx.Response) -> None:
    assert _view(hot) == _view(ref)


@pytest.fixture
def person(app_ctx: AppContext) -> Person:
    added = app_ctx.register.add_person(person_record())
    app_ctx.idp_accounts().create(added.id, actor="test", activate=True)
    return added


@pytest.fixture
def portal(app_ctx: AppContext) -> RegisteredRP:
    registered = app_ctx.idp_core().clients.add(
        name="Ministry portal", redirect_uris=[REDIRECT], auth_method="client_secret_basic"
    )
    return RegisteredRP(registered.client, secret=registered.client_secret)


def _token_form(app_ctx: AppContext, rp: RegisteredRP, person: Person) -> dict[str, str]:
    code, verifier = mint_code(
        app_ctx.idp_core(),
        rp,
        person.id,
        app_ctx.clock.now(),
        scopes=("openid", "profile", "email"),
    )
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }


def _basic(rp: RegisteredRP) -> dict[str, str]:
    assert rp.secret is not None
    return {"Authorization": basic_header(rp.client_id, rp.secret)}


# --- POST /token ------------------------------------------------------------------------------


def test_token_success_same_as_fastapi(
    pair: Pair, app_ctx: AppContext, portal: RegisteredRP, person: Person
) -> None:
    # Each application redeems its own code; the tokens themselves are random.
    hot = pair.hot.post("/token", data=_token_form(app_ctx, portal, person), headers=_basic(portal))
    ref = pair.ref.post("/token", data=_token_form(app_ctx, portal, person), headers=_basic(portal))
    assert pair.hot_router.paths == []
    assert hot.status_code == ref.status_code == 200
    drop = frozenset({"content-length"})
    assert _view(hot, drop=drop)[:2] == _view(ref, drop=drop)[:2]
    random = {"access_token", "id_token"}
    assert {k: v for k, v in hot.json().items() if k not in random} == {
        k: v for k, v in ref.json().items() if k not in random
    }
    assert hot.json().keys() == ref.json().keys()


def test_token_with_bad_code_is_the_same_invalid_grant(pair: Pair, portal: RegisteredRP) -> None:
    form = {"grant_type": "authorization_code", "code": "no-such-code", "redirect_uri": REDIRECT}
    hot, ref = pair.send("POST", "/token", data=form, headers=_basic(portal))
    assert hot.status_code == 400
    assert hot.json()["error"] == "invalid_grant"
    assert_same(hot, ref)


def test_token_without_client_is_the_same_401(pair: Pair) -> None:
    hot, ref = pair.send("POST", "/token", data={"grant_type": "authorization_code", "code": "x"})
    assert hot.status_code == 401
    assert_same(hot, ref)


def _context_fails(monkeypatch: pytest.MonkeyPatch, ctx: AppContext, exc: Exception) -> None:
    """The OpenID provider's core raises ``exc`` when an endpoint asks the context for it."""

    def fails() -> Any:
        raise exc

    monkeypatch.setattr(ctx, "idp_core", fails)


def test_mapped_domain_error_is_the_same_problem_json(
    pair: Pair, app_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    _context_fails(monkeypatch, app_ctx, InvalidInput("the grant store said no"))
    hot, ref = pair.send("POST", "/token", data={"grant_type": "refresh_token"})
    assert hot.status_code == 400
    assert hot.headers["content-type"] == "application/problem+json"
    assert hot.json()["instance"] == "/token"
    assert hot.json()["request_id"] == REQUEST_ID  # request.state, set by the middleware
    assert_same(hot, ref)


def test_http_exception_keeps_its_headers(
    pair: Pair, app_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    limited = ProblemHTTPException(
        429, code="rate_limited", detail="slow down", headers={"Retry-After": "7"}
    )
    _context_fails(monkeypatch, app_ctx, limited)
    hot, ref = pair.send("POST", "/token", data={"grant_type": "refresh_token"})
    assert hot.status_code == 429
    assert hot.headers["retry-after"] == "7"
    assert_same(hot, ref)


def test_unexpected_error_is_the_same_500_logged_and_counted(
    pair: Pair,
    app_ctx: AppContext,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _context_fails(monkeypatch, app_ctx, RuntimeError("secret detail"))
    caplog.set_level(logging.INFO, logger="natid.http")
    hot, ref = pair.send("POST", "/token", data={"grant_type": "refresh_token"})
    assert hot.status_code == 500
    assert "secret detail" not in hot.text
    # The id an operator is asked to quote, in the body and in the header.
    assert hot.headers["x-request-id"] == hot.json()["request_id"]
    assert_same(hot, ref)
    lines = _access_lines(caplog)
    assert [(x["route"], x["status"]) for x in lines] == [("/token", 500), ("/token", 500)]
    # The exception still reaches the server (its error log), past ServerErrorMiddleware.
    for app in pair.apps:
        with pytest.raises(RuntimeError, match="secret detail"):
            TestClient(app).post("/token", data={"grant_type": "refresh_token"})


def test_failing_handler_goes_to_the_next_layer_as_in_starlette(
    app_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Outer(LookupError):
        pass

    async def raising_handler(request: Request, exc: Exception) -> Response:
        raise Outer("from the handler")

    def outer_handler(request: Request, exc: Exception) -> Response:  # sync: thread pool
        return JSONResponse({"handled": type(exc).__name__}, status_code=418)

    _context_fails(monkeypatch, app_ctx, KeyError("x"))
    answers = []
    for app, direct in ((create_app(app_ctx), True), (_reference(app_ctx), False)):
        app.add_exception_handler(KeyError, raising_handler)
        app.add_exception_handler(Outer, outer_handler)
        probe = _probed(app)
        answers.append(TestClient(app).post("/token", data={"grant_type": "refresh_token"}))
        assert (probe.paths == []) is direct
    hot, ref = answers
    assert hot.status_code == 418
    assert hot.json() == {"handled": "Outer"}
    assert_same(hot, ref)


# --- GET /userinfo ----------------------------------------------------------------------------


def test_userinfo_success_same_as_fastapi(
    pair: Pair, app_ctx: AppContext, portal: RegisteredRP, person: Person
) -> None:
    tokens = pair.ref.post(
        "/token", data=_token_form(app_ctx, portal, person), headers=_basic(portal)
    ).json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    hot, ref = pair.send("GET", "/userinfo", headers=bearer)
    assert hot.status_code == 200
    assert hot.json()["name"] == "Sok Dara"
    assert_same(hot, ref)


def test_userinfo_without_token_same_401_challenges(pair: Pair) -> None:
    hot, ref = pair.send("GET", "/userinfo")
    assert hot.status_code == 401
    assert hot.headers.get_list("www-authenticate")
    assert_same(hot, ref)


def test_userinfo_head_and_post_still_go_through_fastapi(pair: Pair) -> None:
    hot, ref = pair.send("HEAD", "/userinfo", direct=False)
    assert_same(hot, ref)
    hot, ref = pair.send("POST", "/userinfo", direct=False)
    assert hot.status_code == 401
    assert_same(hot, ref)
    hot, ref = pair.send("GET", "/userinfo/", direct=False)
    assert_same(hot, ref)
    hot, ref = pair.send("GET", "/token", direct=False)
    assert hot.status_code == 405
    assert_same(hot, ref)


def test_under_a_root_path_the_route_path_is_matched(app_ctx: AppContext) -> None:
    hot_app, ref_app = create_app(app_ctx), _reference(app_ctx)
    hot_probe = _probed(hot_app)
    hot = TestClient(hot_app, root_path="/natid").get("/natid/userinfo")
    ref = TestClient(ref_app, root_path="/natid").get("/natid/userinfo")
    assert hot_probe.paths == []
    assert hot.status_code == 401
    assert _view(hot) == _view(ref)


def test_dependency_overrides_are_honoured_through_fastapi(app_ctx: AppContext) -> None:
    app = create_app(app_ctx)
    probe = _probed(app)
    calls: list[str] = []

    async def other_context(request: Request) -> AppContext:
        calls.append(request.url.path)
        ctx: AppContext = request.app.state.ctx
        return ctx

    app.dependency_overrides[get_context] = other_context
    response = TestClient(app).get("/userinfo")
    assert response.status_code == 401
    assert probe.paths == ["/userinfo"]
    assert calls == ["/userinfo"]


# --- GET /authorize ---------------------------------------------------------------------------


def _authorize_params(rp: RegisteredRP) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile",
        "state": "st-12345",
        "nonce": "n-12345",
        "code_challenge": s256_challenge(secrets.token_urlsafe(48)),
        "code_challenge_method": "S256",
    }


def _without_code(location: str) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(location)
    params = parse_qs(parts.query)
    assert params.pop("code")
    return parts._replace(query="").geturl(), params


def test_authorize_with_session_and_consent_same_redirect(
    pair: Pair, app_ctx: AppContext, portal: RegisteredRP, person: Person
) -> None:
    account = app_ctx.idp_accounts().find_by_person(person.id)
    assert account is not None
    started = LoginSessions(app_ctx.sessions, ledger=app_ctx.ledger).start(
        account.id, acr=AssuranceLevel("low"), amr=("pwd",), at=app_ctx.clock.now()
    )
    pair.cookie(SESSION_COOKIE_NAME(app_ctx.settings), started.token)
    Consents(app_ctx.sessions, ledger=app_ctx.ledger).grant(
        account.id,
        portal.client_id,
        ("openid", "profile"),
        (),
        at=app_ctx.clock.now(),
        lifetime=dt.timedelta(days=30),
    )
    hot, ref = pair.send("GET", "/authorize", params=_authorize_params(portal))
    assert hot.status_code == 303
    assert _without_code(hot.headers["location"]) == _without_code(ref.headers["location"])
    drop = frozenset({"location"})
    assert _view(hot, drop=drop) == _view(ref, drop=drop)


def test_authorize_unknown_client_same_error_page(pair: Pair, app_ctx: AppContext) -> None:
    pair.cookie(csrf_cookie_name(app_ctx.settings), "a-fixed-csrf-seed-for-both")
    hot, ref = pair.send("GET", "/authorize", params={"client_id": "nobody", "scope": "openid"})
    assert hot.status_code == 400
    assert hot.headers["content-type"].startswith("text/html")
    assert_same(hot, ref)


def test_access_line_and_metrics_label_the_route_as_before(
    pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="natid.http")
    pair.send("GET", "/authorize", params={"client_id": "nobody"})
    lines = _access_lines(caplog)
    hot, ref = ({k: v for k, v in x.items() if k not in {"time", "duration_ms"}} for x in lines)
    assert hot == ref
    assert hot["route"] == "/authorize"
    assert hot["request_id"] == REQUEST_ID
    metric = 'natid_http_requests_total{method="GET",route="/authorize",status="400"} 1.0'
    assert metric in pair.hot.get("/metrics").text


# --- GET /kyc/v1/person (a sync endpoint: FastAPI runs it in the thread pool) ------------------


def test_kyc_person_success_and_refusal_same_as_fastapi(
    pair: Pair, app_ctx: AppContext, clock: FixedClock
) -> None:
    added = app_ctx.register.add_person(person_record())
    app_ctx.register.record_proofing(
        added.id,
        method="in_person",
        level="high",
        evidence="national_id_card",
        office="One Window Office, Phnom Penh",
        at=clock.now() - dt.timedelta(days=30),
    )
    app_ctx.idp_accounts().create(added.id, actor="test", activate=True)
    bank = make_bank(app_ctx)
    consent(app_ctx, added, bank)
    answers = []
    for client, probe in ((pair.hot, pair.hot_router), (pair.ref, pair.ref_router)):
        token, session = bank_token(client, app_ctx, bank, added)
        before = len(probe.paths)
        answers.append(session.request("GET", "/kyc/v1/person", access_token=token))
        assert (len(probe.paths) == before) is (client is pair.hot)
    hot, ref = answers
    assert hot.status_code == ref.status_code == 200
    drop = frozenset({"dpop-nonce", "content-length"})
    assert _view(hot, drop=drop)[:2] == _view(ref, drop=drop)[:2]
    hot, ref = pair.send("GET", "/kyc/v1/person", headers={"Authorization": "Bearer abc"})
    assert hot.status_code == 401
    assert_same(hot, ref)


# --- start-up ---------------------------------------------------------------------------------


def _app_with(router: APIRouter) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    install_observability(app)
    app.include_router(router)
    return app


def test_refuses_to_start_with_an_unexpected_parameter() -> None:
    router = APIRouter()

    @router.post("/token")
    async def token(request: Request, ctx: Ctx, grant_type: str) -> JSONResponse:
        return JSONResponse({})

    with pytest.raises(HotRouteError, match="grant_type"):
        install_hot_routes(_app_with(router), [("POST", "/token")])


def test_refuses_to_start_with_a_router_dependency() -> None:
    async def audit(request: Request) -> None:
        return None

    router = APIRouter(dependencies=[Depends(audit)])

    @router.get("/userinfo")
    async def userinfo(request: Request, ctx: Ctx) -> JSONResponse:
        return JSONResponse({})

    with pytest.raises(HotRouteError, match="router dependency"):
        install_hot_routes(_app_with(router), [("GET", "/userinfo")])


def test_refuses_to_start_without_the_route_or_its_response_type() -> None:
    router = APIRouter()

    @router.get("/userinfo")
    async def userinfo(request: Request) -> dict[str, str]:
        return {}

    with pytest.raises(HotRouteError, match="Response result"):
        install_hot_routes(_app_with(router), [("GET", "/userinfo")])
    with pytest.raises(HotRouteError, match="no route"):
        install_hot_routes(_app_with(router), [("POST", "/token")])


def _echo_app(*, direct: bool) -> FastAPI:
    """An application whose ``POST /token`` tells what its endpoint saw of the request."""
    router = APIRouter()

    @router.post("/token")
    async def token(request: Request, ctx: Ctx) -> JSONResponse:
        scope = request.scope
        return JSONResponse(
            {
                "route": scope["route"].path,
                "endpoint": scope["endpoint"] is token,
                "router": scope["router"] is request.app.router,
                "path_params": scope["path_params"],
                "request_id": request.state.request_id,
                "ctx": ctx is request.app.state.ctx,
                "url": str(request.url),
                "body": (await request.body()).decode(),
            }
        )

    app = _app_with(router)
    app.state.ctx = object()
    if direct:
        install_hot_routes(app, [("POST", "/token")])
    return app


def test_the_endpoint_sees_the_request_as_through_fastapi() -> None:
    answers = []
    for direct in (True, False):
        app = _echo_app(direct=direct)
        probe = _probed(app)
        client = TestClient(app, root_path="/natid")
        answers.append(
            client.post("/natid/token?x=1", content=b"a=b", headers={"X-Request-ID": REQUEST_ID})
        )
        assert (probe.paths == []) is direct
    hot, ref = answers
    assert hot.json() == {
        "route": "/token",
        "endpoint": True,
        "router": True,
        "path_params": {},
        "request_id": REQUEST_ID,
        "ctx": True,
        "url": "http://testserver/natid/token?x=1",
        "body": "a=b",
    }
    assert_same(hot, ref)


def test_the_served_application_dispatches_every_hot_route(app_ctx: AppContext) -> None:
    app = create_app(app_ctx)
    hot = [m for m in app.user_middleware if m.cls is HotRoutes]
    assert len(hot) == 1
    routes = hot[0].kwargs["routes"]
    assert sorted(routes) == [
        ("GET", "/authorize"),
        ("GET", "/kyc/v1/person"),
        ("GET", "/userinfo"),
        ("POST", "/token"),
    ]
    kinds = [m.cls.__name__ for m in app.user_middleware]
    assert kinds.index("HotRoutes") == kinds.index("ObservabilityMiddleware") + 1
