# ruff: noqa: F811 - pytest fixtures are imported from tests/idp/_accounts.py
"""The login hot path's held-connection and Core reads agree with the ORM reads they replace.

``idp.session_reads`` (the session and its clients), ``idp.account_reads`` (the account by id
and by person), ``EmbeddedRegister.person_and_servants`` and the Core consent read: each answer,
and each failure, is compared with the general path on the same rows (that path is what an
engine sharing one connection, or a register without the combined read, still uses).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

import idp.account_reads
import idp.accounts
import idp.sessions
from core.audit import AuditLedger
from core.clock import FixedClock
from core.operators import OperatorRole, OperatorService
from idp.account_models import AccountStatus
from idp.accounts import Account, AccountService
from idp.consents import Consents
from idp.errors import AccountNotFound, SessionNotFound
from idp.service import ProviderCore
from idp.session_reads import SessionReader, session_reader_for
from idp.sessions import LoginSessions
from registry.records import AssuranceLevel, CivilServant, Person
from registry.service import EmbeddedRegister
from tests.idp._accounts import (  # noqa: F401 - fixtures
    account,
    accounts,
    cache,
    ledger,
    login_sessions,
    passwords,
    person,
    register,
    throttle,
    totp,
)
from tests.idp._flow import secret_client


def _general(fast: AccountService, monkeypatch: pytest.MonkeyPatch) -> AccountService:
    """An account service over the same collaborators, built without held readers."""
    monkeypatch.setattr(idp.accounts, "account_reads_for", lambda _sessions: None)
    general = AccountService(
        fast._sessions,
        register=fast._register,
        ledger=fast._ledger,
        clock=fast._clock,
        passwords=fast._passwords,
        throttle=fast._throttle,
        totp=fast.totp,
    )
    monkeypatch.undo()
    return general


def _outcome(call: Any) -> Any:
    try:
        return call()
    except (AccountNotFound, SessionNotFound) as exc:
        return type(exc), str(exc)


def test_the_fast_paths_are_in_use_on_a_file_database(
    accounts: AccountService, login_sessions: LoginSessions, session_factory: Any
) -> None:
    assert accounts._reads is not None
    assert session_reader_for(session_factory) is not None


def test_session_read_agrees_with_the_orm_read(
    login_sessions: LoginSessions,
    account: Account,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = login_sessions.start(
        account.id, acr=AssuranceLevel.LOW, amr=["pwd"], at=clock.now(), source="192.0.2.1"
    )
    token = started.token

    def both(at: dt.datetime) -> tuple[Any, Any]:
        fast = _outcome(lambda: login_sessions.get(token, at=at))
        with monkeypatch.context() as patched:
            patched.setattr(idp.sessions, "session_reader_for", lambda _sessions: None)
            general = _outcome(lambda: login_sessions.get(token, at=at))
        return fast, general

    fast, general = both(clock.now())
    assert fast == general and fast.clients == ()
    for client_id in ("zeta-client", "alpha_client", "Mid-Client_2"):
        login_sessions.add_client(started.session.id, client_id, at=clock.now())
    fast, general = both(clock.now())
    assert fast == general
    assert fast.clients == ("Mid-Client_2", "alpha_client", "zeta-client")
    assert (
        both(clock.now() + idp.sessions.IDLE_TIMEOUT)
        == ((SessionNotFound, "no live login session; log in again"),) * 2
    )
    login_sessions.end(started.session.id, at=clock.now(), actor="test")
    assert both(clock.now())[0] == both(clock.now())[1]
    assert both(clock.now())[0][0] is SessionNotFound
    unknown = _outcome(lambda: login_sessions.get("x" * 43, at=clock.now()))
    assert unknown[0] is SessionNotFound


def test_account_reads_agree_with_the_orm_reads(
    accounts: AccountService, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    general = _general(accounts, monkeypatch)
    for account_id in (account.id, account.id.upper(), "0" * 8 + "-0000-4000-8000-" + "0" * 12,
                       "not-a-uuid", ""):  # fmt: skip
        assert _outcome(lambda a=account_id: accounts.get(a)) == _outcome(
            lambda a=account_id: general.get(a)
        )
    assert accounts.get(account.id) == account
    # Nothing is cached: a lock by any writer is seen by the next read.
    accounts.set_status(account.id, AccountStatus.LOCKED, actor="test")
    assert accounts.get(account.id).status is AccountStatus.LOCKED
    assert accounts.get(account.id) == general.get(account.id)


def _servant(register: EmbeddedRegister, person: Person) -> CivilServant:
    ministry = register.add_entity(
        {"register_no": "MOH-0001", "name_km": "ក្រសួងសុខាភិបាល",
         "name_en": "Ministry of Health", "kind": "ministry"}
    )  # fmt: skip
    return register.add_servant(
        {"person_id": person.id, "ministry_id": ministry.id, "unit": "Hospitals",
         "title": "Deputy Director", "title_km": "អនុប្រធាន"}
    )  # fmt: skip


class _PlainRegister:
    """A register with only the PopulationRegister reads (no combined person read)."""

    def __init__(self, register: EmbeddedRegister) -> None:
        self._register = register

    def get_person(self, person_id: str) -> Person:
        return self._register.get_person(person_id)

    def servants_of_person(self, person_id: str) -> tuple[CivilServant, ...]:
        return self._register.servants_of_person(person_id)


def test_claims_subject_of_person_agrees_with_the_general_path(
    accounts: AccountService,
    account: Account,
    person: Person,
    register: EmbeddedRegister,
    session_factory: sessionmaker[Session],
    ledger: AuditLedger,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    general = _general(accounts, monkeypatch)
    plain = _general(accounts, monkeypatch)
    plain._register = _PlainRegister(register)  # type: ignore[assignment]
    servant = _servant(register, person)
    operators = OperatorService(session_factory, ledger=ledger, clock=clock)
    operator, _token = operators.add("dara.ra", [OperatorRole.RA_OFFICER])
    accounts.link_operator(account.id, operator.id, actor="cli")

    subject = accounts.claims_subject_of_person(person.id)
    assert subject is not None
    assert subject == general.claims_subject_of_person(person.id)
    assert subject == plain.claims_subject_of_person(person.id)
    assert subject == accounts.claims_subject(account.id)
    assert subject.servants == (servant,) and subject.roles == {"ra-officer"}
    operators.disable("dara.ra")
    assert accounts.claims_subject_of_person(person.id).roles == frozenset()  # type: ignore[union-attr]

    no_account = register.add_person(
        {"national_id": "000765432", "name_km": "ចាន់ ធីតា", "name_latin": "Chan Thida",
         "birthdate": "1985-01-02", "sex": "F"}
    )  # fmt: skip
    for service in (accounts, general, plain):
        assert service.claims_subject_of_person(no_account.id) is None
    for missing in ("0" * 8 + "-0000-4000-8000-" + "0" * 12, "not-a-uuid"):
        errors = []
        for service in (accounts, general, plain):
            with pytest.raises(Exception) as caught:
                service.claims_subject_of_person(missing)
            errors.append((type(caught.value), str(caught.value)))
        assert errors[0] == errors[1] == errors[2]


def test_person_and_servants_is_get_person_and_servants_of_person(
    register: EmbeddedRegister, person: Person
) -> None:
    assert register.person_and_servants(person.id) == (person, ())
    servant = _servant(register, person)
    assert register.person_and_servants(person.id) == (
        register.get_person(person.id),
        register.servants_of_person(person.id),
    )
    assert register.person_and_servants(person.id)[1] == (servant,)


def test_consent_read_answers_as_before(
    session_factory: sessionmaker[Session],
    ledger: AuditLedger,
    account: Account,
    core: ProviderCore,
    clock: FixedClock,
) -> None:
    consents = Consents(session_factory, ledger=ledger)
    client_id = secret_client(core).client_id
    at = clock.now()
    assert consents.find(account.id, client_id, at=at) is None
    assert consents.find("not-a-uuid", client_id, at=at) is None
    granted = consents.grant(
        account.id, client_id, ["openid", "profile"], ["email"], at=at,
        lifetime=dt.timedelta(days=1),
    )  # fmt: skip
    assert consents.find(account.id.upper(), client_id, at=at) == granted
    assert consents.find(account.id, "another-client", at=at) is None
    assert consents.find(account.id, client_id, at=at + dt.timedelta(days=1)) is None


def test_session_read_for_a_client_carries_the_consent_find_gives(
    login_sessions: LoginSessions,
    session_factory: sessionmaker[Session],
    ledger: AuditLedger,
    account: Account,
    core: ProviderCore,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Asked for a client (/authorize), the session read brings the account's consent to it in
    the same statement: what ``Consents.find`` answers at the same moment - none, a consent, an
    expired one (none), another client's (none) - and a grant or withdrawal by any writer is
    seen by the next read. Not asked, or through the ORM path, it carries nothing."""
    consents = Consents(session_factory, ledger=ledger)
    client_id = secret_client(core).client_id
    at = clock.now()
    started = login_sessions.start(account.id, acr=AssuranceLevel.LOW, amr=["pwd"], at=at)

    def carried(client: str, when: dt.datetime) -> Any:
        return login_sessions.get(started.token, at=when, consent_for=client).consent

    assert carried(client_id, at) == (client_id, None)
    granted = consents.grant(
        account.id, client_id, ["openid", "profile"], ["email"], at=at,
        lifetime=dt.timedelta(minutes=2),
    )  # fmt: skip
    assert carried(client_id, at) == (client_id, granted)
    assert carried(client_id, at) == (client_id, consents.find(account.id, client_id, at=at))
    assert carried("another-client", at) == ("another-client", None)
    later = at + dt.timedelta(minutes=2)  # the consent has expired, the session has not
    assert carried(client_id, later) == (client_id, None)
    assert consents.find(account.id, client_id, at=later) is None

    assert login_sessions.get(started.token, at=at).consent is None  # not asked
    consents.withdraw(account.id, client_id, at=at)
    assert carried(client_id, at) == (client_id, None)

    with monkeypatch.context() as patched:
        patched.setattr(idp.sessions, "session_reader_for", lambda _sessions: None)
        assert carried(client_id, at) is None  # the ORM path: the decision reads it itself


def test_session_read_carries_its_account_and_reads_it_afresh(
    login_sessions: LoginSessions,
    accounts: AccountService,
    account: Account,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The session read brings the session's account (one statement, idp.session_reads): its
    person and status as the account read gives them, and a lock by any writer is seen by the
    next session read."""
    started = login_sessions.start(account.id, acr=AssuranceLevel.LOW, amr=["pwd"], at=clock.now())
    assert started.session.account is None  # made by start(): its caller reads the account
    found = login_sessions.get(started.token, at=clock.now())
    assert found.account == accounts.get(account.id) == account
    assert found.account is not None
    assert found.account.person_id == account.person_id
    assert found.account.status is AccountStatus.ACTIVE

    accounts.set_status(account.id, AccountStatus.LOCKED, actor="test")
    locked = login_sessions.get(started.token, at=clock.now())
    assert locked.account is not None and locked.account.status is AccountStatus.LOCKED
    assert locked.account == accounts.get(account.id)
    # The touch after TOUCH_GRANULARITY keeps the account the read brought.
    later = clock.now() + idp.sessions.TOUCH_GRANULARITY
    touched = login_sessions.get(started.token, at=later)
    assert touched.last_seen_at == later and touched.account == locked.account

    # The ORM path (engines sharing one connection) brings no account: the caller reads it.
    with monkeypatch.context() as patched:
        patched.setattr(idp.sessions, "session_reader_for", lambda _sessions: None)
        general = login_sessions.get(started.token, at=later)
    assert general.account is None
    assert general == touched  # the account is not compared


class _Row:
    """A held reader that answers with one fixed row."""

    def __init__(self, row: tuple[Any, ...]) -> None:
        self.row = row

    def fetch(self, value: object) -> tuple[Any, ...]:
        return self.row


def test_session_read_without_an_account_row_gives_no_account(
    login_sessions: LoginSessions,
    account: Account,
    clock: FixedClock,
    session_factory: sessionmaker[Session],
) -> None:
    """The outer join's NULLs (no account row) are no account, not an account of NULLs."""
    started = login_sessions.start(account.id, acr=AssuranceLevel.LOW, amr=["pwd"], at=clock.now())
    reader = session_reader_for(session_factory)
    assert reader is not None
    digest = idp.sessions._digest(started.token)
    found = reader.by_token_hash(digest)
    assert found is not None and found[2] == account
    row = reader._reader.fetch(digest)
    assert row is not None
    width = len(idp.account_reads.ACCOUNT_COLUMNS)
    orphan = SessionReader(_Row(row[:-width] + (None,) * width), _Row(()))  # type: ignore[arg-type]
    assert orphan.by_token_hash(digest) == (found[0], found[1], None, None)
