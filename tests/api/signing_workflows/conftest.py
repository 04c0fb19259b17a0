"""Fixtures of the approval-workflow HTTP tests: the whole app on an installed context (SQLite
and PostgreSQL), a ministry with an e-seal, an author and four approvers (civil servants with
gov-sign certificates whose keys are server-side, and IdP accounts), and browsers logged in
through login sessions made directly (the login page itself is tested elsewhere)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import AppContext
from api.idp_web import SESSION_COOKIE_NAME
from ca.hierarchy import Hierarchy
from ca.profiles import ProfileName
from core.clock import FixedClock
from idp.sessions import LoginSessions
from registry.records import AssuranceLevel
from tests.api._ra import golden_keys, installed_context
from tests.ca._issuance import add_entity, add_person, add_servant

__all__ = ["golden_keys"]

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Official:
    person_id: str
    servant_id: str
    account_id: str


@dataclass
class Office:
    ministry_id: str
    author: Official
    approvers: list[Official]


@pytest.fixture
def ctx(
    tmp_path: Path, db_url: str, clock: FixedClock, golden_keys: tuple[Path, Hierarchy]
) -> Iterator[AppContext]:
    context = installed_context(tmp_path / "var", db_url, golden_keys, clock)
    context.idp_core().signing_keys.ensure_active(actor="test")
    try:
        yield context
    finally:
        context.close()


def _official(ctx: AppContext, ministry_id: str, name: str, *, can_sign: bool) -> Official:
    person = add_person(ctx.register, name_latin=name)
    servant = add_servant(ctx.register, person, ctx.register.get_entity(ministry_id))
    if can_sign:
        ctx.ca().issue_with_server_key(ProfileName.GOV_SIGN, servant.id, actor="test")
    account = ctx.idp_accounts().create(person.id, actor="test", activate=True)
    return Official(person.id, servant.id, account.id)


@pytest.fixture
def office(ctx: AppContext) -> Office:
    ministry = add_entity(ctx.register, kind="ministry")
    ctx.signing().ensure_eseal(ministry.id, actor="test")
    author = _official(ctx, ministry.id, "Chan Sophea", can_sign=False)
    approvers = [
        _official(ctx, ministry.id, name, can_sign=True)
        for name in ("Keo Vanna", "Lim Bopha", "Meas Rith", "Nhem Sokha")
    ]
    return Office(ministry.id, author, approvers)


@pytest.fixture
def outsider(ctx: AppContext) -> Official:
    ministry = add_entity(ctx.register, kind="ministry")
    return _official(ctx, ministry.id, "Outside Person", can_sign=True)


@pytest.fixture
def app_client(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        yield client


Browser = Callable[..., TestClient]


@pytest.fixture
def browser(ctx: AppContext, clock: FixedClock) -> Iterator[Browser]:
    """``browser(official, login_age=..., acr=...)``: a TestClient with a login session."""
    clients: list[TestClient] = []
    app = create_app(ctx)

    def open_as(
        official: Official,
        *,
        login_age: dt.timedelta = dt.timedelta(minutes=1),
        acr: str = "substantial",
    ) -> TestClient:
        started = LoginSessions(ctx.sessions, ledger=ctx.ledger).start(
            official.account_id,
            acr=AssuranceLevel(acr),
            amr=("pwd", "otp"),
            at=clock.now() - login_age,
        )
        client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
        client.__enter__()
        client.cookies.set(SESSION_COOKIE_NAME(ctx.settings), started.token)
        clients.append(client)
        return client

    yield open_as
    for client in clients:
        client.__exit__(None, None, None)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, html[:500]
    return found.group(1)
