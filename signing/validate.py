"""Validation of PDF signatures with an ETSI EN 319 102-1 result (issue 5, "Validation").

:func:`validate_pdf` reports, for every signature and document time-stamp of a PDF: the
signer, the certificate chain, the claimed and time-stamped signing time, the PAdES level the
signature reaches, what changed after signing, the revocation status, and an EN 319 102-1
§5.1.3 indication (TOTAL-PASSED, INDETERMINATE, TOTAL-FAILED) with its sub-indication
(Table 6-7, in the standard's spelling). pyHanko checks the cryptography, the chain, the
DocMDP rules and the incremental updates; this module turns its findings into the standard's
vocabulary. Like every verification in NatID it does no I/O of its own: the trust anchor and
the revocation sources (fetchers) are arguments (STYLE.md, "Shape").

The verdict, in the order EN 319 102-1 §5.3 checks (the first problem found decides):

1. the document digest over /ByteRange does not match the signed messageDigest ->
   TOTAL-FAILED / HASH_FAILURE (the file was modified inside the signed bytes);
2. the signature value does not verify -> TOTAL-FAILED / SIG_CRYPTO_FAILURE;
3. the certificate chain does not reach NatID's root, or the signer's certificate is revoked,
   expired or not yet valid -> the sub-indication pyHanko's path validation gives
   (NO_CERTIFICATE_CHAIN_FOUND, REVOKED, REVOKED_NO_POE, EXPIRED, ...). A certificate revoked
   *after* a valid signature time-stamp is not a failure: the time-stamp is proof of existence
   before the revocation (§5.6.2.4, past signature validation), so the signature passes and
   the report says when the certificate was revoked. No revocation data for a certificate of
   the chain -> INDETERMINATE / TRY_LATER (the standard's sub-indication for a status that
   cannot be determined with the revocation data at hand but may be later; EU DSS reports a
   missing status the same way), revocation ``unknown``, never ``good``;
4. a signature time-stamp that is present but invalid or untrusted -> INDETERMINATE /
   TIMESTAMP_ORDER_FAILURE is not it; the standard has no closer code than
   SIG_CONSTRAINTS_FAILURE, which is used;
5. modifications after signing that the signature's DocMDP level (or, for approval
   signatures, the default policy: form filling, further signatures, DSS and document
   time-stamps) does not allow, or a signature that does not cover its whole revision ->
   TOTAL-FAILED / FORMAT_FAILURE (the signed document is no longer what is shown);
6. otherwise TOTAL-PASSED.

Revocation data, decisions:

* **Missing revocation data is never a pass.** Every certificate of the chain that names an
  OCSP responder or a CRL must have its status checked (pyHanko's ``hard-fail`` mode), with or
  without fetchers. Without fetchers ("offline") that means the OCSP responses and CRLs the
  document carries (a B-LT or B-LTA DSS); a B-B or B-T document carries none, so offline its
  signer's status is unknown. (pyHanko refuses a ``hard-fail`` context that has neither
  fetchers nor revocation data, which is why offline validation once ran in ``soft-fail``
  mode, where a missing status silently counted as good. Empty lists of CRLs and OCSP
  responses satisfy that check and keep the rule.)
* **Telling "no data" from other chain failures.** pyHanko reports a missing status with the
  catch-all CERTIFICATE_CHAIN_GENERAL_FAILURE. After that result (and only then, so a good
  signature costs nothing more) the signer's path is validated once more with the same
  sources; if that fails for want of revocation data, the sub-indication is TRY_LATER.
* **Offline, a B-LT or B-LTA document's revocation data is judged at its time-stamp's time.**
  An OCSP response lives hours and a CRL days, so judged at the validation time the data such
  a document carries is stale the next day: validated offline it was INDETERMINATE /
  TRY_LATER, the very case those levels exist for. Offline (only the document's data), when
  the first pass trusts neither the signer nor its time-stamp and found no revocation, a
  signature with a signature time-stamp, and a document time-stamp, is validated once more
  *at the time-stamp's time*: the chain, the time-stamp's own chain and the revocation data as
  they stood when the signature is proven to have existed. Data whose validity covers that
  time counts, and so does data issued after it (a "good" status issued later says the
  certificate was not revoked then; pyHanko's ``retroactive_revinfo``). That pass is kept only
  when it trusts the signer and the time-stamp and every certificate of both paths is still
  within its validity at the validation time (or, when one has expired since, as below), and
  the report says so in a message. Decisions: online, current data decides and a responder
  that cannot be reached is TRY_LATER as before (a revocation known now, of the signer or of
  the time-stamping unit, is never set aside for old data); a certificate the document shows
  revoked is never looked at again; a certificate put on hold when it signed and released
  before the document's data was fetched reads as good (the limit of any validation with data
  issued later).
* **Expired since: a document time-stamp is the proof of existence** (EN 319 102-1 §5.6.2.4
  past signature validation, in the form a B-LTA document allows). When a certificate of the
  signature's or its time-stamp's path has expired since, offline or online, the signature is
  validated as at its time-stamp's time with the document's data alone (no fetching: today's
  responders need not answer for an expired certificate), and kept only when that pass trusts
  the signer and the time-stamp and a *trusted* document time-stamp of a later revision (so
  covering the signature, its time-stamp and the DSS), not earlier than the signature's
  time-stamp, was made while the signature time-stamp's certificates were valid
  (:func:`_proof_of_existence`). The document time-stamps are therefore validated first.
  Chains of document time-stamps (§5.6.3, an archive time-stamped again before its last
  time-stamp's certificate expired: ``natid sign renew-archive``) are followed the same way,
  newest first: a document time-stamp whose certificate has expired since is kept when, as at
  its own time with the document's data, it is trusted and a later trusted (or so proven)
  document time-stamp was made while its certificate was valid. The newest must be trusted
  today.

The PAdES level reached (EN 319 142-1 §6): B-B for a CAdES-detached signature; B-T with a
valid signature time-stamp; B-LT when the document also carries validation data (DSS with
OCSP responses or CRLs); B-LTA when a valid document time-stamp covers that DSS.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any, Final

from cryptography import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESSubIndic
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError, SignatureValidationError
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import (
    DocumentTimestampStatus,
    PdfSignatureStatus,
    SignatureCoverageLevel,
)
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import InsufficientRevinfoError, PathError, ValidationError
from pyhanko_certvalidator.fetchers import Fetchers

from ca.store import serial_hex
from core.clock import require_aware
from signing.errors import EncryptedPdf, InvalidPdf
from signing.pades import MAX_PDF_BYTES, READ_ERRORS, asn1_certificate

__all__ = [
    "NOTE_CODES",
    "Indication",
    "Note",
    "SignatureReport",
    "ValidationReport",
    "validate_pdf",
]


class Indication(StrEnum):
    """EN 319 102-1 §5.1.3 main status indications."""

    TOTAL_PASSED = "TOTAL-PASSED"
    INDETERMINATE = "INDETERMINATE"
    TOTAL_FAILED = "TOTAL-FAILED"


#: Every :attr:`Note.code` a report can carry; a page that words the notes in another language
#: words each of these (api/routers/signing_validate_text.py).
NOTE_CODES: Final = (
    "cannot_process",
    "revoked",
    "no_revocation_data_in_document",
    "no_revocation_data_obtained",
    "modified_in_signed_range",
    "time_stamp_before_revocation",
    "time_stamp_not_trusted",
    "partial_revision",
    "changed_after_signing",
    "judged_at_time_stamp",
    "proven_by_document_time_stamp",
    "proven_by_later_document_time_stamp",
)


@dataclass(frozen=True, slots=True)
class Note:
    """One finding of a report in words: ``code`` (one of :data:`NOTE_CODES`) names it for a
    page that words it in its own language, ``text`` is the English sentence (the report's
    ``messages``), ``at`` the moment it names and ``detail`` its other variable part (a
    revocation reason, the reason a signature could not be processed), if any."""

    code: str
    text: str
    at: dt.datetime | None = None
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "text": self.text,
            "at": self.at.isoformat() if self.at is not None else None,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class SignatureReport:
    """What the validation found about one signature or document time-stamp."""

    field_name: str
    #: ``signature`` or ``document-timestamp``.
    kind: str
    indication: Indication
    sub_indication: str | None
    signer: str
    signer_serial: str
    #: Subjects from the signer up to the trust anchor (empty when no chain was found).
    chain: tuple[str, ...]
    #: The time the signer's software claims (CMS signingTime), if any.
    claimed_signing_time: dt.datetime | None
    #: The time of a valid signature time-stamp (proof of existence), if any.
    timestamp_time: dt.datetime | None
    pades_level: str | None
    intact: bool
    signature_valid: bool
    trusted: bool
    coverage: str
    modifications: str
    docmdp_ok: bool | None
    certification_level: int | None
    revocation: str
    revoked_at: dt.datetime | None
    embedded_ocsp_responses: int
    embedded_crls: int
    #: The findings in English, one sentence each: the ``text`` of :attr:`notes`.
    messages: tuple[str, ...] = field(default=())
    #: The same findings with their codes and variable parts.
    notes: tuple[Note, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["notes"] = [note.as_dict() for note in self.notes]
        for key, value in data.items():
            if isinstance(value, dt.datetime):
                data[key] = value.isoformat()
            elif isinstance(value, tuple):
                data[key] = list(value)
        data["indication"] = self.indication.value
        return data


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """One entry per signature and document time-stamp, in signing order."""

    signatures: tuple[SignatureReport, ...]

    @property
    def ok(self) -> bool:
        """At least one signature, and every one TOTAL-PASSED."""
        return bool(self.signatures) and all(
            s.indication is Indication.TOTAL_PASSED for s in self.signatures
        )

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "signatures": [s.as_dict() for s in self.signatures]}


def validate_pdf(
    pdf: bytes,
    *,
    root: x509.Certificate,
    intermediates: Sequence[x509.Certificate] = (),
    fetchers: Fetchers | None,
    at: dt.datetime,
) -> ValidationReport:
    """Validate every signature of ``pdf`` at ``at`` against ``root``.

    ``fetchers`` supply current revocation data (None: only what the document carries).
    Raises :class:`~signing.errors.InvalidPdf` / :class:`~signing.errors.EncryptedPdf` when
    the file cannot be read; a bad signature is a report, not an exception.
    """
    at = require_aware(at)
    reader = _open(pdf)
    try:
        return asyncio.run(_validate(reader, root, intermediates, fetchers, at))
    except (InvalidPdf, EncryptedPdf):
        raise
    except READ_ERRORS as exc:
        raise InvalidPdf(f"the PDF's signatures cannot be read: {_short(exc)}") from exc


def _open(pdf: bytes) -> PdfFileReader:
    if not isinstance(pdf, bytes | bytearray | memoryview):
        raise InvalidPdf(f"a PDF must be bytes, got {type(pdf).__name__}")
    if len(pdf) > MAX_PDF_BYTES:
        raise InvalidPdf(f"the PDF has {len(pdf)} bytes; at most {MAX_PDF_BYTES} are accepted")
    if not bytes(pdf[:1024]).lstrip().startswith(b"%PDF-"):
        raise InvalidPdf("the input is not a PDF (no %PDF- header)")
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        encrypted = reader.encrypted
        if not encrypted:
            reader.root  # noqa: B018 - proves the cross-reference table is usable
    except READ_ERRORS as exc:
        raise InvalidPdf(f"the PDF cannot be read: {_short(exc)}") from exc
    if encrypted:
        raise EncryptedPdf("the PDF is encrypted; NatID validates unencrypted documents")
    return reader


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]


#: One signature's outcome: its status (or the error that stopped its validation), whether it
#: failed for want of revocation data, the time it was judged at when not the validation time,
#: and the document time-stamp's time that proved it existed ("Expired since").
_Outcome = tuple[Any, bool, dt.datetime | None, dt.datetime | None]


@dataclass
class _Validation:
    """The sources of one document's validation, and what its document time-stamps prove."""

    root: x509.Certificate
    intermediates: Sequence[x509.Certificate]
    fetchers: Fetchers | None
    at: dt.datetime
    dss: DocumentSecurityStore | None
    #: (revision, time) of every trusted document time-stamp.
    proofs: list[tuple[int, dt.datetime]] = field(default_factory=list)
    #: (revision, valid) of every document time-stamp, for the PAdES level.
    doc_ts_after: list[tuple[int, bool]] = field(default_factory=list)

    @property
    def offline(self) -> bool:
        return self.fetchers is None

    def context(
        self, time_stamped: dt.datetime | None = None, *, fetch: bool = True
    ) -> ValidationContext:
        # hard-fail with or without fetchers: see "Revocation data" in the module docstring.
        # With ``time_stamped``: at that time, data issued later counting too ("Offline").
        # Without ``fetch``: only the document's data ("Expired since").
        fetching = fetch and self.fetchers is not None
        kwargs: dict[str, Any] = {
            "trust_roots": [asn1_certificate(self.root)],
            "other_certs": [asn1_certificate(c) for c in self.intermediates],
            "moment": self.at if time_stamped is None else time_stamped,
            "revocation_mode": "hard-fail",
            "allow_fetching": fetching,
            "retroactive_revinfo": time_stamped is not None,
        }
        if fetching:
            kwargs["fetchers"] = self.fetchers
        if self.dss is not None:
            return self.dss.as_validation_context(kwargs)
        return ValidationContext(crls=[], ocsps=[], **kwargs)

    async def document_timestamp(self, sig: EmbeddedPdfSignature) -> _Outcome:
        status: Any = await async_validate_pdf_timestamp(sig, validation_context=self.context())
        poe = _time_stamp_time(sig) if _judge_then(self.dss, self.fetchers, status) else None
        if poe is not None:
            again = await async_validate_pdf_timestamp(sig, validation_context=self.context(poe))
            passed = _trusted(again) and _in_force(again, self.at)
            status, poe = (again, poe) if passed else (status, None)
        proven = None
        if not _trusted(status) and self.proofs:
            # Its certificate may have expired since: a later document time-stamp made while
            # it was valid proves it (a chain of document time-stamps, "Expired since").
            stamped = _time_stamp_time(sig)
            if stamped is not None:
                then = await async_validate_pdf_timestamp(
                    sig, validation_context=self.context(stamped, fetch=False)
                )
                if _trusted(then) and not _in_force(then, self.at):
                    proven = _proof_of_existence(sig, stamped, then, then, self.proofs)
                if proven is not None:
                    status, poe = then, stamped
        trusted = _trusted(status)
        self.doc_ts_after.append((sig.signed_revision, trusted))
        stamped = _time_stamp_time(sig) if trusted else None
        if stamped is not None:
            self.proofs.append((sig.signed_revision, stamped))
        no_revinfo = await _lacks_revinfo(sig, status, self.context())
        return status, no_revinfo, poe, proven

    async def signature(self, sig: EmbeddedPdfSignature) -> _Outcome:
        status: Any = await async_validate_pdf_signature(
            sig, signer_validation_context=self.context(), ts_validation_context=self.context()
        )
        poe, proven = None, None
        if _judge_then(self.dss, None, status) and (self.offline or self.proofs):
            poe = _time_stamp_time(sig)
        if poe is not None:
            # Online only for a certificate that has expired since, and then with the
            # document's data alone ("Expired since").
            then = await async_validate_pdf_signature(
                sig,
                signer_validation_context=self.context(poe, fetch=False),
                ts_validation_context=self.context(poe, fetch=False),
            )
            stamp = then.timestamp_validity
            passed = False
            if _trusted(then) and stamp is not None and _trusted(stamp):
                in_force = _in_force(then, self.at) and _in_force(stamp, self.at)
                if self.offline and in_force:
                    passed = True
                elif not in_force:
                    proven = _proof_of_existence(sig, poe, then, stamp, self.proofs)
                    passed = proven is not None
            status, poe = (then, poe) if passed else (status, None)
        no_revinfo = await _lacks_revinfo(sig, status, self.context())
        return status, no_revinfo, poe, proven


async def _validate(
    reader: PdfFileReader,
    root: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    fetchers: Fetchers | None,
    at: dt.datetime,
) -> ValidationReport:
    try:
        dss: DocumentSecurityStore | None = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        dss = None
    n_ocsp = len(dss.ocsps) if dss is not None else 0
    n_crl = len(dss.crls) if dss is not None else 0
    validation = _Validation(root, intermediates, fetchers, at, dss)
    embedded = list(reader.embedded_signatures)
    # The document time-stamps first, the newest first: a trusted one proves what it covers
    # existed at its time ("Expired since"), which the signatures and the older document
    # time-stamps before it may need.
    order = sorted(
        range(len(embedded)),
        key=lambda i: (
            (0, -embedded[i].signed_revision)
            if embedded[i].sig_object_type == "/DocTimeStamp"
            else (1, i)
        ),
    )
    outcomes: dict[int, _Outcome] = {}
    for index in order:
        sig = embedded[index]
        try:
            if sig.sig_object_type == "/DocTimeStamp":
                outcomes[index] = await validation.document_timestamp(sig)
            else:
                outcomes[index] = await validation.signature(sig)
        except (SignatureValidationError, ValueError) as exc:
            outcomes[index] = (exc, False, None, None)
    reports: list[SignatureReport] = []
    for index, sig in enumerate(embedded):
        outcome, no_revinfo, poe, proven = outcomes[index]
        report = _report(
            sig,
            outcome,
            validation.doc_ts_after,
            n_ocsp,
            n_crl,
            no_revinfo=no_revinfo,
            offline=validation.offline,
        )
        if poe is not None:
            said = [
                Note(
                    "judged_at_time_stamp",
                    "validated as at its time-stamp of "
                    f"{poe.isoformat()} with the revocation data the document carries",
                    at=poe,
                )
            ]
            if proven is not None and sig.sig_object_type == "/DocTimeStamp":
                said.append(
                    Note(
                        "proven_by_later_document_time_stamp",
                        "its certificate has expired since; the later document time-stamp of "
                        f"{proven.isoformat()} proves this time-stamp existed while its "
                        "certificate was valid",
                        at=proven,
                    )
                )
            elif proven is not None:
                said.append(
                    Note(
                        "proven_by_document_time_stamp",
                        "a certificate has expired since; the document time-stamp of "
                        f"{proven.isoformat()} proves the signature and its time-stamp existed "
                        "while they were valid",
                        at=proven,
                    )
                )
            report = _with_notes(report, said)
        reports.append(report)
    return ValidationReport(tuple(reports))


def _with_notes(report: SignatureReport, notes: Sequence[Note]) -> SignatureReport:
    return replace(
        report,
        messages=(*report.messages, *(note.text for note in notes)),
        notes=(*report.notes, *notes),
    )


def _trusted(status: Any) -> bool:
    return bool(status.intact and status.valid and status.trusted)


def _in_force(status: Any, at: dt.datetime) -> bool:
    """Whether every certificate of the path a pass trusted is within its validity at ``at``:
    the pass at the time-stamp's time judges revocation data then, not expiry (online, a
    certificate that has expired since is OUT_OF_BOUNDS_NO_POE, and so it stays offline)."""
    path = status.validation_path
    if path is None:
        return False
    return all(cert.not_valid_before <= at <= cert.not_valid_after for cert in path)


def _proof_of_existence(
    sig: EmbeddedPdfSignature,
    poe: dt.datetime,
    then: Any,
    stamp: Any,
    proofs: Sequence[tuple[int, dt.datetime]],
) -> dt.datetime | None:
    """The time of the earliest trusted document time-stamp that covers ``sig`` (a later
    revision) and proves its signature time-stamp existed while that time-stamp's own
    certificates were valid ("Expired since"); None if there is none. ``then`` and ``stamp``
    are the signature's and its time-stamp's statuses as at ``poe``, the time-stamp's time."""
    if not (_in_force(then, poe) and _in_force(stamp, poe)):
        return None
    times = sorted(
        when
        for revision, when in proofs
        if revision > sig.signed_revision and when >= poe and _in_force(stamp, when)
    )
    return times[0] if times else None


def _judge_then(
    dss: DocumentSecurityStore | None,
    fetchers: Fetchers | None,
    status: PdfSignatureStatus | DocumentTimestampStatus,
) -> bool:
    """Whether to validate again at the time-stamp's time ("Offline" in the module docstring):
    offline, the document carries revocation data, and the first pass found neither a trusted
    signer and time-stamp nor a revocation."""
    if fetchers is not None or dss is None or not (dss.ocsps or dss.crls):
        return False
    if status.revocation_details is not None:
        return False
    ts = getattr(status, "timestamp_validity", None)
    return not (_trusted(status) and (ts is None or _trusted(ts)))


def _time_stamp_time(sig: EmbeddedPdfSignature) -> dt.datetime | None:
    """The time a signature's time-stamp (or a document time-stamp) states, unchecked: the
    second pass validates that time-stamp and is kept only when it is trusted."""
    try:
        if sig.sig_object_type == "/DocTimeStamp":
            token = sig.signed_data
        else:
            token = next(extract_tst_data_iter(sig.signer_info, signed=False), None)
            if token is None:
                return None
        when = token["encap_content_info"]["content"].parsed["gen_time"].native
    except (*READ_ERRORS, KeyError):
        return None
    return when if isinstance(when, dt.datetime) and when.tzinfo is not None else None


async def _lacks_revinfo(
    sig: EmbeddedPdfSignature,
    status: PdfSignatureStatus | DocumentTimestampStatus,
    context: ValidationContext,
) -> bool:
    """Whether the signer's chain failed for want of revocation data ("Revocation data")."""
    if status.trust_problem_indic is not AdESIndeterminate.CERTIFICATE_CHAIN_GENERAL_FAILURE:
        return False
    validator = CertificateValidator(
        sig.signer_cert, intermediate_certs=sig.other_embedded_certs, validation_context=context
    )
    try:
        await validator.async_validate_path()
    except InsufficientRevinfoError:
        return True
    except (PathError, ValidationError, *READ_ERRORS):  # it failed for another reason
        return False
    return False  # the path validates this time: pyHanko's finding stands


def _report(
    sig: EmbeddedPdfSignature,
    outcome: PdfSignatureStatus | DocumentTimestampStatus | Exception,
    doc_timestamps: Iterable[tuple[int, bool]],
    n_ocsp: int,
    n_crl: int,
    *,
    no_revinfo: bool,
    offline: bool,
) -> SignatureReport:
    is_doc_ts = sig.sig_object_type == "/DocTimeStamp"
    kind = "document-timestamp" if is_doc_ts else "signature"
    try:
        cert = sig.signer_cert
        signer, serial = cert.subject.human_friendly, serial_hex(cert.serial_number)
    except (*READ_ERRORS, SignatureValidationError):  # no usable signer certificate
        signer, serial = "", ""
    if isinstance(outcome, Exception):
        return SignatureReport(
            field_name=str(sig.field_name),
            kind=kind,
            indication=Indication.TOTAL_FAILED,
            sub_indication=AdESFailure.FORMAT_FAILURE.name,
            signer=signer,
            signer_serial=serial,
            chain=(),
            claimed_signing_time=None,
            timestamp_time=None,
            pades_level=None,
            intact=False,
            signature_valid=False,
            trusted=False,
            coverage="unknown",
            modifications="unknown",
            docmdp_ok=None,
            certification_level=None,
            revocation="unknown",
            revoked_at=None,
            embedded_ocsp_responses=n_ocsp,
            embedded_crls=n_crl,
            messages=(f"the signature cannot be processed: {_short(outcome)}",),
            notes=(
                Note(
                    "cannot_process",
                    f"the signature cannot be processed: {_short(outcome)}",
                    detail=_short(outcome),
                ),
            ),
        )
    status = outcome
    notes: list[Note] = []
    ts = getattr(status, "timestamp_validity", None)
    ts_ok = ts is not None and ts.intact and ts.valid and ts.trusted
    ts_time: dt.datetime | None = None
    if is_doc_ts:
        ts_time = status.timestamp if isinstance(status, DocumentTimestampStatus) else None
    elif ts_ok:
        assert ts is not None
        ts_time = ts.timestamp
    revocation, revoked_at = "good", None
    details = status.revocation_details
    if details is not None:
        revocation = "revoked" + (" (CA)" if details.ca_revoked else "")
        revoked_at = details.revocation_date
        reason = str(details.revocation_reason.native)
        notes.append(
            Note(
                "revoked",
                f"certificate revoked on {revoked_at.isoformat()} (reason: {reason})",
                at=revoked_at,
                detail=reason,
            )
        )
    elif not status.trusted:
        revocation = "unknown"
    if no_revinfo:
        notes.append(
            Note(
                "no_revocation_data_in_document" if offline else "no_revocation_data_obtained",
                "no usable revocation data for the certificate chain "
                + (
                    "in the document (only the data inside the document was used); "
                    if offline
                    else "could be obtained; "
                )
                + "whether a certificate was revoked is unknown",
            )
        )
    coverage = status.coverage
    mod_level = status.modification_level
    modifications = mod_level.name.lower() if mod_level is not None else "unknown"
    if mod_level is ModificationLevel.NONE and coverage is SignatureCoverageLevel.ENTIRE_FILE:
        modifications = "none"
    indication, sub = _verdict(status, ts_ok, ts_time, notes, no_revinfo=no_revinfo)
    level = None if is_doc_ts else _pades_level(sig, ts_ok, n_ocsp + n_crl, doc_timestamps)
    path = status.validation_path
    chain = tuple(c.subject.human_friendly for c in path) if path is not None else ()
    docmdp = sig.docmdp_level
    return SignatureReport(
        field_name=str(sig.field_name),
        kind=kind,
        indication=indication,
        sub_indication=sub,
        signer=signer,
        signer_serial=serial,
        chain=tuple(reversed(chain)),
        claimed_signing_time=sig.self_reported_timestamp,
        timestamp_time=ts_time,
        pades_level=level,
        intact=status.intact,
        signature_valid=status.valid,
        trusted=status.trusted,
        coverage=coverage.name.lower().replace("_", " ") if coverage is not None else "unknown",
        modifications=modifications,
        docmdp_ok=status.docmdp_ok,
        certification_level=int(docmdp.value) if docmdp is not None else None,
        revocation=revocation,
        revoked_at=revoked_at,
        embedded_ocsp_responses=n_ocsp,
        embedded_crls=n_crl,
        messages=tuple(note.text for note in notes),
        notes=tuple(notes),
    )


def _verdict(  # noqa: PLR0911 - one return per check, in the standard's order
    status: PdfSignatureStatus | DocumentTimestampStatus,
    ts_ok: bool,
    ts_time: dt.datetime | None,
    notes: list[Note],
    *,
    no_revinfo: bool,
) -> tuple[Indication, str | None]:
    """EN 319 102-1 indication and sub-indication, in the module docstring's order."""
    if not status.intact:
        notes.append(
            Note(
                "modified_in_signed_range", "the document was modified inside the signed byte range"
            )
        )
        return Indication.TOTAL_FAILED, AdESFailure.HASH_FAILURE.name
    if not status.valid:
        return Indication.TOTAL_FAILED, AdESFailure.SIG_CRYPTO_FAILURE.name
    problem: AdESSubIndic | None = status.trust_problem_indic
    details = status.revocation_details
    if problem is not None:
        revoked_later = (
            details is not None
            and not details.ca_revoked
            and ts_ok
            and ts_time is not None
            and details.revocation_date > ts_time
        )
        if revoked_later:
            notes.append(
                Note(
                    "time_stamp_before_revocation",
                    "the signature time-stamp proves it was made before the revocation",
                )
            )
        elif no_revinfo:
            return Indication.INDETERMINATE, AdESIndeterminate.TRY_LATER.name
        else:
            name = problem.name if isinstance(problem, AdESFailure | AdESIndeterminate) else None
            if isinstance(problem, AdESFailure):
                return Indication.TOTAL_FAILED, name
            return Indication.INDETERMINATE, name
    ts = getattr(status, "timestamp_validity", None)
    if ts is not None and not ts_ok:
        notes.append(
            Note("time_stamp_not_trusted", "the signature time-stamp is not valid or not trusted")
        )
        return Indication.INDETERMINATE, AdESIndeterminate.SIG_CONSTRAINTS_FAILURE.name
    if isinstance(status, PdfSignatureStatus):
        coverage = status.coverage
        if coverage is not None and coverage < SignatureCoverageLevel.ENTIRE_REVISION:
            notes.append(
                Note("partial_revision", "the signature does not cover its whole revision")
            )
            return Indication.TOTAL_FAILED, AdESFailure.FORMAT_FAILURE.name
        if status.modification_level is not None and not status.docmdp_ok:
            notes.append(
                Note(
                    "changed_after_signing",
                    "the document was changed after signing in a way it does not allow",
                )
            )
            return Indication.TOTAL_FAILED, AdESFailure.FORMAT_FAILURE.name
    return Indication.TOTAL_PASSED, None


def _pades_level(
    sig: EmbeddedPdfSignature,
    ts_ok: bool,
    revinfo: int,
    doc_timestamps: Iterable[tuple[int, bool]],
) -> str | None:
    subfilter = sig.sig_object.get("/SubFilter")
    if subfilter != "/ETSI.CAdES.detached":
        return None
    if not ts_ok:
        return "B-B"
    if revinfo == 0:
        return "B-T"
    if any(rev > sig.signed_revision and ok for rev, ok in doc_timestamps):
        return "B-LTA"
    return "B-LT"
