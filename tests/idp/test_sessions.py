# ruff: noqa: F811 - pytest fixtures are imported from tests/idp/_accounts.py
"""Login sessions: cookie tokens, expiry, step-up, clients for logout, listing and ending."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLedger
from core.clock import FixedClock
from idp.accounts import Account
from idp.errors import SessionNotFound
from idp.sessions import LoginSession, LoginSessions, satisfies
from registry.records import AssuranceLevel
from tests.idp._accounts import (  # noqa: F401 - fixtures
    account,
    accounts,
    cache,
    events,
    ledger,
    login_sessions,
    passwords,
    person,
    register,
    throttle,
    totp,
)

LOW = AssuranceLevel.LOW
SUBSTANTIAL = AssuranceLevel.SUBSTANTIAL


def start(store: LoginSessions, account: Account, clock: FixedClock, acr: AssuranceLevel = LOW):  # type: ignore[no-untyped-def]
    return store.start(
        account.id, acr=acr, amr=["pwd"], at=clock.now(), source="192.0.2.1", user_agent="Firefox"
    )


def test_token_is_256_bits_and_only_its_hash_is_stored(
    login_sessions: LoginSessions,
    account: Account,
    clock: FixedClock,
    session_factory: sessionmaker[Session],
) -> None:
    started = start(login_sessions, account, clock)
    assert len(started.token) == 43  # 32 random bytes, base64url
    assert started.token not in repr(started)
    with session_factory() as session:
        dump = " ".join(
            str(v) for row in session.execute(text("SELECT * FROM idp_sessions")) for v in row
        )
    assert started.token not in dump
    found = login_sessions.get(started.token, at=clock.now())
    assert (found.id, found.acr, found.amr, found.auth_time) == (
        started.session.id,
        LOW,
        ("pwd",),
        clock.now(),
    )


def test_session_survives_a_new_worker(
    session_factory: sessionmaker[Session], ledger: AuditLedger, account: Account, clock: FixedClock
) -> None:
    started = start(LoginSessions(session_factory, ledger=ledger), account, clock)
    other_worker = LoginSessions(session_factory, ledger=ledger)
    assert other_worker.get(started.token, at=clock.now()).account_id == account.id


def test_unknown_token_is_not_found(login_sessions: LoginSessions, clock: FixedClock) -> None:
    with pytest.raises(SessionNotFound):
        login_sessions.get("x" * 43, at=clock.now())


def test_idle_session_expires_but_use_keeps_it_alive(
    login_sessions: LoginSessions, account: Account, clock: FixedClock
) -> None:
    started = start(login_sessions, account, clock)
    for _ in range(5):
        clock.advance(dt.timedelta(hours=1, minutes=50))
        login_sessions.get(started.token, at=clock.now())
    clock.advance(dt.timedelta(hours=2))
    with pytest.raises(SessionNotFound):
        login_sessions.get(started.token, at=clock.now())


def test_session_ends_after_its_maximum_lifetime_even_if_used(
    login_sessions: LoginSessions, account: Account, clock: FixedClock
) -> None:
    started = start(login_sessions, account, clock)
    for _ in range(6):
        clock.advance(dt.timedelta(hours=1, minutes=59))
        login_sessions.get(started.token, at=clock.now())
    clock.advance(dt.timedelta(minutes=10))
    with pytest.raises(SessionNotFound):
        login_sessions.get(started.token, at=clock.now())


def test_step_up_raises_acr_and_moves_auth_time(
    login_sessions: LoginSessions, account: Account, clock: FixedClock, ledger: AuditLedger
) -> None:
    started = start(login_sessions, account, clock)
    clock.advance(dt.timedelta(minutes=5))
    stepped = login_sessions.step_up(
        started.token, acr=SUBSTANTIAL, amr=["otp", "mfa"], at=clock.now()
    )
    assert (stepped.acr, stepped.amr, stepped.auth_time) == (
        SUBSTANTIAL,
        ("pwd", "otp", "mfa"),
        clock.now(),
    )
    # A later password-only re-authentication never lowers the level.
    again = login_sessions.step_up(started.token, acr=LOW, amr=["pwd"], at=clock.now())
    assert again.acr is SUBSTANTIAL
    assert events(ledger, "idp.session.stepped_up")[0].actor == account.id


def test_clients_are_remembered_for_back_channel_logout(
    login_sessions: LoginSessions, account: Account, clock: FixedClock, ledger: AuditLedger
) -> None:
    started = start(login_sessions, account, clock)
    for client in ("tax-portal", "business-registry", "tax-portal"):
        login_sessions.add_client(started.session.id, client, at=clock.now())
    ended = login_sessions.end(started.session.id, at=clock.now(), actor=account.id)
    assert ended.clients == ("business-registry", "tax-portal")
    with pytest.raises(SessionNotFound):
        login_sessions.get(started.token, at=clock.now())
    [entry] = events(ledger, "idp.session.ended")
    assert entry.subject == started.session.id


def test_list_and_end_sessions_of_an_account(
    login_sessions: LoginSessions, account: Account, clock: FixedClock
) -> None:
    phone = start(login_sessions, account, clock)
    clock.advance(dt.timedelta(minutes=1))
    laptop = start(login_sessions, account, clock)
    listed = login_sessions.list_for_account(account.id, at=clock.now())
    assert [s.id for s in listed] == [laptop.session.id, phone.session.id]
    assert listed[0].user_agent == "Firefox"
    login_sessions.end(phone.session.id, at=clock.now(), actor=account.id, account_id=account.id)
    assert [s.id for s in login_sessions.list_for_account(account.id, at=clock.now())] == [
        laptop.session.id
    ]
    ended = login_sessions.end_all(account.id, at=clock.now(), actor="officer", reason="lost_phone")
    assert [s.id for s in ended] == [laptop.session.id]
    assert login_sessions.list_for_account(account.id, at=clock.now()) == []


def test_cannot_end_another_accounts_session(
    login_sessions: LoginSessions, account: Account, clock: FixedClock
) -> None:
    started = start(login_sessions, account, clock)
    other = "6f1c1d55-4d7b-4e43-9a55-2d6f0a4d3f1e"
    with pytest.raises(SessionNotFound):
        login_sessions.end(started.session.id, at=clock.now(), actor=other, account_id=other)
    with pytest.raises(SessionNotFound):
        login_sessions.end("not-a-uuid", at=clock.now(), actor=other)
    login_sessions.get(started.token, at=clock.now())


def session_at(acr: AssuranceLevel, auth_time: dt.datetime) -> LoginSession:
    return LoginSession(
        id="s", account_id="a", acr=acr, amr=("pwd",), auth_time=auth_time,
        created_at=auth_time, last_seen_at=auth_time, expires_at=auth_time + dt.timedelta(hours=12),
        clients=(), source=None, user_agent=None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("acr", "acr_values", "max_age", "age_s", "expected"),
    [
        (LOW, None, None, 3000, True),
        (LOW, ["substantial"], None, 0, False),  # step-up needed
        (SUBSTANTIAL, ["low"], None, 0, True),  # higher satisfies lower
        (SUBSTANTIAL, ["high", "substantial"], None, 0, True),
        (LOW, ["urn:unknown:acr"], None, 0, True),  # unknown values are voluntary, ignored
        (SUBSTANTIAL, None, 600, 601, False),  # max_age exceeded
        (SUBSTANTIAL, None, 600, 600, True),
        (SUBSTANTIAL, None, 0, 0, False),  # max_age=0 always asks for a fresh login
    ],
)
def test_satisfies_acr_values_and_max_age(
    acr: AssuranceLevel,
    acr_values: list[str] | None,
    max_age: int | None,
    age_s: int,
    expected: bool,
    clock: FixedClock,
) -> None:
    session = session_at(acr, clock.now() - dt.timedelta(seconds=age_s))
    assert satisfies(session, acr_values=acr_values, max_age=max_age, at=clock.now()) is expected
