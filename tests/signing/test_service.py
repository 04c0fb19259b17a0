"""The signing service: which certificate signs, e-seals and batches, audit entries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ca.profiles import ProfileName
from ca.revocation import RevocationReason
from ca.service import CAService
from ca.store import IssuedCertificate
from core.errors import NotFound
from core.models import AuditEntryRow
from registry import EmbeddedRegister, LegalEntity
from signing.errors import NoESealCertificate, NoSigningCertificate
from signing.service import SealedFile, SealFailure, SigningService
from tests.ca._issuance import add_entity, add_person
from tests.signing._pdf import make_pdf


def test_seal_without_eseal_certificate_says_how_to_issue_one(
    signing: SigningService, entity: LegalEntity
) -> None:
    with pytest.raises(NoESealCertificate) as caught:
        signing.seal(entity.id, make_pdf(), actor="t")

    assert isinstance(caught.value, NotFound)
    assert f"natid ca issue --profile eseal --subject {entity.id} --server-key" in str(caught.value)


def test_ensure_eseal_issues_once_then_reuses(
    signing: SigningService, entity: LegalEntity, ca_service: CAService
) -> None:
    first = signing.ensure_eseal(entity.id, actor="t")
    again = signing.ensure_eseal(entity.id, actor="t")

    assert first.serial_hex == again.serial_hex
    assert first.profile is ProfileName.ESEAL and first.key_label is not None
    assert len(ca_service.list(subject_id=entity.id, profile="eseal")) == 1


def test_revoked_eseal_is_not_used_and_ensure_issues_a_new_one(
    signing: SigningService, entity: LegalEntity, eseal: IssuedCertificate, ca_service: CAService
) -> None:
    ca_service.revoke(eseal.serial_hex, reason=RevocationReason.SUPERSEDED, actor="t")

    with pytest.raises(NoESealCertificate):
        signing.seal(entity.id, make_pdf(), actor="t")
    fresh = signing.ensure_eseal(entity.id, actor="t")

    assert fresh.serial_hex != eseal.serial_hex
    assert signing.validate(signing.seal(entity.id, make_pdf(), actor="t")).ok


def test_civil_servant_signs_with_gov_sign_and_stamp_names_the_ministry(
    signing: SigningService, servant_id: str
) -> None:
    cert = signing.signing_certificate(servant_id)
    assert cert.profile is ProfileName.GOV_SIGN

    signed = signing.sign_pdf(make_pdf(), signer=servant_id, actor="t", level="B-B")

    report = signing.validate(signed)
    assert report.ok
    assert report.signatures[0].signer_serial == cert.serial_hex  # as openssl prints it


def test_person_without_signing_certificate_is_refused(
    signing: SigningService, register: EmbeddedRegister, ca_service: CAService
) -> None:
    person = add_person(register)
    # An authentication certificate is not a signing certificate.
    ca_service.issue_with_server_key(ProfileName.CITIZEN_AUTH, person.id, actor="t")

    with pytest.raises(NoSigningCertificate, match="citizen-sign"):
        signing.sign_pdf(make_pdf(), signer=person.id, actor="t")


def test_every_signature_is_audited_without_names(
    signing: SigningService,
    entity: LegalEntity,
    eseal: IssuedCertificate,
    session_factory: sessionmaker[Session],
) -> None:
    import hashlib

    signed = signing.seal(entity.id, make_pdf(), actor="officer-1", level="B-T")

    with session_factory() as session:
        rows = session.scalars(
            select(AuditEntryRow).where(AuditEntryRow.event == "signing.pdf.sealed")
        ).all()
    assert len(rows) == 1
    row = rows[0]
    data = json.loads(row.data) if isinstance(row.data, str) else row.data
    assert row.actor == "officer-1" and row.subject == entity.id
    assert data["serial"] == eseal.serial_hex and data["level"] == "B-T"
    assert data["sha256"] == hashlib.sha256(signed).hexdigest()
    assert entity.name_en not in json.dumps(data)


def test_batch_goes_on_after_a_bad_file_and_reports_it(
    signing: SigningService, entity: LegalEntity, eseal: IssuedCertificate, tmp_path: Path
) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    (src / "a.pdf").write_bytes(make_pdf(text="A"))
    (src / "b.pdf").write_bytes(b"%PDF-1.7\nthis is not really a PDF\n")
    (src / "c.pdf").write_bytes(make_pdf(text="C"))
    seen: list[tuple[int, int, str]] = []

    report = signing.seal_batch(
        entity.id,
        sorted(src.iterdir()),
        out_dir=out,
        actor="t",
        level="B-B",
        progress=lambda n, total, outcome: seen.append((n, total, outcome.name)),
    )

    assert [s.name for s in report.sealed] == ["a.pdf", "c.pdf"]
    assert [(f.name, f.code) for f in report.failed] == [("b.pdf", "invalid_pdf")]
    assert seen == [(1, 3, "a.pdf"), (2, 3, "b.pdf"), (3, 3, "c.pdf")]
    assert sorted(p.name for p in out.iterdir()) == ["a.pdf", "c.pdf"]  # nothing half-written
    for sealed in report.sealed:
        assert isinstance(sealed, SealedFile)
        assert signing.validate((out / sealed.name).read_bytes()).ok
    assert all(isinstance(f, SealFailure) for f in report.failed)


def test_batch_for_entity_without_eseal_fails_before_touching_files(
    signing: SigningService, register: EmbeddedRegister, tmp_path: Path
) -> None:
    other = add_entity(register)
    (tmp_path / "a.pdf").write_bytes(make_pdf())

    with pytest.raises(NoESealCertificate):
        signing.seal_batch(other.id, [tmp_path / "a.pdf"], out_dir=tmp_path / "out", actor="t")
    assert not (tmp_path / "out").exists()
