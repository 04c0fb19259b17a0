"""Fixtures for the IdP page tests: the whole app on a real context (SQLite and PostgreSQL),
cheap Argon2, an active signing key, a registered relying party, and pending requests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import AppContext, build_context
from core.clock import FixedClock
from core.settings import load_settings
from idp.authorize import AuthorizationRequest, PendingAuthorizations
from idp.clients import Client
from idp.pkce import s256_challenge
from tests.idp._web import fast_passwords

RP_REDIRECT = "https://portal.moh.gov.kh/cb"
RP_LOGGED_OUT = "https://portal.moh.gov.kh/bye"
RP_BACKCHANNEL = "https://portal.moh.gov.kh/backchannel-logout"


@dataclass
class CapturedPost:
    url: str
    form: dict[str, str]
    timeout: float


@dataclass
class RecordingSender:
    """A back-channel logout transport that records instead of sending."""

    status: int = 200
    posts: list[CapturedPost] = field(default_factory=list)

    def post_form(self, url: str, form: Mapping[str, str], *, timeout: float) -> int:
        self.posts.append(CapturedPost(url, dict(form), timeout))
        return self.status


def make_ctx(tmp_path: Path, db_url: str, clock: FixedClock, **settings: Any) -> AppContext:
    ctx = build_context(
        load_settings(data_dir=tmp_path / "var", database_url=db_url, **settings), clock=clock
    )
    fast_passwords(ctx)
    ctx.idp_core().signing_keys.ensure_active(actor="test")
    return ctx


@pytest.fixture
def ctx(tmp_path: Path, db_url: str, clock: FixedClock) -> Iterator[AppContext]:
    context = make_ctx(tmp_path, db_url, clock)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def web(ctx: AppContext, sender: RecordingSender) -> Iterator[TestClient]:
    app = create_app(ctx)
    app.state.logout_sender = sender
    with TestClient(app, raise_server_exceptions=True) as client:
        yield client


@pytest.fixture
def rp(ctx: AppContext) -> Client:
    return (
        ctx.idp_core()
        .clients.add(
            name="Ministry of Health portal",
            redirect_uris=[RP_REDIRECT],
            auth_method="client_secret_basic",
            post_logout_redirect_uris=[RP_LOGGED_OUT],
            backchannel_logout_uri=RP_BACKCHANNEL,
            actor="test",
        )
        .client
    )


PendingFactory = Callable[..., str]


@pytest.fixture
def pending_for(ctx: AppContext, rp: Client) -> PendingFactory:
    """Store an authorization request of ``rp`` the way /authorize does; its pending id."""

    def make(**overrides: Any) -> str:
        values: dict[str, Any] = {
            "client_id": rp.client_id,
            "client_name": rp.name,
            "redirect_uri": RP_REDIRECT,
            "scopes": ("openid", "profile"),
            "code_challenge": s256_challenge("x" * 43),
            "created_at": ctx.clock.now() - dt.timedelta(seconds=1),
            "state": "st-123",
            "nonce": "n-1",
        }
        values.update(overrides)
        return PendingAuthorizations(ctx.cache).create(AuthorizationRequest(**values), session=None)

    return make


def events(ctx: AppContext, name: str) -> list[Any]:
    return [e for e in ctx.ledger.tail(1000) if e.event == name]
