# ruff: noqa: F811 - pytest fixtures are imported from tests/idp/_accounts.py
"""Consents (idp/consents.py) on SQLite and PostgreSQL: grant, merge, refuse, expire, withdraw."""

from __future__ import annotations

import datetime as dt

import pytest

from core.audit import AuditLedger
from core.clock import FixedClock
from core.errors import InvalidInput
from idp.accounts import Account
from idp.clients import Client
from idp.consents import Consents, InvalidConsent
from idp.service import ProviderCore
from tests.idp._accounts import (  # noqa: F401 - fixtures
    account,
    accounts,
    cache,
    events,
    ledger,
    passwords,
    person,
    register,
    throttle,
    totp,
)
from tests.idp._flow import secret_client


@pytest.fixture
def store(session_factory, ledger: AuditLedger) -> Consents:  # type: ignore[no-untyped-def]
    return Consents(session_factory, ledger=ledger)


@pytest.fixture
def client(core: ProviderCore) -> Client:
    return secret_client(core)


def test_granted_consent_covers_what_was_granted_and_nothing_more(
    store: Consents, account: Account, client: Client, clock: FixedClock
) -> None:
    now = clock.now()
    assert store.find(account.id, client.client_id, at=now) is None
    assert not store.covers(account.id, client.client_id, ["openid"], [], at=now)
    granted = store.grant(account.id, client.client_id, ["profile"], ["birthdate"], at=now)
    assert granted.scopes == {"openid", "profile"}  # openid always
    assert granted.claims == {"birthdate"}
    assert granted.expires_at == now + dt.timedelta(days=365)
    assert store.covers(account.id, client.client_id, ["openid", "profile"], ["birthdate"], at=now)
    assert not store.covers(account.id, client.client_id, ["openid", "email"], [], at=now)
    assert not store.covers(account.id, client.client_id, ["openid"], ["phone_number"], at=now)
    found = store.find(account.id, client.client_id, at=now)
    assert found == granted


def test_a_new_grant_adds_to_the_old_one_and_refusals_take_items_away(
    store: Consents, account: Account, client: Client, clock: FixedClock
) -> None:
    now = clock.now()
    store.grant(account.id, client.client_id, ["profile", "email"], ["birthdate"], at=now)
    later = now + dt.timedelta(days=1)
    merged = store.grant(
        account.id, client.client_id, ["phone"], [], at=later,
        refused_scopes=["email", "openid"], refused_claims=["birthdate"],
    )  # fmt: skip
    assert merged.scopes == {"openid", "profile", "phone"}  # openid cannot be refused
    assert merged.claims == frozenset()
    assert merged.granted_at == later


def test_an_expired_consent_covers_nothing_and_is_not_merged(
    store: Consents, account: Account, client: Client, clock: FixedClock
) -> None:
    now = clock.now()
    store.grant(account.id, client.client_id, ["email"], [], at=now, lifetime=dt.timedelta(days=1))
    after = now + dt.timedelta(days=1)
    assert store.find(account.id, client.client_id, at=after) is None
    assert not store.covers(account.id, client.client_id, ["openid"], [], at=after)
    assert store.list_for_account(account.id, at=after) == []
    renewed = store.grant(account.id, client.client_id, ["profile"], [], at=after)
    assert renewed.scopes == {"openid", "profile"}  # the lapsed "email" is not revived


def test_withdraw_removes_the_consent_and_is_audited(
    store: Consents, account: Account, client: Client, clock: FixedClock, ledger: AuditLedger
) -> None:
    now = clock.now()
    store.grant(account.id, client.client_id, ["email"], ["phone_number"], at=now)
    assert store.withdraw(account.id, client.client_id, at=now) is True
    assert store.find(account.id, client.client_id, at=now) is None
    assert store.withdraw(account.id, client.client_id, at=now) is False
    granted = events(ledger, "idp.consent.granted")[0]
    assert granted.actor == account.id and granted.subject == client.client_id
    assert granted.data["scopes"] == ["email", "openid"]
    assert granted.data["claims"] == ["phone_number"]
    withdrawn = events(ledger, "idp.consent.withdrawn")
    assert len(withdrawn) == 1 and withdrawn[0].subject == client.client_id


def test_list_for_account_is_newest_first_and_per_account(
    store: Consents, account: Account, core: ProviderCore, clock: FixedClock
) -> None:
    first = secret_client(core)
    second = core.clients.add(
        name="Tax office", redirect_uris=["https://tax.gov.kh/cb"],
        auth_method="client_secret_basic",
    ).client  # fmt: skip
    now = clock.now()
    store.grant(account.id, first.client_id, ["profile"], [], at=now)
    store.grant(account.id, second.client_id, ["email"], [], at=now + dt.timedelta(hours=1))
    listed = store.list_for_account(account.id, at=now + dt.timedelta(hours=2))
    assert [c.client_id for c in listed] == [second.client_id, first.client_id]
    other = "6f1c2b9e-5d0a-4e47-9a53-2f8e3b1c7d10"
    assert store.list_for_account(other, at=now) == []


@pytest.mark.parametrize(
    ("scopes", "claims"),
    [
        (["pro file"], []),
        ([], ["a b"]),
        ([""], []),
        (["x" * 101], []),
        ([f"s{i}" for i in range(101)], []),
    ],
)
def test_malformed_names_are_refused(
    store: Consents, account: Account, client: Client, clock: FixedClock,
    scopes: list[str], claims: list[str],
) -> None:  # fmt: skip
    with pytest.raises(InvalidConsent):
        store.grant(account.id, client.client_id, scopes, claims, at=clock.now())
    assert store.find(account.id, client.client_id, at=clock.now()) is None


def test_bad_lifetime_and_account_id_are_refused(
    store: Consents, account: Account, client: Client, clock: FixedClock
) -> None:
    with pytest.raises(InvalidConsent):
        store.grant(account.id, client.client_id, [], [], at=clock.now(), lifetime=dt.timedelta(0))
    with pytest.raises(InvalidConsent):
        store.grant("not-a-uuid", client.client_id, [], [], at=clock.now())
    assert store.find("not-a-uuid", client.client_id, at=clock.now()) is None


def test_naive_times_are_refused(store: Consents, account: Account, client: Client) -> None:
    with pytest.raises(InvalidInput, match="timezone-aware"):
        store.find(account.id, client.client_id, at=dt.datetime(2026, 11, 1))
