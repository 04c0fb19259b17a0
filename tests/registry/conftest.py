"""Fixtures for the register: an EmbeddedRegister on each test database, a recording ledger."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from core.clock import FixedClock
from registry.service import EmbeddedRegister


@dataclass
class Entry:
    event: str
    actor: str | None
    subject: str | None
    data: dict[str, Any]
    in_transaction: bool


@dataclass
class RecordingLedger:
    """Stands in for core.audit.AuditLedger: records what the register appends."""

    entries: list[Entry] = field(default_factory=list)

    def append(
        self,
        event: str,
        *,
        actor: str | None = None,
        subject: str | None = None,
        data: dict[str, Any] | None = None,
        session: Session | None = None,
    ) -> None:
        in_tx = session is not None and session.in_transaction()
        self.entries.append(Entry(event, actor, subject, dict(data or {}), in_tx))


@pytest.fixture
def ledger() -> RecordingLedger:
    return RecordingLedger()


@pytest.fixture
def register(
    session_factory: sessionmaker[Session], clock: FixedClock, ledger: RecordingLedger
) -> EmbeddedRegister:
    return EmbeddedRegister(session_factory, clock=clock, ledger=ledger)


def person(**overrides: object) -> dict[str, object]:
    """A valid person record as in the JSON of ``natid registry add person``."""
    record: dict[str, object] = {
        "national_id": "123456789",
        "name_km": "សុខ ដារ៉ា",
        "name_latin": "Sok Dara",
        "birthdate": "1990-04-17",
        "sex": "M",
        "address": "No. 12, Street 271, Phnom Penh",
    }
    record.update(overrides)
    return {k: v for k, v in record.items() if v is not None}


def entity(**overrides: object) -> dict[str, object]:
    record: dict[str, object] = {
        "register_no": "00012345",
        "name_km": "ក្រុមហ៊ុន ស្រូវ កំពត ឯ.ក",
        "name_en": "Kampot Rice Co., Ltd.",
        "kind": "company",
    }
    record.update(overrides)
    return record


def ministry(**overrides: object) -> dict[str, object]:
    record: dict[str, object] = {
        "register_no": "MIN-MOH",
        "name_km": "ក្រសួងសុខាភិបាល",
        "name_en": "Ministry of Health",
        "kind": "ministry",
    }
    record.update(overrides)
    return record
