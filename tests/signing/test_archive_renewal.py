"""A long-term archive time-stamped again (``SigningService.renew_archive``, EN 319 102-1
§5.6.3) after the time-stamping unit got a new certificate (``ca.tsa_renewal``), on SQLite and
PostgreSQL.

What an archivist sees: a sealed B-LTA decision renewed a year before its time-stamping
certificate ends still validates, offline and online, after that certificate (and the seal's)
expired, where the same document not renewed does not; the report says which later time-stamp
proves what. A document that does not validate now, one below B-LT, and a renewal by the
same time-stamping certificate are refused with a reason, and nothing is audited for them.
A renewed archive whose first document time-stamp was altered afterwards validates no more:
neither time-stamp passes and nothing is proven by them.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable

import pytest
from asn1crypto import cms
from pyhanko.pdf_utils.reader import PdfFileReader

from ca.store import IssuedCertificate
from ca.tsa_renewal import TsaRenewal
from core.audit import AuditLedger
from core.clock import FixedClock
from registry import LegalEntity
from signing.errors import InvalidSigningRequest
from signing.service import SigningService
from signing.validate import Indication
from tests.signing._pdf import make_pdf


def _time_stamping_end(pdf: bytes) -> dt.datetime:
    stamps = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_timestamp_signatures
    end: dt.datetime = stamps[-1].signer_cert.not_valid_after
    return end


def _codes(entry: object) -> set[str]:
    return {note.code for note in getattr(entry, "notes", ())}


def _events(ledger: AuditLedger, event: str) -> list[object]:
    return [e for e in ledger.tail(1000) if e.event == event]


def _tamper_document_time_stamp(pdf: bytes, index: int) -> bytes:
    """``pdf`` with one byte of the ``index``-th document time-stamp's signature value changed
    (the last byte of its DER token inside ``/Contents``): the token still parses, its
    signature no longer verifies."""
    stamp = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_timestamp_signatures[index]
    start, length, end, _ = stamp.byte_range
    contents_start, contents_end = start + length + 1, end - 1  # inside the < > of /Contents
    token = cms.ContentInfo.load(bytes(stamp.pkcs7_content)).dump()  # without the padding
    hex_token = token.hex().upper().encode()  # pyHanko writes upper-case hex
    at = pdf.index(hex_token, contents_start, contents_end) + len(hex_token) - 2
    flipped = b"0" if pdf[at : at + 1] != b"0" else b"1"
    return pdf[:at] + flipped + pdf[at + 1 :]


@pytest.mark.parametrize("fetch", [False, True], ids=["offline", "online"])
def test_a_renewed_archive_outlives_its_first_time_stamping_certificate(
    signing: SigningService,
    entity: LegalEntity,
    clock: FixedClock,
    tsa_renewal: TsaRenewal,
    new_signing_service: Callable[[], SigningService],
    ledger: AuditLedger,
    eseal: IssuedCertificate,
    fetch: bool,
) -> None:
    sealed = signing.seal(entity.id, make_pdf(), actor="t", level="B-LTA")
    first_end = _time_stamping_end(sealed)
    clock.advance(first_end - clock.now() - dt.timedelta(days=300))

    renewed_tsa = tsa_renewal.renew(actor="t")
    assert renewed_tsa is not None and renewed_tsa.not_after > first_end
    service = new_signing_service()  # as a server restarted after the renewal
    archived = service.renew_archive(sealed, actor="t")
    assert _time_stamping_end(archived) == renewed_tsa.not_after
    clock.advance(dt.timedelta(days=301))  # the first time-stamping certificate has expired

    report = service.validate(archived, fetch=fetch)

    sig, first, second = report.signatures
    assert report.ok, [
        (e.kind, e.indication, e.sub_indication, e.messages) for e in report.signatures
    ]
    assert (sig.pades_level, first.kind, second.kind) == (
        "B-LTA",
        "document-timestamp",
        "document-timestamp",
    )
    assert "proven_by_later_document_time_stamp" in _codes(first)
    assert "proven_by_document_time_stamp" in _codes(sig)
    # The newest proves itself (offline judged at its own time with the data it carries).
    assert not _codes(second) & {"proven_by_later_document_time_stamp"}
    # The same document without the renewal, the same day: nothing proves it any more.
    assert not service.validate(sealed, fetch=fetch).ok
    # The renewed one with its first document time-stamp altered afterwards: that time-stamp
    # fails, so does the renewal's (its digest covers the altered bytes), and nothing proves
    # the seal, whose certificates have expired.
    altered = service.validate(_tamper_document_time_stamp(archived, 0), fetch=fetch)
    sig, first, second = altered.signatures
    assert not altered.ok
    assert (first.indication, second.indication) == (Indication.TOTAL_FAILED,) * 2
    assert sig.indication is not Indication.TOTAL_PASSED
    assert not (_codes(sig) | _codes(first)) & {
        "proven_by_document_time_stamp",
        "proven_by_later_document_time_stamp",
    }
    (entry,) = _events(ledger, "signing.pdf.archive_renewed")
    assert entry.data["tsa_serial"] == renewed_tsa.serial_hex  # type: ignore[attr-defined]


def test_a_second_renewal_by_the_same_time_stamping_certificate_is_refused(
    signing: SigningService,
    entity: LegalEntity,
    eseal: IssuedCertificate,
    clock: FixedClock,
    tsa_renewal: TsaRenewal,
    new_signing_service: Callable[[], SigningService],
    ledger: AuditLedger,
) -> None:
    sealed = signing.seal(entity.id, make_pdf(), actor="t", level="B-LTA")
    clock.advance(_time_stamping_end(sealed) - clock.now() - dt.timedelta(days=300))
    assert tsa_renewal.renew(actor="t") is not None
    restarted = new_signing_service()
    once = restarted.renew_archive(sealed, actor="t")

    # Its time-stamp would end when the last one does: it would extend nothing.
    with pytest.raises(InvalidSigningRequest, match="renew it first with `natid ca tsa-renew`"):
        restarted.renew_archive(once, actor="t")

    assert len(_events(ledger, "signing.pdf.archive_renewed")) == 1


def test_a_document_that_no_longer_validates_is_not_renewed(
    signing: SigningService,
    entity: LegalEntity,
    eseal: IssuedCertificate,
    clock: FixedClock,
    ledger: AuditLedger,
) -> None:
    sealed = signing.seal(entity.id, make_pdf(), actor="t", level="B-LTA")
    clock.advance(_time_stamping_end(sealed) - clock.now() + dt.timedelta(days=1))

    with pytest.raises(InvalidSigningRequest, match="validates"):
        signing.renew_archive(sealed, actor="t")

    assert not _events(ledger, "signing.pdf.archive_renewed")


def test_a_document_without_its_own_validation_data_is_not_renewed(
    signing: SigningService, entity: LegalEntity, eseal: IssuedCertificate
) -> None:
    stamped = signing.seal(entity.id, make_pdf(), actor="t", level="B-T")

    with pytest.raises(InvalidSigningRequest, match="B-T: it carries no validation data"):
        signing.renew_archive(stamped, actor="t")


def test_a_b_lt_document_gets_its_first_document_time_stamp(
    signing: SigningService, entity: LegalEntity, eseal: IssuedCertificate
) -> None:
    long_term = signing.seal(entity.id, make_pdf(), actor="t", level="B-LT")

    renewed = signing.renew_archive(long_term, actor="t")

    sig, stamp = signing.validate(renewed, fetch=False).signatures
    assert (sig.pades_level, stamp.kind, stamp.indication) == (
        "B-LTA",
        "document-timestamp",
        Indication.TOTAL_PASSED,
    )
