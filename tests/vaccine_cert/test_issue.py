"""Issuing health credentials: the payload, the signer, what is stored and audited, and bad
records refused before anything is signed (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography import x509
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ca.service import CAService
from core.audit import AuditLedger
from core.clock import FixedClock
from hsm_adapters import SoftKeyBackend
from registry import EmbeddedRegister
from registry.errors import SubjectNotFound
from tests.ca._issuance import (
    ca_service,
    hierarchy_keys,
    ledger,
    register,
    session_hierarchy,
    transparency,
)
from tests.vaccine_cert._health import (
    RECOVERY,
    TEST,
    VACCINATION,
    World,
    independent_decode,
    make_health,
    world,
)
from vaccine_cert.errors import InvalidDccRecord
from vaccine_cert.issue import icao_transliteration
from vaccine_cert.models import HealthCertificateRow
from vaccine_cert.uvci import is_valid_uvci, luhn_mod_n

__all__ = [  # fixtures used by this module
    "ca_service",
    "hierarchy_keys",
    "ledger",
    "register",
    "session_hierarchy",
    "transparency",
    "world",
]

DCC_OIDS = {"1.3.6.1.4.1.1847.2021.1.1", "1.3.6.1.4.1.1847.2021.1.2", "1.3.6.1.4.1.1847.2021.1.3"}


def _rows(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(HealthCertificateRow)) or 0


def _signer_cert(world: World, kid: str) -> x509.Certificate:
    [signer] = [s for s in world.health.signers() if s.kid_b64 == kid]
    return signer.certificate


@pytest.mark.parametrize(
    ("kind", "record", "group"),
    [("vaccination", VACCINATION, "v"), ("test", TEST, "t"), ("recovery", RECOVERY, "r")],
)
def test_each_kind_verifies_with_natid_and_an_independent_decoder(
    world: World, clock: FixedClock, kind: str, record: dict[str, object], group: str
) -> None:
    issued = world.health.issue(world.holder.id, kind, record, actor="officer-7")
    report = world.health.verify(issued.payload)
    assert report.valid, report.reasons
    assert report.holder is not None
    assert report.holder.as_dict() == {
        "fn": "Sok", "gn": "Dara", "fnt": "SOK", "gnt": "DARA", "dob": "1990-04-17",
    }  # fmt: skip

    dsc = _signer_cert(world, issued.kid)
    claims = independent_decode(issued.payload, dsc)
    now = int(clock.now().timestamp())
    assert claims[1] == "KH"
    assert claims[6] == now
    assert claims[4] == now + 365 * 86400
    dcc = claims[-260][1]
    assert dcc["ver"] == "1.3.0"
    [entry] = dcc[group]
    assert {k: entry[k] for k in record} == record
    assert entry["co"] == "KH"
    assert entry["is"] == "Ministry of Health, Cambodia"
    assert entry["ci"] == issued.uvci
    assert is_valid_uvci(issued.uvci)
    assert issued.uvci.startswith("URN:UVCI:01:KH:")


def test_ps256_signer_is_an_rsa_3072_dsc(world: World) -> None:
    issued = world.health.issue(world.holder.id, "test", TEST, actor="o", algorithm="rsa-3072")
    dsc = _signer_cert(world, issued.kid)
    assert dsc.public_key().key_size == 3072  # type: ignore[union-attr]
    independent_decode(issued.payload, dsc)
    assert world.health.verify(issued.payload).valid


def test_signer_is_a_health_dsc_with_the_dcc_purposes(world: World) -> None:
    signer = world.health.ensure_signer()
    cert = signer.certificate
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {oid.dotted_string for oid in eku} == DCC_OIDS
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == (
        "DCC Document Signer"
    )
    # Asking again gives the same signer: no DSC per credential.
    assert world.health.ensure_signer().serial == signer.serial
    assert len(world.health.signers()) == 1


def test_signer_rotates_when_its_remaining_validity_is_short(
    world: World, clock: FixedClock
) -> None:
    first = world.health.ensure_signer()
    clock.set(first.not_after - dt.timedelta(days=300))
    second = world.health.ensure_signer()
    assert second.serial != first.serial
    assert second.not_after > first.not_after
    issued = world.health.issue(world.holder.id, "vaccination", VACCINATION, actor="o")
    assert issued.kid == second.kid_b64
    # Both stay trusted: credentials of the old signer verify until they expire.
    assert {e["kid"] for e in world.health.trustlist()} == {first.kid_b64, second.kid_b64}


def test_exp_never_beyond_the_signers_not_after(
    session_factory: sessionmaker[Session],
    ca_service: CAService,
    register: EmbeddedRegister,
    hierarchy_keys: SoftKeyBackend,
    ledger: AuditLedger,
    clock: FixedClock,
) -> None:
    long_lived = make_health(
        session_factory, ca_service, register, hierarchy_keys, ledger, clock,
        validity=dt.timedelta(days=2000), rotate_before=dt.timedelta(0),
    )  # fmt: skip
    issued = long_lived.health.issue(long_lived.holder.id, "recovery", RECOVERY, actor="o")
    signer = long_lived.health.ensure_signer()
    assert issued.expires_at == signer.not_after
    claims = independent_decode(issued.payload, signer.certificate)
    assert claims[4] == int(signer.not_after.timestamp())


def test_issue_is_stored_and_audited_without_the_uvci_or_the_record(
    world: World, session_factory: sessionmaker[Session], ledger: AuditLedger
) -> None:
    issued = world.health.issue(world.holder.id, "vaccination", VACCINATION, actor="officer-7")
    with session_factory() as session:
        row = session.get_one(HealthCertificateRow, issued.uvci)
    assert (row.subject_id, row.kind, row.issued_by) == (
        world.holder.id,
        "vaccination",
        "officer-7",
    )
    [entry] = [e for e in ledger.tail(20) if e.event == "health.certificate.issued"]
    assert (entry.actor, entry.subject) == ("officer-7", world.holder.id)
    assert entry.data["kind"] == "vaccination"
    assert entry.data["kid"] == issued.kid
    text = json.dumps(entry.data)
    assert issued.uvci not in text
    assert "EU/1/20/1528" not in text
    assert "Sok" not in text


@pytest.mark.parametrize(
    ("kind", "record", "field"),
    [
        ("vaccination", {**VACCINATION, "dn": 0}, "v[0].dn"),
        ("vaccination", {**VACCINATION, "mp": "NOT-A-VACCINE"}, "v[0].mp"),
        ("vaccination", {k: v for k, v in VACCINATION.items() if k != "vp"}, "v[0].vp"),
        ("vaccination", {**VACCINATION, "dt": "01/10/2026"}, "v[0].dt"),
        ("vaccination", {**VACCINATION, "dt": "2027-01-01"}, "v[0].dt"),
        ("vaccination", {**VACCINATION, "ci": "URN:UVCI:01:KH:FORGED#A"}, "v[0].ci"),
        ("test", {**TEST, "tr": "positive"}, "t[0].tr"),
        ("test", {**TEST, "sc": "2026-10-31 08:00"}, "t[0].sc"),
        ("recovery", {**RECOVERY, "tg": "12345"}, "r[0].tg"),
        # a record for the wrong kind
        ("test", VACCINATION, "t[0].dn"),
        ("recovery", TEST, "r[0].nm"),
    ],
)
def test_bad_record_is_refused_naming_the_field_and_nothing_is_stored(
    world: World,
    session_factory: sessionmaker[Session],
    ledger: AuditLedger,
    kind: str,
    record: dict[str, object],
    field: str,
) -> None:
    with pytest.raises(InvalidDccRecord) as caught:
        world.health.issue(world.holder.id, kind, record, actor="o")
    assert caught.value.field == field
    assert caught.value.http_status == 400
    assert _rows(session_factory) == 0
    assert not [e for e in ledger.tail(50) if e.event.startswith("health.")]
    # Refused before signing: no signer was even needed.
    assert world.health.signers() == ()


def test_unknown_subject_is_not_found(world: World, session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(SubjectNotFound) as caught:
        world.health.issue("3f1c2b4e-0000-4000-8000-000000000000", "test", TEST, actor="o")
    assert caught.value.http_status == 404
    assert _rows(session_factory) == 0


def test_unknown_kind_is_refused(world: World) -> None:
    with pytest.raises(Exception, match="kind must be one of vaccination, test, recovery"):
        world.health.issue(world.holder.id, "booster", VACCINATION, actor="o")


def test_uvci_checksum_matches_published_vectors() -> None:
    # Checksums printed in the public DCC test data (AT, DK, FR), computed over the full text.
    for uvci in (
        "URN:UVCI:01:AT:10807843F94AEE0EE5093FBC254BD813#B",
        "URN:UVCI:01:DK:0EF88044F7935DF2B4A938A38C14C97C#C",
        "URN:UVCI:01:FR:GGD81AAH16AZ#8",
    ):
        body, check = uvci.rsplit("#", 1)
        assert luhn_mod_n(body) == check
        assert is_valid_uvci(uvci)
    assert not is_valid_uvci("URN:UVCI:01:AT:10807843F94AEE0EE5093FBC254BD813#C")


def test_icao_transliteration_follows_the_schema_examples() -> None:
    assert icao_transliteration("d'Červenková Panklová") == "DCERVENKOVA<PANKLOVA"
    assert icao_transliteration("Jiřina-Maria Alena") == "JIRINA<MARIA<ALENA"
    assert icao_transliteration("Müller") == "MUELLER"
    with pytest.raises(InvalidDccRecord):
        icao_transliteration("សុខ")
