"""The public base URL the installation remembers (core/installation.py), on both databases."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLedger, InvalidAuditEntry
from core.clock import FixedClock
from core.db import transaction
from core.installation import (
    PUBLIC_URL_CHANGED,
    PublicUrlMismatch,
    change_public_url,
    record_public_url,
    recorded_public_url,
    resolve_public_url,
)

A = "http://127.0.0.1:8401"
B = "http://localhost:8000"


@pytest.fixture
def ledger(session_factory: sessionmaker[Session], clock: FixedClock) -> AuditLedger:
    return AuditLedger(
        session_factory,
        clock=clock,
        signing_key=ec.generate_private_key(ec.SECP256R1()),
        key_label="test-ledger",
    )


def test_without_the_variable_the_recorded_url_is_used() -> None:
    assert resolve_public_url(B, explicit=False, recorded=A) == A


def test_before_anything_is_recorded_the_setting_is_used() -> None:
    assert resolve_public_url(B, explicit=False, recorded=None) == B
    assert resolve_public_url(A, explicit=True, recorded=None) == A


def test_the_recorded_url_with_a_trailing_slash_is_the_same_url() -> None:
    assert resolve_public_url(A + "/", explicit=True, recorded=A) == A + "/"


def test_a_variable_naming_another_url_is_refused_naming_both_and_the_way_out() -> None:
    with pytest.raises(PublicUrlMismatch) as caught:
        resolve_public_url(B + "/", explicit=True, recorded=A)
    message = str(caught.value)
    assert f"NATID_PUBLIC_BASE_URL is {B}, but this installation was set up with {A}" in message
    assert f"`natid ca set-public-url {B}`" in message
    assert "certificates already issued keep their URLs" in message
    assert caught.value.code == "public_url_mismatch"


def test_recording_keeps_the_first_url_and_refuses_another(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    assert recorded_public_url(session_factory) is None
    with transaction(session_factory) as session:
        assert record_public_url(session, A + "/", at=clock.now()) is True
    assert recorded_public_url(session_factory) == A
    with transaction(session_factory) as session:
        assert record_public_url(session, A, at=clock.now()) is False
    with pytest.raises(PublicUrlMismatch), transaction(session_factory) as session:
        record_public_url(session, B, at=clock.now())
    assert recorded_public_url(session_factory) == A


def test_a_change_is_one_audited_transaction_and_a_repeat_writes_nothing(
    session_factory: sessionmaker[Session], ledger: AuditLedger, clock: FixedClock
) -> None:
    with transaction(session_factory) as session:
        record_public_url(session, A, at=clock.now())
    later = clock.now() + dt.timedelta(hours=1)
    assert change_public_url(session_factory, B, ledger=ledger, actor="cli", at=later) == A
    assert recorded_public_url(session_factory) == B
    entry = ledger.head()
    [last] = ledger.tail(1)
    assert (last.seq, last.event, last.actor) == (entry.seq, PUBLIC_URL_CHANGED, "cli")
    assert last.data == {"from": A, "to": B}

    assert change_public_url(session_factory, B + "/", ledger=ledger, actor="cli", at=later) == B
    assert ledger.head().seq == entry.seq


def test_a_change_whose_audit_entry_fails_changes_nothing(
    session_factory: sessionmaker[Session], ledger: AuditLedger, clock: FixedClock
) -> None:
    with transaction(session_factory) as session:
        record_public_url(session, A, at=clock.now())
    with pytest.raises(InvalidAuditEntry, match="actor"):
        # An actor the ledger refuses: the entry fails, so must the change.
        change_public_url(session_factory, B, ledger=ledger, actor="x" * 1000, at=clock.now())
    assert recorded_public_url(session_factory) == A
