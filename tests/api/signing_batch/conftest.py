"""Fixtures of the e-seal batch tests: the whole app on an installed context (SQLite and
PostgreSQL), a legal entity with an e-seal certificate (server-side key), and operators."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import AppContext
from api.idp_web import SESSION_COOKIE_NAME
from ca.hierarchy import Hierarchy
from core.clock import FixedClock
from core.operators import OperatorRole
from idp.sessions import LoginSessions
from registry.records import AssuranceLevel
from tests.api._ra import golden_keys, installed_context, operator_token
from tests.ca._issuance import add_entity, add_person

__all__ = ["Browser", "golden_keys"]


@dataclass(frozen=True)
class Sealers:
    entity_id: str
    operator_id: str
    token: str
    other_token: str
    auditor_token: str


@pytest.fixture
def ctx(
    tmp_path: Path, db_url: str, clock: FixedClock, golden_keys: tuple[Path, Hierarchy]
) -> Iterator[AppContext]:
    context = installed_context(tmp_path / "var", db_url, golden_keys, clock)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def sealers(ctx: AppContext) -> Sealers:
    entity = add_entity(ctx.register, kind="company")
    ctx.signing().ensure_eseal(entity.id, actor="test")
    operator_id, token = operator_token(ctx, "seal.ops", OperatorRole.CA_OPERATOR)
    _, other = operator_token(ctx, "other.ops", OperatorRole.CA_OPERATOR)
    _, auditor = operator_token(ctx, "audit.ops", OperatorRole.AUDITOR)
    return Sealers(entity.id, operator_id, token, other, auditor)


@pytest.fixture
def http(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        yield client


Browser = Callable[..., TestClient]


def account_for(ctx: AppContext, operator_id: str | None, name: str = "Sok Dara") -> str:
    """An active IdP account of a new person, linked to ``operator_id`` (if any)."""
    person = add_person(ctx.register, name_latin=name)
    account = ctx.idp_accounts().create(person.id, actor="test", activate=True)
    if operator_id is not None:
        ctx.idp_accounts().link_operator(account.id, operator_id, actor="test")
    return account.id


@pytest.fixture
def browser(ctx: AppContext, clock: FixedClock) -> Iterator[Browser]:
    """``browser(account_id)``: a TestClient with a login session (made directly; the login
    pages are tested elsewhere)."""
    clients: list[TestClient] = []
    app = create_app(ctx)

    def open_as(account_id: str) -> TestClient:
        started = LoginSessions(ctx.sessions, ledger=ctx.ledger).start(
            account_id,
            acr=AssuranceLevel("substantial"),
            amr=("pwd", "otp"),
            at=clock.now() - dt.timedelta(minutes=1),
        )
        client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
        client.__enter__()
        client.cookies.set(SESSION_COOKIE_NAME(ctx.settings), started.token)
        clients.append(client)
        return client

    yield open_as
    for client in clients:
        client.__exit__(None, None, None)
