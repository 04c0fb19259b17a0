"""Fixtures for the account tests: a register with people, the account services on a real
database (SQLite and PostgreSQL), cheap Argon2 parameters, and a TOTP code maker.

Imported by the test modules (``from tests.idp._accounts import *``-style, by name).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyotp
import pytest
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLedger
from core.cache import InMemoryCache
from core.clock import FixedClock
from idp.accounts import Account, AccountService
from idp.passwords import Argon2Parameters, Passwords
from idp.sessions import LoginSessions
from idp.throttle import LoginThrottle
from idp.totp import STEP_SECONDS, SecretBox, TotpAuthenticators, derive_key
from registry.records import Person
from registry.service import EmbeddedRegister

#: Cheap parameters for tests; the defaults are checked in test_passwords.py.
FAST = Argon2Parameters(time_cost=1, memory_kib=1024, parallelism=1)
SECRET = b"test secret material for the idp"
NATIONAL_ID = "000123456"
PASSWORD = "river mango lantern"
SOURCE = "192.0.2.10"


def person_record(national_id: str = NATIONAL_ID, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "national_id": national_id,
        "name_km": "សុខ ដារា",
        "name_latin": "Sok Dara",
        "birthdate": "1990-04-17",
        "sex": "F",
        "address": "No. 12, Street 271, Phnom Penh, Cambodia",
        "email": "sok.dara@example.com",
        "phone": "+85512345678",
    }
    record.update(extra)
    return record


def code_at(secret: str, at: dt.datetime, offset: int = 0) -> str:
    """The TOTP code an authenticator app shows at ``at`` (``offset`` steps away)."""
    step = int(at.timestamp()) // STEP_SECONDS + offset
    return pyotp.TOTP(secret).generate_otp(step)


def events(ledger: AuditLedger, name: str) -> list[Any]:
    return [e for e in ledger.tail(500) if e.event == name]


@pytest.fixture
def ledger(session_factory: sessionmaker[Session], clock: FixedClock) -> AuditLedger:
    return AuditLedger(session_factory, clock=clock)


@pytest.fixture
def register(
    session_factory: sessionmaker[Session], clock: FixedClock, ledger: AuditLedger
) -> EmbeddedRegister:
    return EmbeddedRegister(session_factory, clock=clock, ledger=ledger)


@pytest.fixture
def person(register: EmbeddedRegister) -> Person:
    """A person proven in person at a One Window office (level high)."""
    added = register.add_person(person_record())
    register.record_proofing(
        added.id,
        method="in_person",
        level="high",
        evidence="national_id_card",
        office="Phnom Penh One Window office",
    )
    return added


@pytest.fixture
def cache(clock: FixedClock) -> InMemoryCache:
    return InMemoryCache(clock=clock)


@pytest.fixture
def passwords() -> Passwords:
    return Passwords(FAST)


@pytest.fixture
def totp(session_factory: sessionmaker[Session], ledger: AuditLedger) -> TotpAuthenticators:
    return TotpAuthenticators(session_factory, box=SecretBox.derive(SECRET), ledger=ledger)


@pytest.fixture
def throttle(cache: InMemoryCache, clock: FixedClock) -> LoginThrottle:
    return LoginThrottle(cache, clock=clock, key=derive_key(SECRET, "throttle"))


@pytest.fixture
def accounts(
    session_factory: sessionmaker[Session],
    register: EmbeddedRegister,
    ledger: AuditLedger,
    clock: FixedClock,
    passwords: Passwords,
    throttle: LoginThrottle,
    totp: TotpAuthenticators,
) -> AccountService:
    return AccountService(
        session_factory,
        register=register,
        ledger=ledger,
        clock=clock,
        passwords=passwords,
        throttle=throttle,
        totp=totp,
    )


@pytest.fixture
def account(accounts: AccountService, person: Person) -> Account:
    created = accounts.create(person.id, actor="test")
    return accounts.set_password(created.id, PASSWORD, actor="test", activate=True)


@pytest.fixture
def login_sessions(session_factory: sessionmaker[Session], ledger: AuditLedger) -> LoginSessions:
    return LoginSessions(session_factory, ledger=ledger)
