"""PAdES levels, keys, certification and what the validator says about good and bad documents."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore

from ca.profiles import ProfileName
from ca.revocation import RevocationReason
from ca.service import CAService
from ca.store import IssuedCertificate
from core.clock import FixedClock
from hsm_adapters import SoftKeyBackend
from registry import EmbeddedRegister, LegalEntity
from signing.errors import InvalidSigningRequest
from signing.pades import BackendSigner, PadesLevel, SignatureSpec, sign_pdf_bytes
from signing.service import SigningService
from signing.validate import Indication
from tests.ca._issuance import add_person
from tests.signing._pdf import make_pdf

LEVELS = ["B-B", "B-T", "B-LT", "B-LTA"]


@pytest.mark.parametrize("level", LEVELS)
def test_each_level_is_reached_and_passes(
    signing: SigningService, entity: LegalEntity, eseal: IssuedCertificate, level: str
) -> None:
    signed = signing.seal(entity.id, make_pdf(), actor="t", level=level)

    report = signing.validate(signed)

    first = report.signatures[0]
    assert report.ok, report.as_dict()
    assert first.pades_level == level
    assert first.signer_serial == eseal.serial_hex  # as openssl prints it
    assert first.chain[-1].startswith("Common Name: NatID Root CA") or "Root" in first.chain[-1]
    assert first.modifications in {"none", "lta_updates"}
    kinds = [s.kind for s in report.signatures]
    assert kinds == (["signature", "document-timestamp"] if level == "B-LTA" else ["signature"])
    if level != "B-B":
        assert first.timestamp_time is not None
    if level in {"B-LT", "B-LTA"}:
        assert first.embedded_ocsp_responses >= 1 and first.embedded_crls >= 1


def test_signing_time_is_the_clock_not_the_system(
    signing: SigningService, entity: LegalEntity, eseal: IssuedCertificate, clock: FixedClock
) -> None:
    clock.advance(dt.timedelta(days=3, minutes=7))

    report = signing.validate(signing.seal(entity.id, make_pdf(), actor="t", level="B-T"))

    sig = report.signatures[0]
    assert sig.claimed_signing_time == clock.now()
    assert sig.timestamp_time is not None
    assert abs(sig.timestamp_time - clock.now()) <= dt.timedelta(seconds=1)


@pytest.mark.parametrize("algorithm", ["ec-p384", "rsa-3072"])
def test_other_key_types_sign_p384_with_sha384_and_rsa_with_pss(
    signing: SigningService,
    register: EmbeddedRegister,
    ca_service: CAService,
    algorithm: str,
) -> None:
    person = add_person(register)
    ca_service.issue_with_server_key(
        ProfileName.CITIZEN_SIGN, person.id, actor="t", algorithm=algorithm
    )

    signed = signing.sign_pdf(make_pdf(), signer=person.id, actor="t", level="B-B")

    reader = PdfFileReader(io.BytesIO(signed))
    signer_info = reader.embedded_signatures[0].signer_info
    mechanism = signer_info["signature_algorithm"]["algorithm"].native
    digest = signer_info["digest_algorithm"]["algorithm"].native
    if algorithm == "ec-p384":
        assert (mechanism, digest) in {("sha384_ecdsa", "sha384"), ("ecdsa", "sha384")}
    else:
        assert (mechanism, digest) == ("rsassa_pss", "sha256")
    assert signing.validate(signed).ok


def test_certification_then_approval_keeps_both_valid(
    signing: SigningService, entity: LegalEntity, eseal: IssuedCertificate, servant_id: str
) -> None:
    certified = signing.sign_pdf(
        make_pdf(), signer=servant_id, actor="t", level="B-T", certify=True
    )
    both = signing.seal(entity.id, certified, actor="t", level="B-T")

    report = signing.validate(both)

    assert [s.indication for s in report.signatures] == [Indication.TOTAL_PASSED] * 2
    assert report.signatures[0].certification_level == 2
    assert report.signatures[0].modifications == "form_filling"


def test_second_certification_refused(signing: SigningService, servant_id: str) -> None:
    certified = signing.sign_pdf(make_pdf(), signer=servant_id, actor="t", certify=True)

    with pytest.raises(InvalidSigningRequest, match=r"[Cc]ertification"):
        signing.sign_pdf(certified, signer=servant_id, actor="t", certify=True)


def test_byte_tampering_is_hash_failure(
    signing: SigningService, entity: LegalEntity, eseal: IssuedCertificate
) -> None:
    signed = signing.seal(entity.id, make_pdf(text="Pay 100 USD"), actor="t", level="B-B")
    tampered = signed.replace(b"Pay 100 USD", b"Pay 900 USD")
    assert tampered != signed

    sig = signing.validate(tampered).signatures[0]

    assert (sig.indication, sig.sub_indication) == (Indication.TOTAL_FAILED, "HASH_FAILURE")
    assert not sig.intact


def test_content_changed_in_a_later_revision_fails(
    signing: SigningService, entity: LegalEntity, eseal: IssuedCertificate
) -> None:
    signed = signing.seal(entity.id, make_pdf(), actor="t", level="B-B")
    # An incremental update that replaces the page content: the signed bytes stay intact,
    # but what a reader shows is no longer what was signed.
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    from pyhanko.pdf_utils import generic

    page = writer.root["/Pages"]["/Kids"][0].get_object()
    stream = generic.StreamObject(stream_data=b"BT /F1 24 Tf 72 720 Td (Pay 900 USD) Tj ET")
    page["/Contents"] = writer.add_object(stream)
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)

    sig = signing.validate(out.getvalue()).signatures[0]

    assert sig.intact
    assert (sig.indication, sig.sub_indication) == (Indication.TOTAL_FAILED, "FORMAT_FAILURE")
    assert sig.modifications == "other"


def test_revoked_without_timestamp_fails_but_timestamp_before_revocation_passes(
    signing: SigningService,
    entity: LegalEntity,
    eseal: IssuedCertificate,
    ca_service: CAService,
    clock: FixedClock,
) -> None:
    plain = signing.seal(entity.id, make_pdf(), actor="t", level="B-B")
    stamped = signing.seal(entity.id, make_pdf(), actor="t", level="B-T")
    clock.advance(dt.timedelta(hours=2))
    ca_service.revoke(eseal.serial_hex, reason=RevocationReason.KEY_COMPROMISE, actor="t")
    clock.advance(dt.timedelta(minutes=5))

    no_ts = signing.validate(plain).signatures[0]
    with_ts = signing.validate(stamped).signatures[0]

    assert no_ts.indication is not Indication.TOTAL_PASSED
    assert no_ts.sub_indication in {"REVOKED", "REVOKED_NO_POE"}
    assert no_ts.revocation == "revoked"
    assert with_ts.indication is Indication.TOTAL_PASSED
    assert with_ts.revoked_at is not None
    assert any("before the revocation" in m for m in with_ts.messages)


def test_foreign_root_is_not_trusted(
    signing: SigningService,
    entity: LegalEntity,
    eseal: IssuedCertificate,
) -> None:
    from ca.hierarchy import create_hierarchy
    from ca.urls import PkiUrls
    from signing.validate import validate_pdf
    from tests.ca.conftest import HIERARCHY_TIME, MemoryKeyBackend

    other = create_hierarchy(
        MemoryKeyBackend(), urls=PkiUrls("http://other.example"), at=HIERARCHY_TIME
    )
    signed = signing.seal(entity.id, make_pdf(), actor="t", level="B-B")

    sig = validate_pdf(signed, root=other.root, fetchers=None, at=HIERARCHY_TIME).signatures[0]

    assert sig.indication is Indication.INDETERMINATE
    assert sig.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    assert not sig.trusted


def test_backend_signer_refuses_a_key_that_does_not_match(eseal: IssuedCertificate) -> None:
    with pytest.raises(InvalidSigningRequest, match="does not match"):
        BackendSigner(ec.generate_private_key(ec.SECP256R1()), eseal.certificate, [])


def test_levels_above_b_b_need_their_collaborators(
    eseal: IssuedCertificate, hierarchy_keys: SoftKeyBackend, clock: FixedClock
) -> None:
    assert eseal.key_label is not None
    signer = BackendSigner(hierarchy_keys.load(eseal.key_label), eseal.certificate, [])
    with pytest.raises(InvalidSigningRequest, match="time-stamping"):
        sign_pdf_bytes(make_pdf(), signer, SignatureSpec(level=PadesLevel.B_T), at=clock.now())
    with pytest.raises(InvalidSigningRequest, match="unknown PAdES level"):
        PadesLevel.parse("B-X")
    with pytest.raises(InvalidSigningRequest, match="field name"):
        sign_pdf_bytes(make_pdf(), signer, SignatureSpec(field_name="bad name)"), at=clock.now())
    assert isinstance(rsa.RSAPrivateKey, type)


def test_b_lt_validates_offline_from_what_the_file_carries(
    signing: SigningService, entity: LegalEntity, eseal: IssuedCertificate
) -> None:
    signed = signing.seal(entity.id, make_pdf(), actor="t", level="B-LT")

    sig = signing.validate(signed, fetch=False).signatures[0]

    assert sig.indication is Indication.TOTAL_PASSED
    assert sig.revocation == "good"
    assert sig.embedded_ocsp_responses >= 1


def _signed_then_revoked(
    signing: SigningService, servant_id: str, ca_service: CAService, clock: FixedClock, level: str
) -> bytes:
    """A document the servant signed at ``level``, whose certificate was revoked two hours
    later."""
    cert = signing.signing_certificate(servant_id)
    signed = signing.sign_pdf(make_pdf(), signer=servant_id, actor="t", level=level)
    clock.advance(dt.timedelta(hours=2))
    ca_service.revoke(cert.serial_hex, reason=RevocationReason.KEY_COMPROMISE, actor="t")
    return signed


@pytest.mark.parametrize("level", ["B-B", "B-T"])
def test_offline_validation_does_not_call_a_revoked_signer_good_without_embedded_data(
    signing: SigningService,
    servant_id: str,
    ca_service: CAService,
    clock: FixedClock,
    level: str,
) -> None:
    signed = _signed_then_revoked(signing, servant_id, ca_service, clock, level)

    report = signing.validate(signed, fetch=False)

    sig = report.signatures[0]
    assert not report.ok
    assert sig.indication is Indication.INDETERMINATE
    assert sig.sub_indication == "TRY_LATER"  # EN 319 102-1: no revocation data to decide
    assert sig.revocation == "unknown"
    assert sig.embedded_ocsp_responses == sig.embedded_crls == 0
    assert any("no usable revocation data" in m for m in sig.messages)
    # Online, the same document gets the status from NatID's OCSP responder.
    assert signing.validate(signed).signatures[0].revoked_at is not None


@pytest.mark.parametrize("level", ["B-LT", "B-LTA"])
def test_offline_validation_of_a_since_revoked_signer_uses_the_embedded_data(
    signing: SigningService,
    servant_id: str,
    ca_service: CAService,
    clock: FixedClock,
    level: str,
) -> None:
    signed = _signed_then_revoked(signing, servant_id, ca_service, clock, level)

    report = signing.validate(signed, fetch=False)

    # The OCSP responses and CRLs embedded at signing say the certificate was good then, and
    # the time-stamp proves the signature existed then; nothing in the file says otherwise.
    assert report.ok, report.as_dict()
    sig = report.signatures[0]
    assert sig.revocation == "good"
    assert sig.pades_level == level
    assert sig.embedded_ocsp_responses >= 1


def _embedded_revocation_data(pdf: bytes) -> tuple[list[Any], list[Any]]:
    """The OCSP responses and CRLs of a document's DSS, as asn1crypto values."""
    dss = DocumentSecurityStore.read_dss(PdfFileReader(io.BytesIO(pdf), strict=False))
    ocsps = [asn1_ocsp.OCSPResponse.load(o.get_object().data) for o in dss.ocsps]
    crls = [asn1_crl.CertificateList.load(c.get_object().data) for c in dss.crls]
    return ocsps, crls


@pytest.mark.parametrize("later", [dt.timedelta(days=1), dt.timedelta(days=400)])
@pytest.mark.parametrize("level", ["B-LT", "B-LTA"])
def test_long_term_levels_still_validate_offline_after_their_data_expired(
    signing: SigningService,
    entity: LegalEntity,
    eseal: IssuedCertificate,
    clock: FixedClock,
    level: str,
    later: dt.timedelta,
) -> None:
    signed_at = clock.now()
    signed = signing.seal(entity.id, make_pdf(), actor="t", level=level)
    ocsps, crls = _embedded_revocation_data(signed)
    # What the document carries no longer covers the day it is read.
    assert ocsps and crls
    assert all(
        r["next_update"].native < signed_at + later
        for o in ocsps
        for r in o["response_bytes"]["response"].parsed["tbs_response_data"]["responses"]
    )
    clock.advance(later)

    report = signing.validate(signed, fetch=False)

    assert report.ok, report.as_dict()
    sig = report.signatures[0]
    assert sig.pades_level == level
    assert sig.revocation == "good"
    assert sig.timestamp_time == signed_at
    for each in report.signatures:  # the signature, and B-LTA's document time-stamp
        assert any(
            m.startswith("validated as at its time-stamp of " + signed_at.isoformat())
            for m in each.messages
        ), each.messages


def test_a_b_t_document_read_offline_days_later_is_still_unknown(
    signing: SigningService, entity: LegalEntity, eseal: IssuedCertificate, clock: FixedClock
) -> None:
    signed = signing.seal(entity.id, make_pdf(), actor="t", level="B-T")
    clock.advance(dt.timedelta(days=3))

    sig = signing.validate(signed, fetch=False).signatures[0]

    # Nothing in the file says the certificate was good when it signed.
    assert (sig.indication, sig.sub_indication) == (Indication.INDETERMINATE, "TRY_LATER")
    assert sig.revocation == "unknown"
    assert not any(m.startswith("validated as at") for m in sig.messages)


def test_revocation_data_from_before_the_time_stamp_proves_nothing_about_it(
    signing: SigningService, entity: LegalEntity, eseal: IssuedCertificate, clock: FixedClock
) -> None:
    # Data fetched for an earlier document, whose validity ended before this document's
    # time-stamp, added to it afterwards: it says nothing about the day this one was signed.
    ocsps, crls = _embedded_revocation_data(
        signing.seal(entity.id, make_pdf(), actor="t", level="B-LT")
    )
    clock.advance(dt.timedelta(days=2))
    stamped = signing.seal(entity.id, make_pdf(text="later"), actor="t", level="B-T")
    reader = PdfFileReader(io.BytesIO(stamped), strict=False)
    contents = reader.embedded_signatures[0].sig_object["/Contents"]
    out = io.BytesIO(stamped)
    DocumentSecurityStore.add_dss(out, contents, ocsps=ocsps, crls=crls)
    clock.advance(dt.timedelta(days=1))

    report = signing.validate(out.getvalue(), fetch=False)

    sig = report.signatures[0]
    assert sig.embedded_ocsp_responses >= 1  # the data is there ...
    assert (sig.indication, sig.sub_indication) == (Indication.INDETERMINATE, "TRY_LATER")
    assert not any(m.startswith("validated as at") for m in sig.messages)  # ... and not used


def _past_expiry(clock: FixedClock, certificate: IssuedCertificate) -> None:
    clock.advance(certificate.certificate.not_valid_after_utc - clock.now() + dt.timedelta(days=1))


@pytest.mark.parametrize("fetch", [False, True], ids=["offline", "online"])
def test_a_b_lta_document_still_validates_after_its_certificate_expired(
    signing: SigningService,
    entity: LegalEntity,
    eseal: IssuedCertificate,
    clock: FixedClock,
    fetch: bool,
) -> None:
    signed = signing.seal(entity.id, make_pdf(), actor="t", level="B-LTA")
    sealed_at = clock.now()
    _past_expiry(clock, eseal)

    report = signing.validate(signed, fetch=fetch)

    # The document time-stamp (its authority's certificate still valid) proves the signature
    # and its time-stamp existed on the day of sealing, when the seal's certificate was valid
    # and, by the data the document carries, not revoked (EN 319 102-1 §5.6.2.4).
    sig, doc_ts = report.signatures
    assert report.ok
    assert (sig.indication, sig.pades_level) == (Indication.TOTAL_PASSED, "B-LTA")
    assert f"the document time-stamp of {sealed_at.isoformat()} proves" in " ".join(sig.messages)
    assert doc_ts.indication is Indication.TOTAL_PASSED


@pytest.mark.parametrize("fetch", [False, True], ids=["offline", "online"])
def test_a_b_lt_document_has_no_proof_once_its_certificate_expired(
    signing: SigningService,
    entity: LegalEntity,
    eseal: IssuedCertificate,
    clock: FixedClock,
    fetch: bool,
) -> None:
    signed = signing.seal(entity.id, make_pdf(), actor="t", level="B-LT")
    _past_expiry(clock, eseal)

    sig = signing.validate(signed, fetch=fetch).signatures[0]

    # Nothing but the signature's own time-stamp, whose data no document time-stamp covers.
    assert sig.indication is Indication.INDETERMINATE
    assert not any(m.startswith("validated as at") for m in sig.messages)
    if fetch:
        assert sig.sub_indication == "OUT_OF_BOUNDS_NO_POE"


def test_a_document_time_stamp_proves_nothing_once_its_own_certificate_expired(
    signing: SigningService,
    entity: LegalEntity,
    eseal: IssuedCertificate,
    clock: FixedClock,
) -> None:
    signed = signing.seal(entity.id, make_pdf(), actor="t", level="B-LTA")
    stamp = PdfFileReader(io.BytesIO(signed), strict=False).embedded_signatures[1]
    assert stamp.sig_object_type == "/DocTimeStamp"
    clock.advance(stamp.signer_cert.not_valid_after - clock.now() + dt.timedelta(days=1))

    sig, doc_ts = signing.validate(signed, fetch=False).signatures

    # An archive has to be time-stamped again before then; NatID does not pretend otherwise.
    assert doc_ts.indication is Indication.INDETERMINATE
    assert sig.indication is Indication.INDETERMINATE
    assert not report_says_proven(sig)


def test_a_signature_after_the_document_time_stamp_is_not_covered_by_it(
    signing: SigningService, entity: LegalEntity, eseal: IssuedCertificate, clock: FixedClock
) -> None:
    archived = signing.seal(entity.id, make_pdf(), actor="t", level="B-LTA")
    clock.advance(dt.timedelta(days=1))
    countersealed = signing.seal(entity.id, archived, actor="t", level="B-T")
    _past_expiry(clock, eseal)

    first, doc_ts, second = signing.validate(countersealed, fetch=False).signatures

    assert doc_ts.indication is Indication.TOTAL_PASSED
    assert first.indication is Indication.TOTAL_PASSED
    assert report_says_proven(first)
    # Made after the document time-stamp: nothing proves it existed while it was valid.
    assert second.indication is Indication.INDETERMINATE
    assert not report_says_proven(second)


@pytest.mark.parametrize(
    ("level", "later", "fetches"),
    [("B-LT", "five days", (False,)), ("B-LTA", "past expiry", (False, True))],
    ids=["b-lt-offline-days-later", "b-lta-after-expiry"],
)
def test_a_tampered_long_term_document_still_fails_later(
    signing: SigningService,
    entity: LegalEntity,
    eseal: IssuedCertificate,
    clock: FixedClock,
    level: str,
    later: str,
    fetches: tuple[bool, ...],
) -> None:
    # Neither pass at the time-stamp's time (stale data, expired certificate) lets it through.
    signed = signing.seal(entity.id, make_pdf(text="Pay 100 USD"), actor="t", level=level)
    tampered = signed.replace(b"Pay 100 USD", b"Pay 900 USD")
    assert tampered != signed
    if later == "five days":
        clock.advance(dt.timedelta(days=5))
    else:
        _past_expiry(clock, eseal)

    for fetch in fetches:
        sig = signing.validate(tampered, fetch=fetch).signatures[0]
        assert (sig.indication, sig.sub_indication) == (Indication.TOTAL_FAILED, "HASH_FAILURE")


def report_says_proven(sig: Any) -> bool:
    return any(note.code == "proven_by_document_time_stamp" for note in sig.notes)
