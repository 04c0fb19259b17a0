"""Fixtures of the registration officer page tests: the whole app on an installed context
(SQLite and PostgreSQL), an officer (a civil servant whose IdP account is linked to an
``ra-officer`` operator), a citizen in the register, and browsers holding login sessions made
directly at the wanted ``acr`` (certificate and passkey logins are tested elsewhere)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from api.app import create_app
from api.context import AppContext
from api.idp_web import SESSION_COOKIE_NAME
from api.security import operator_service
from ca.hierarchy import Hierarchy
from core.clock import FixedClock
from core.operators import OperatorRole
from idp.sessions import LoginSessions
from registry.records import AssuranceLevel
from tests.api._ra import golden_keys, installed_context
from tests.ca._issuance import add_entity, add_person, add_servant
from tests.idp._accounts import person_record
from tests.idp._web import new_national_id

__all__ = ["golden_keys"]

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
OFFICE = "Kampot One Window office"


@dataclass(frozen=True)
class User:
    person_id: str
    account_id: str
    operator_id: str | None


@dataclass(frozen=True)
class Citizen:
    person_id: str
    national_id: str


@pytest.fixture
def ctx(
    tmp_path: Path, db_url: str, clock: FixedClock, golden_keys: tuple[Path, Hierarchy]
) -> Iterator[AppContext]:
    context = installed_context(tmp_path / "var", db_url, golden_keys, clock)
    try:
        yield context
    finally:
        context.close()


def make_user(
    ctx: AppContext, name: str, *, roles: tuple[OperatorRole, ...], servant: bool = True
) -> User:
    """A person with an active IdP account; a civil servant (``servant``); linked to an
    operator holding ``roles`` (none: no operator)."""
    person = add_person(ctx.register, name_latin=name.replace("-", " ").title())
    if servant:
        add_servant(ctx.register, person, add_entity(ctx.register, kind="ministry"))
    account = ctx.idp_accounts().create(person.id, actor="test", activate=True)
    operator_id = None
    if roles:
        operator, _token = operator_service(ctx).add(name, roles, actor="test")
        ctx.idp_accounts().link_operator(account.id, operator.id, actor="test")
        operator_id = operator.id
    return User(person.id, account.id, operator_id)


@pytest.fixture
def officer(ctx: AppContext) -> User:
    return make_user(ctx, "officer-sokha", roles=(OperatorRole.RA_OFFICER,))


@pytest.fixture
def citizen(ctx: AppContext) -> Citizen:
    """A person who came to the counter: in the register with a phone, never proven."""
    number = new_national_id()
    person = ctx.register.add_person(person_record(number))
    return Citizen(person.id, number)


Browser = Callable[..., TestClient]


@pytest.fixture
def browser(ctx: AppContext, clock: FixedClock) -> Iterator[Browser]:
    """``browser(user, acr="high")``: a TestClient holding a login session of ``user``
    (``browser(None)``: one without a session)."""
    clients: list[TestClient] = []
    app = create_app(ctx)

    def open_as(user: User | None, *, acr: str = "high") -> TestClient:
        client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
        client.__enter__()
        clients.append(client)
        if user is not None:
            started = LoginSessions(ctx.sessions, ledger=ctx.ledger).start(
                user.account_id,
                acr=AssuranceLevel(acr),
                amr=("hwk",) if acr == "high" else ("pwd",),
                at=clock.now(),
            )
            client.cookies.set(SESSION_COOKIE_NAME(ctx.settings), started.token)
        return client

    yield open_as
    for client in clients:
        client.__exit__(None, None, None)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, html[:500]
    return found.group(1)


def post_form(
    client: TestClient,
    path: str,
    data: dict[str, str],
    *,
    page: str = "/officer",
    files: dict[str, tuple[str, bytes, str]] | None = None,
) -> Response:
    """POST ``data`` (in English, with ``office`` unless given) to ``path`` with the CSRF
    token of the page at ``page``, the way a browser submits the form."""
    token = csrf_of(client.get(page).text)
    form = {"csrf_token": token, "lang": "en", "office": OFFICE, **data}
    response: Response = client.post(path, data=form, files=files)
    return response
