"""Fixtures of the life-event tests: a real application (every router) on a context whose data
directory holds the session's CA hierarchy (tests/api/_ra.py), an operator allowed to push
register events, and a citizen with everything a death must reach: a login session, a refresh
token, a consent, certificates as a citizen and as a civil servant, and an operator role.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import AppContext
from api.security import operator_service
from ca.hierarchy import Hierarchy
from ca.store import IssuedCertificate
from core.clock import FixedClock
from core.operators import OperatorRole
from idp.consents import Consents
from registry import CivilServant, Person
from tests.api._ra import golden_keys, installed_context, operator_token
from tests.api.idp_token._rp import RegisteredRP
from tests.api.idp_token._tokens import get_tokens
from tests.ca._issuance import add_entity, add_servant
from tests.idp._web import browser_login, fast_passwords, make_person_with_login, totp_code

__all__ = ["golden_keys"]


@pytest.fixture
def lc_ctx(
    tmp_path: Path, db_url: str, clock: FixedClock, golden_keys: tuple[Path, Hierarchy]
) -> Iterator[AppContext]:
    ctx = installed_context(tmp_path / "var", db_url, golden_keys, clock)
    ctx.idp_core().signing_keys.ensure_active(actor="test")
    fast_passwords(ctx)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def client(lc_ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(lc_ctx), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def pusher(lc_ctx: AppContext) -> dict[str, str]:
    """Authorization header of a CA operator (the role that may push register events)."""
    _id, token = operator_token(lc_ctx, "crvs.feed", OperatorRole.CA_OPERATOR)
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Citizen:
    person: Person
    national_id: str
    password: str
    totp_secret: str
    servant: CivilServant
    certificates: list[IssuedCertificate]
    gov_certificates: list[IssuedCertificate]
    rp: RegisteredRP
    refresh_token: str
    operator_id: str


@pytest.fixture
def citizen(lc_ctx: AppContext, client: TestClient) -> Citizen:
    ctx = lc_ctx
    national_id, password, secret = make_person_with_login(ctx)
    assert secret is not None
    person = ctx.register.find_person_by_national_id(national_id)
    assert person is not None
    ministry = add_entity(ctx.register, kind="ministry")
    servant = add_servant(ctx.register, person, ministry)
    ca = ctx.ca()
    certificates = [
        ca.issue_with_server_key(profile, person.id, actor="test")
        for profile in ("citizen-auth", "citizen-sign")
    ]
    gov = [
        ca.issue_with_server_key(profile, servant.id, actor="test")
        for profile in ("gov-auth", "gov-sign")
    ]
    # A relying party holding a refresh token of the person, and the person's consent to it.
    core = ctx.idp_core()
    registered = core.clients.add(
        name="Ministry portal",
        redirect_uris=["https://portal.moh.gov.kh/cb"],
        auth_method="client_secret_basic",
    )
    assert registered.client_secret is not None
    rp = RegisteredRP(registered.client, secret=registered.client_secret)
    tokens = get_tokens(client, core, ctx, rp, person.id)
    account = ctx.idp_accounts().find_by_person(person.id)
    assert account is not None
    Consents(ctx.sessions, ledger=ctx.ledger).grant(
        account.id, rp.client.client_id, ["openid", "profile"], [], at=ctx.clock.now()
    )
    # The person is also an RA officer (an operator linked to their account).
    operator, _issued = operator_service(ctx).add("dara.ra", [OperatorRole.RA_OFFICER])
    ctx.idp_accounts().link_operator(account.id, operator.id, actor="test")
    return Citizen(
        person=person,
        national_id=national_id,
        password=password,
        totp_secret=secret,
        servant=servant,
        certificates=certificates,
        gov_certificates=gov,
        rp=rp,
        refresh_token=tokens["refresh_token"],
        operator_id=operator.id,
    )


def login(client: TestClient, ctx: AppContext, who: Citizen) -> None:
    """Log the citizen in through the pages (password, then TOTP)."""
    answer = browser_login(
        client, who.national_id, who.password, code=totp_code(who.totp_secret, ctx.clock.now())
    )
    assert answer.status_code == 303, answer.text


def later(clock: FixedClock, minutes: int = 5) -> None:
    clock.advance(dt.timedelta(minutes=minutes))
