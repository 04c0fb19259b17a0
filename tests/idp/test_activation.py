# ruff: noqa: F811 - pytest fixtures are imported from tests/idp/_accounts.py
"""Activation codes: issued once, stored only as a keyed hash, single-use, 14 days, replaced
by a re-issue, rate-limited, one generic answer for every failure, audited, sent by SMS."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLedger
from core.cache import InMemoryCache
from core.clock import FixedClock
from core.notify import OutboxNotifier, read_outbox
from idp.account_models import AccountStatus
from idp.accounts import AccountService
from idp.activation import (
    ALPHABET,
    ActivationFailed,
    ActivationService,
    normalise_code,
)
from idp.activation_models import ActivationCodeRow
from idp.errors import AccountNotActive
from idp.throttle import LoginThrottle
from idp.totp import derive_key
from registry.errors import SubjectNotFound
from registry.models import PersonRow
from registry.records import Person
from registry.service import EmbeddedRegister
from tests.idp._accounts import (  # noqa: F401 - fixtures
    NATIONAL_ID,
    SECRET,
    SOURCE,
    accounts,
    cache,
    events,
    ledger,
    passwords,
    person,
    person_record,
    register,
    throttle,
    totp,
)

OFFICER = "6f1c2d3e-0000-4000-8000-000000000001"
OFFICE = "Phnom Penh One Window office"
_SHAPE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{2}$")


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


@pytest.fixture
def service(
    session_factory: sessionmaker[Session],
    accounts: AccountService,
    register: EmbeddedRegister,
    ledger: AuditLedger,
    cache: InMemoryCache,
    clock: FixedClock,
    outbox: Path,
) -> ActivationService:
    return ActivationService(
        session_factory,
        accounts=accounts,
        register=register,
        ledger=ledger,
        notifier=OutboxNotifier(outbox),
        throttle=LoginThrottle(
            cache, clock=clock, key=derive_key(SECRET, "activation-throttle"), prefix="idp:act"
        ),
        key=derive_key(SECRET, "activation-code"),
        public_base_url="https://id.natid.gov.kh/",
    )


def _other_person(register: EmbeddedRegister, national_id: str, **extra: object) -> Person:
    return register.add_person(person_record(national_id, **extra))


def test_issue_opens_a_pending_account_and_shows_a_grouped_code(
    service: ActivationService, accounts: AccountService, person: Person, clock: FixedClock
) -> None:
    issued = service.issue(person.id, officer=OFFICER, office=OFFICE, at=clock.now())
    assert _SHAPE.match(issued.code), issued.code
    assert issued.person_id == person.id
    assert issued.expires_at == clock.now() + dt.timedelta(days=14)
    assert issued.activate_url == f"https://id.natid.gov.kh/activate?code={issued.code}"
    assert NATIONAL_ID not in issued.activate_url
    account = accounts.get(issued.account_id)
    assert account.person_id == person.id
    assert account.status is AccountStatus.PENDING
    assert issued.code not in repr(issued)


def test_codes_use_the_unambiguous_alphabet_and_differ(
    service: ActivationService, person: Person, clock: FixedClock
) -> None:
    codes = {
        service.issue(person.id, officer=OFFICER, office=OFFICE, at=clock.now()).code
        for _ in range(20)
    }
    assert len(codes) == 20
    for code in codes:
        assert set(code.replace("-", "")) <= set(ALPHABET)
        assert not set(code) & set("ILOU")


def test_code_is_stored_only_as_a_keyed_hash(
    service: ActivationService,
    person: Person,
    clock: FixedClock,
    session_factory: sessionmaker[Session],
) -> None:
    issued = service.issue(person.id, officer=OFFICER, office=OFFICE, at=clock.now())
    compact = issued.code.replace("-", "")
    with session_factory() as session:
        columns = [c.key for c in inspect(ActivationCodeRow).columns]
        rows = session.execute(text("SELECT * FROM idp_activation_codes")).all()
    assert len(rows) == 1
    values = [str(v) for v in rows[0]]
    assert all(compact not in v and issued.code not in v for v in values)
    assert NATIONAL_ID not in " ".join(values)
    assert "code_hmac" in columns


def test_redeem_with_the_right_number_and_code(
    service: ActivationService, person: Person, clock: FixedClock, ledger: AuditLedger
) -> None:
    issued = service.issue(person.id, officer=OFFICER, office=OFFICE, at=clock.now())
    typed = issued.code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    account_id = service.redeem(f"{NATIONAL_ID[:3]} {NATIONAL_ID[3:]}", typed,
                                source=SOURCE, at=clock.now())  # fmt: skip
    assert account_id == issued.account_id
    [redeemed] = events(ledger, "idp.activation.redeemed")
    assert redeemed.actor == issued.account_id
    assert redeemed.data["activation_id"] == issued.activation_id


def test_code_reuse_refused(service: ActivationService, person: Person, clock: FixedClock) -> None:
    issued = service.issue(person.id, officer=OFFICER, office=OFFICE, at=clock.now())
    service.redeem(NATIONAL_ID, issued.code, source=SOURCE, at=clock.now())
    with pytest.raises(ActivationFailed):
        service.redeem(NATIONAL_ID, issued.code, source=SOURCE, at=clock.now())


def test_code_expires_after_fourteen_days(
    service: ActivationService, person: Person, clock: FixedClock, ledger: AuditLedger
) -> None:
    issued = service.issue(person.id, officer=OFFICER, office=OFFICE, at=clock.now())
    clock.advance(dt.timedelta(days=14))
    with pytest.raises(ActivationFailed):
        service.redeem(NATIONAL_ID, issued.code, source=SOURCE, at=clock.now())
    assert events(ledger, "idp.activation.failed")[-1].data["reason"] == "expired"


def test_code_still_works_just_before_fourteen_days(
    service: ActivationService, person: Person, clock: FixedClock
) -> None:
    issued = service.issue(person.id, officer=OFFICER, office=OFFICE, at=clock.now())
    clock.advance(dt.timedelta(days=14) - dt.timedelta(seconds=1))
    assert service.redeem(NATIONAL_ID, issued.code, source=SOURCE, at=clock.now())


def test_reissue_invalidates_the_earlier_code(
    service: ActivationService, person: Person, clock: FixedClock, ledger: AuditLedger
) -> None:
    first = service.issue(person.id, officer=OFFICER, office=OFFICE, at=clock.now())
    second = service.issue(person.id, officer=OFFICER, office=OFFICE, at=clock.now())
    assert first.account_id == second.account_id
    assert service.live_codes(person.id, at=clock.now()) == 1
    with pytest.raises(ActivationFailed):
        service.redeem(NATIONAL_ID, first.code, source=SOURCE, at=clock.now())
    assert events(ledger, "idp.activation.failed")[-1].data["reason"] == "revoked"
    assert service.redeem(NATIONAL_ID, second.code, source=SOURCE, at=clock.now())
    assert events(ledger, "idp.activation.issued")[-1].data["revoked_earlier"] == 1


def test_code_of_another_person_does_not_open_their_account(
    service: ActivationService, register: EmbeddedRegister, person: Person, clock: FixedClock
) -> None:
    other = _other_person(register, "000999888")
    issued = service.issue(other.id, officer=OFFICER, office=OFFICE, at=clock.now())
    service.issue(person.id, officer=OFFICER, office=OFFICE, at=clock.now())
    with pytest.raises(ActivationFailed):
        service.redeem(NATIONAL_ID, issued.code, source=SOURCE, at=clock.now())


def test_every_failure_gives_the_same_answer(
    service: ActivationService, person: Person, clock: FixedClock, ledger: AuditLedger
) -> None:
    issued = service.issue(person.id, officer=OFFICER, office=OFFICE, at=clock.now())
    messages = []
    for number, code in [
        ("000000001", issued.code),  # unknown ID card number
        ("not a number", issued.code),  # malformed number
        (NATIONAL_ID, "7KQ4-M2XD-9P"),  # wrong code
        (NATIONAL_ID, "short"),  # not a code at all
    ]:
        with pytest.raises(ActivationFailed) as caught:
            service.redeem(number, code, source=SOURCE, at=clock.now())
        messages.append((str(caught.value), caught.value.code))
    service.redeem(NATIONAL_ID, issued.code, source="198.51.100.7", at=clock.now())
    with pytest.raises(ActivationFailed) as used:
        service.redeem(NATIONAL_ID, issued.code, source="198.51.100.7", at=clock.now())
    messages.append((str(used.value), used.value.code))
    assert len(set(messages)) == 1
    assert NATIONAL_ID not in messages[0][0]
    reasons = [e.data["reason"] for e in events(ledger, "idp.activation.failed")]
    assert reasons == ["unknown_identifier", "unknown_identifier", "wrong_code", "wrong_code",
                       "used"]  # fmt: skip


def test_guessing_is_rate_limited_per_person_even_with_the_right_code(
    service: ActivationService, person: Person, clock: FixedClock, ledger: AuditLedger
) -> None:
    issued = service.issue(person.id, officer=OFFICER, office=OFFICE, at=clock.now())
    for i in range(4):
        with pytest.raises(ActivationFailed):
            service.redeem(NATIONAL_ID, f"AAAA-AAAA-A{i}", source=f"203.0.113.{i}", at=clock.now())
    # The fifth try comes from yet another address, with the right code: still refused.
    with pytest.raises(ActivationFailed) as caught:
        service.redeem(NATIONAL_ID, issued.code, source="203.0.113.99", at=clock.now())
    assert "wrong, expired or already used" in str(caught.value)
    assert events(ledger, "idp.activation.failed")[-1].data["reason"] == "throttled"
    clock.advance(dt.timedelta(minutes=5))
    assert service.redeem(NATIONAL_ID, issued.code, source=SOURCE, at=clock.now())


def test_guessing_is_rate_limited_per_source(
    service: ActivationService, register: EmbeddedRegister, clock: FixedClock, ledger: AuditLedger
) -> None:
    for i in range(51):
        with pytest.raises(ActivationFailed):
            service.redeem(f"5{i:08d}", "AAAA-AAAA-AA", source=SOURCE, at=clock.now())
    target = _other_person(register, "000777666")
    issued = service.issue(target.id, officer=OFFICER, office=OFFICE, at=clock.now())
    with pytest.raises(ActivationFailed):
        service.redeem("000777666", issued.code, source=SOURCE, at=clock.now())
    assert events(ledger, "idp.activation.failed")[-1].data["reason"] == "throttled"


def test_audit_entries_carry_ids_never_the_code_or_number(
    service: ActivationService, person: Person, clock: FixedClock, ledger: AuditLedger
) -> None:
    issued = service.issue(person.id, officer=OFFICER, office=OFFICE, at=clock.now())
    with pytest.raises(ActivationFailed):
        service.redeem(NATIONAL_ID, "AAAA-AAAA-AA", source=SOURCE, at=clock.now())
    service.redeem(NATIONAL_ID, issued.code, source=SOURCE, at=clock.now())
    [entry] = events(ledger, "idp.activation.issued")
    assert entry.actor == OFFICER
    assert entry.subject == issued.account_id
    assert entry.data["office"] == OFFICE
    assert entry.data["person_id"] == person.id
    assert entry.data["activation_id"] == issued.activation_id
    dumped = json.dumps([[e.event, e.actor, e.subject, e.data] for e in ledger.tail(200)])
    assert NATIONAL_ID not in dumped
    assert issued.code not in dumped and issued.code.replace("-", "") not in dumped


def test_sms_with_the_code_goes_to_the_registered_phone(
    service: ActivationService, person: Person, clock: FixedClock, outbox: Path
) -> None:
    issued = service.issue(person.id, officer=OFFICER, office=OFFICE, at=clock.now())
    assert issued.sms_sent
    [message] = read_outbox(outbox)
    assert message["kind"] == "activation_code"
    assert message["to_phone"] == "+85512345678"
    assert message["person_id"] == person.id
    assert issued.code in message["text"]
    assert "activation code" in message["text"]  # English
    assert "លេខកូដធ្វើឱ្យសកម្ម" in message["text"]  # Khmer
    assert NATIONAL_ID not in json.dumps(message)


def test_no_sms_without_a_phone_number(
    service: ActivationService, register: EmbeddedRegister, clock: FixedClock, outbox: Path
) -> None:
    record = person_record("000555444")
    del record["phone"]
    no_phone = register.add_person(record)
    issued = service.issue(no_phone.id, officer=OFFICER, office=OFFICE, at=clock.now())
    assert not issued.sms_sent
    assert read_outbox(outbox) == []


def test_unknown_or_deceased_person_gets_no_code(
    service: ActivationService,
    register: EmbeddedRegister,
    person: Person,
    clock: FixedClock,
    session_factory: sessionmaker[Session],
) -> None:
    with pytest.raises(SubjectNotFound):
        service.issue("0b7f2b55-1d4e-4c38-9a57-9c1b0d8a1f00", officer=OFFICER, office=OFFICE,
                      at=clock.now())  # fmt: skip
    with session_factory.begin() as session:  # the register records a death (issue 8, H4)
        session.execute(
            update(PersonRow).where(PersonRow.id == person.id).values(status="deceased")
        )
    with pytest.raises(AccountNotActive):
        service.issue(person.id, officer=OFFICER, office=OFFICE, at=clock.now())
    with session_factory() as session:
        assert session.scalars(select(ActivationCodeRow)).all() == []


def test_disabled_account_cannot_be_activated(
    service: ActivationService, accounts: AccountService, person: Person, clock: FixedClock
) -> None:
    issued = service.issue(person.id, officer=OFFICER, office=OFFICE, at=clock.now())
    accounts.set_status(issued.account_id, AccountStatus.DISABLED, actor=OFFICER)
    with pytest.raises(ActivationFailed):
        service.redeem(NATIONAL_ID, issued.code, source=SOURCE, at=clock.now())


def test_normalise_code_forgives_typos_but_not_garbage() -> None:
    assert normalise_code("7kq4 m2xd 9p") == "7KQ4M2XD9P"
    assert normalise_code("OIL0-0000-00") == "0110000000"
    assert normalise_code("7KQ4-M2XD-9") is None
    assert normalise_code("7KQ4-M2XD-9U") is None
