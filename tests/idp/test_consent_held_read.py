# ruff: noqa: F811 - pytest fixtures are imported from tests/idp/_accounts.py
"""The consent reads on held connections (idp/consents.py) answer as the general path does.

``Consents.find`` (every ``/authorize``) and ``Consents.find_for_person`` (every KYC call) read
on a connection held by :class:`core.held_read.HeldReader`; engines that share one connection
read through ``store_read_core``. Each answer and each failure is compared on the same rows,
on SQLite and PostgreSQL, and a consent granted or withdrawn through another engine (another
worker) is seen by the very next read.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

import idp.consents
from core.audit import AuditLedger
from core.clock import FixedClock
from core.db import make_engine, make_session_factory
from core.held_read import sessions_reader_for
from idp.account_models import read_failed
from idp.accounts import Account
from idp.consents import _FIND, _FIND_FOR_PERSON, Consents
from idp.errors import AccountStoreUnavailable
from idp.service import ProviderCore
from registry.records import Person
from tests.idp._accounts import (  # noqa: F401 - fixtures
    account,
    accounts,
    cache,
    ledger,
    passwords,
    person,
    register,
    throttle,
    totp,
)
from tests.idp._flow import secret_client

NO_ID = "0" * 8 + "-0000-4000-8000-" + "0" * 12


def _both(
    consents: Consents, monkeypatch: pytest.MonkeyPatch, call: Callable[[Consents], Any]
) -> tuple[Any, Any]:
    """``call`` on the held path, then on the general path (no reader), as (value or error)."""

    def outcome() -> Any:
        try:
            return call(consents)
        except Exception as exc:
            return type(exc), str(exc)

    held = outcome()
    with monkeypatch.context() as patched:
        patched.setattr(idp.consents, "sessions_reader_for", lambda *_a, **_k: None)
        general = outcome()
    return held, general


def test_the_held_readers_are_used_on_a_file_database(
    session_factory: sessionmaker[Session], ledger: AuditLedger, account: Account, clock: FixedClock
) -> None:
    consents = Consents(session_factory, ledger=ledger)
    consents.find(account.id, "any-client", at=clock.now())
    consents.find_for_person(account.person_id, "any-client", at=clock.now())
    for statement in (_FIND, _FIND_FOR_PERSON):
        reader = sessions_reader_for(
            session_factory, statement, on_failure=read_failed, label="IdP"
        )
        assert reader is not None and reader.idle_connections() == 1


def test_find_agrees_with_the_general_path(
    session_factory: sessionmaker[Session],
    ledger: AuditLedger,
    account: Account,
    core: ProviderCore,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consents = Consents(session_factory, ledger=ledger)
    client_id = secret_client(core).client_id
    other_client = secret_client(core).client_id
    at = clock.now()
    granted = consents.grant(
        account.id, client_id, ["openid", "profile", "email"], ["email", "phone_number"],
        at=at, lifetime=dt.timedelta(days=1),
    )  # fmt: skip
    cases: list[tuple[str, str, dt.datetime]] = [
        (account.id, client_id, at),  # live
        (account.id.upper(), client_id, at),  # the same id, another spelling
        (account.id, client_id, at + dt.timedelta(hours=23, minutes=59)),  # about to expire
        (account.id, client_id, at + dt.timedelta(days=1)),  # expired at that instant
        (account.id, client_id, at + dt.timedelta(days=400)),  # long expired
        (account.id, other_client, at),  # no consent for that client
        (account.id, "no-such-client", at),
        (NO_ID, client_id, at),  # no such account
        ("not-a-uuid", client_id, at),  # malformed
        ("", client_id, at),
    ]
    answers = []
    for account_id, client, when in cases:
        find = functools.partial(Consents.find, account_id=account_id, client_id=client, at=when)
        held, general = _both(consents, monkeypatch, find)
        assert held == general, (account_id, client, when)
        answers.append(held)
    assert answers[:3] == [granted] * 3
    assert answers[3:] == [None] * 7
    assert granted.granted_at == at and granted.granted_at.tzinfo is not None
    assert granted.scopes == {"openid", "profile", "email"}


def test_find_for_person_agrees_with_the_general_path(
    session_factory: sessionmaker[Session],
    ledger: AuditLedger,
    account: Account,
    person: Person,
    register: Any,
    core: ProviderCore,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consents = Consents(session_factory, ledger=ledger)
    client_id = secret_client(core).client_id
    at = clock.now()
    granted = consents.grant(account.id, client_id, ["openid"], [], at=at)
    no_account = register.add_person(
        {"national_id": "000765432", "name_km": "ចាន់ ធីតា", "name_latin": "Chan Thida",
         "birthdate": "1985-01-02", "sex": "F"}
    )  # fmt: skip
    cases: list[tuple[str, str, dt.datetime]] = [
        (person.id, client_id, at),
        (person.id.upper(), client_id, at),
        (person.id, client_id, at + idp.consents.DEFAULT_LIFETIME),  # expired
        (person.id, "no-such-client", at),
        (no_account.id, client_id, at),  # a person without an account
        (NO_ID, client_id, at),
        ("not-a-uuid", client_id, at),
    ]
    answers = []
    for person_id, client, when in cases:
        find = functools.partial(
            Consents.find_for_person, person_id=person_id, client_id=client, at=when
        )
        held, general = _both(consents, monkeypatch, find)
        assert held == general, (person_id, client, when)
        answers.append(held)
    assert answers == [granted, granted] + [None] * 5


def test_a_grant_or_withdrawal_by_another_worker_is_seen_by_the_next_read(
    db_url: str,
    session_factory: sessionmaker[Session],
    ledger: AuditLedger,
    account: Account,
    core: ProviderCore,
    clock: FixedClock,
) -> None:
    consents = Consents(session_factory, ledger=ledger)
    client_id = secret_client(core).client_id
    at = clock.now()
    assert consents.find(account.id, client_id, at=at) is None  # a held connection now exists
    assert consents.find_for_person(account.person_id, client_id, at=at) is None
    other_engine = make_engine(db_url)
    try:
        other_sessions = make_session_factory(other_engine)
        other = Consents(other_sessions, ledger=AuditLedger(other_sessions, clock=clock))
        granted = other.grant(account.id, client_id, ["openid", "profile"], [], at=at)
        assert consents.find(account.id, client_id, at=at) == granted
        assert consents.find_for_person(account.person_id, client_id, at=at) == granted
        wider = other.grant(account.id, client_id, ["email"], ["email"], at=at)
        assert consents.find(account.id, client_id, at=at) == wider != granted
        assert other.withdraw(account.id, client_id, at=at)
        assert consents.find(account.id, client_id, at=at) is None
        assert consents.find_for_person(account.person_id, client_id, at=at) is None
    finally:
        other_engine.dispose()


def test_a_failing_database_raises_what_the_general_path_raises(
    failing_sessions: sessionmaker[Session],
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    consents = Consents(failing_sessions, ledger=AuditLedger(failing_sessions, clock=clock))
    reader = sessions_reader_for(failing_sessions, _FIND, on_failure=read_failed, label="IdP")
    assert reader is not None
    for call in (
        lambda c: c.find(NO_ID, "client", at=clock.now()),
        lambda c: c.find_for_person(NO_ID, "client", at=clock.now()),
    ):
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            held, general = _both(consents, monkeypatch, call)
        assert held == general
        assert held[0] is AccountStoreUnavailable
        assert "SELECT" not in held[1] and "idp_consents" not in held[1]
        logged = [r.getMessage() for r in caplog.records if r.name.startswith("idp")]
        assert logged == ["account store error"] * 2  # once per path, as before
