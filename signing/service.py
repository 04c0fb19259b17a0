"""Signing use cases: PAdES signatures by people and civil servants, e-seals of legal entities,
batches, and validation (issue 5, "Signing", "Validation").

:class:`SigningService` is the one entry point the CLI, the API and other services use. It finds
the signer's certificate and server-side key through the CA, builds the in-process TSA and
revocation sources, renders the visible stamp, signs (:mod:`signing.pades`), validates
(:mod:`signing.validate`) and records every signature in the audit ledger. Decisions:

1. **Which certificate signs.** A person signs with a valid ``citizen-sign`` certificate, a
   civil servant with a valid ``gov-sign`` one, a legal entity seals with ``eseal``: the newest
   good certificate of that profile, inside its validity at the signing time, whose key the
   CA generated in the key backend (``key_label``; sole control of a server-side key is the
   remote-signing model of issue 5). A certificate serial may be named instead of the subject.
   None found is :class:`~signing.errors.NoSigningCertificate` (404) saying how to issue one;
   :meth:`SigningService.seal` never issues behind the caller's back, :meth:`ensure_eseal` does.
2. **The TSA and the OCSP responders run in process** (the same objects ``natid serve`` uses
   for ``POST /tsa`` and ``/pki/ocsp/{ca}``), built on first use; a document signed here is
   byte-for-byte what a client of the HTTP endpoints would have made.
3. **Audit**: one ``signing.pdf.signed`` / ``signing.pdf.sealed`` entry per document with the
   certificate serial, level and SHA-256 of the signed file; never names or document content.
   A renewed archive (:meth:`renew_archive`) gets ``signing.pdf.archive_renewed`` with the
   SHA-256 of the file before and after and the new time-stamp's certificate serial.
4. **Batches** (:meth:`seal_batch`) seal file by file; a failing file is reported with its
   reason and does not stop the others. Output files are written whole (to a temporary name,
   then renamed), so an interrupted batch never leaves a half-written PDF.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy.orm import Session, sessionmaker

from ca.ocsp_service import OCSPResponders
from ca.profiles import ProfileName
from ca.service import CAService
from ca.store import IssuedCertificate, normalize_serial, serial_hex
from ca.tsa import TimeStampAuthority
from ca.urls import PkiUrls
from core.audit import AuditLedger
from core.cache import Cache
from core.clock import Clock
from core.errors import InvalidInput, NatIDError
from hsm_adapters.base import KeyBackend
from registry.ports import PopulationRegister
from signing.errors import (
    InvalidSigningRequest,
    NoESealCertificate,
    NoSigningCertificate,
    SigningUnavailable,
)
from signing.pades import (
    BackendSigner,
    InProcessTimeStamper,
    PadesLevel,
    SignatureSpec,
    renew_archive_time_stamp,
    sign_pdf_bytes,
)
from signing.revinfo import PkiRoutes, in_process_fetchers, validation_context
from signing.stamp import SignerDisplay, find_khmer_font, stamp_spec
from signing.validate import Indication, ValidationReport, validate_pdf

__all__ = ["SealFailure", "SealReport", "SealedFile", "SigningService"]

log = logging.getLogger(__name__)

#: Profiles a natural person signs with: civil servants first, then citizens.
_PERSON_PROFILES = (ProfileName.GOV_SIGN, ProfileName.CITIZEN_SIGN)


@dataclass(frozen=True, slots=True)
class SealedFile:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class SealFailure:
    name: str
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class SealReport:
    """The outcome of a batch: every file is either sealed or failed, in input order."""

    sealed: tuple[SealedFile, ...]
    failed: tuple[SealFailure, ...]

    @property
    def ok(self) -> bool:
        return not self.failed


#: Called once per file with (position from 1, total, outcome).
SealProgress = Callable[[int, int, SealedFile | SealFailure], None]


class SigningService:
    """Signs, seals and validates PDFs with NatID's certificates and server-side keys."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        ca: CAService,
        keys: KeyBackend,
        ledger: AuditLedger | None,
        clock: Clock,
        register: PopulationRegister,
        public_base_url: str,
        cache: Cache | None = None,
        font_path: Path | None = None,
    ) -> None:
        self._sessions = sessions
        self._ca = ca
        self._keys = keys
        self._ledger = ledger
        self._clock = clock
        self._register = register
        self._urls = PkiUrls(public_base_url)
        self._cache = cache
        self._font_path = font_path
        self._lock = threading.Lock()
        self._tsa: TimeStampAuthority | None = None
        self._responders: OCSPResponders | None = None

    # --- e-seals -------------------------------------------------------------------------

    def eseal_certificate(self, entity_id: str) -> IssuedCertificate:
        """The entity's valid ``eseal`` certificate with a server-side key (decision 1)."""
        found = self._usable(entity_id, (ProfileName.ESEAL,))
        if found is None:
            raise NoESealCertificate(
                f"legal entity {_shown(entity_id)} has no valid eseal certificate with a "
                f"server-side key; issue one with `natid ca issue --profile eseal --subject "
                f"{_shown(entity_id)} --server-key`"
            )
        return found

    def ensure_eseal(self, entity_id: str, *, actor: str | None) -> IssuedCertificate:
        """The entity's usable ``eseal`` certificate, issued now (server-side key) if none."""
        found = self._usable(entity_id, (ProfileName.ESEAL,))
        if found is not None:
            return found
        issued = self._ca.issue_with_server_key(ProfileName.ESEAL, entity_id, actor=actor)
        log.info("e-seal certificate issued", extra={"serial": issued.serial_hex})
        return issued

    def seal(
        self,
        entity_id: str,
        pdf: bytes,
        *,
        actor: str | None,
        level: str | PadesLevel = "B-T",
        visible: bool = False,
        reason: str | None = None,
        field_name: str | None = None,
    ) -> bytes:
        """E-seal one PDF in memory with the entity's ``eseal`` certificate (into the empty
        signature field ``field_name`` when given, e.g. one a workflow made beforehand).

        Raises :class:`~signing.errors.NoESealCertificate` (none usable),
        :class:`~signing.errors.InvalidPdf`, :class:`~signing.errors.InvalidSigningRequest`
        or :class:`~signing.errors.SigningUnavailable`.
        """
        cert = self.eseal_certificate(entity_id)
        return self._sign(
            pdf,
            cert,
            SignatureSpec(level=PadesLevel.parse(level), reason=reason, field_name=field_name),
            visible=visible,
            actor=actor,
            event="signing.pdf.sealed",
        )

    def seal_batch(
        self,
        entity_id: str,
        files: Iterable[Path],
        *,
        out_dir: Path,
        actor: str | None,
        level: str | PadesLevel = "B-T",
        visible: bool = False,
        progress: SealProgress | None = None,
    ) -> SealReport:
        """Seal every file into ``out_dir`` under the same name (decision 4).

        The certificate is looked up once: an entity without one fails at once with
        :class:`~signing.errors.NoESealCertificate` rather than once per file.
        """
        wanted = PadesLevel.parse(level)
        cert = self.eseal_certificate(entity_id)
        paths = sorted(files)
        out_dir.mkdir(parents=True, exist_ok=True)
        sealed: list[SealedFile] = []
        failed: list[SealFailure] = []
        for number, path in enumerate(paths, 1):
            outcome: SealedFile | SealFailure
            try:
                data = _read_limited(path)
                signed = self._sign(
                    data,
                    cert,
                    SignatureSpec(level=wanted),
                    visible=visible,
                    actor=actor,
                    event="signing.pdf.sealed",
                )
                _write_whole(out_dir / path.name, signed)
                outcome = SealedFile(path.name, len(signed), hashlib.sha256(signed).hexdigest())
                sealed.append(outcome)
            except NatIDError as exc:
                outcome = SealFailure(path.name, exc.code, exc.message)
                failed.append(outcome)
            except OSError as exc:
                outcome = SealFailure(path.name, "io_error", exc.strerror or type(exc).__name__)
                failed.append(outcome)
            if progress is not None:
                progress(number, len(paths), outcome)
        log.info("seal batch finished", extra={"sealed": len(sealed), "failed": len(failed)})
        return SealReport(tuple(sealed), tuple(failed))

    # --- signatures of people --------------------------------------------------------------

    def signing_certificate(self, signer: str) -> IssuedCertificate:
        """The certificate ``signer`` signs with: a person or civil servant id (decision 1),
        or the serial of a usable signing certificate."""
        if not isinstance(signer, str) or not signer.strip():
            raise InvalidSigningRequest("name the signer: a person or civil servant id")
        found = self._usable(signer, _PERSON_PROFILES)
        if found is not None:
            return found
        try:
            serial = normalize_serial(signer)
        except InvalidInput:
            serial = None
        if serial is not None:
            try:
                cert = self._ca.get(serial)
            except NatIDError:
                cert = None
            if (
                cert is not None
                and cert.profile in (*_PERSON_PROFILES, ProfileName.ESEAL)
                and cert.key_label is not None
                and cert.is_valid_at(self._clock.now())
            ):
                return cert
        raise NoSigningCertificate(
            f"{_shown(signer)} has no valid signing certificate (gov-sign or citizen-sign) "
            "with a server-side key; issue one with `natid ca issue --profile gov-sign "
            f"--subject {_shown(signer)} --server-key` (citizen-sign for a citizen)"
        )

    def sign_pdf(
        self,
        pdf: bytes,
        *,
        signer: str,
        actor: str | None,
        level: str | PadesLevel = "B-T",
        visible: bool = False,
        field_name: str | None = None,
        reason: str | None = None,
        location: str | None = None,
        certify: bool = False,
    ) -> bytes:
        """Sign ``pdf`` for ``signer`` (a person, civil servant or certificate serial)."""
        cert = self.signing_certificate(signer)
        spec = SignatureSpec(
            level=PadesLevel.parse(level),
            field_name=field_name,
            reason=_text(reason, "reason"),
            location=_text(location, "location"),
            certify=certify,
        )
        return self._sign(pdf, cert, spec, visible=visible, actor=actor, event="signing.pdf.signed")

    # --- validation ----------------------------------------------------------------------

    def validate(self, pdf: bytes, *, fetch: bool = True) -> ValidationReport:
        """Validate every signature of ``pdf`` against NatID's root (:mod:`signing.validate`).

        With ``fetch`` the current revocation status is taken from NatID's own OCSP and CRLs
        (in process); without, only from what the document carries.
        """
        hierarchy = self._ca.hierarchy()
        intermediates = [c for name, c in hierarchy.cas.items() if name != "root"]
        return validate_pdf(
            pdf,
            root=hierarchy.root,
            intermediates=intermediates,
            fetchers=in_process_fetchers(self._routes()) if fetch else None,
            at=self._clock.now(),
        )

    def renew_archive(self, pdf: bytes, *, actor: str | None) -> bytes:
        """``pdf`` time-stamped again for the long term (EN 319 142-1 B-LTA; EN 319 102-1
        §5.6.3): the validation data of its last document time-stamp added, then a new document
        time-stamp by NatID's current time-stamping unit, with that one's validation data.

        Only a document that validates now, online, every signature and time-stamp
        TOTAL-PASSED, each signature at least B-LT (its own validation data embedded), can be
        renewed: a time-stamp over an archive that no longer validates would prove nothing. And
        the new time-stamp must outlive the last one: when the time-stamping unit's certificate
        ends no later than the one of the document's last document time-stamp, renew it first
        (``natid ca tsa-renew``).

        :raises InvalidSigningRequest: the document does not qualify (the message says why).
        :raises InvalidPdf: the input is not a readable, unencrypted PDF.
        :raises SigningUnavailable: the TSA or the revocation sources failed.
        """
        report = self.validate(pdf, fetch=True)
        if not report.signatures:
            raise InvalidSigningRequest("the document has no signature to keep valid")
        for entry in report.signatures:
            if entry.indication is not Indication.TOTAL_PASSED:
                raise InvalidSigningRequest(
                    f"the {entry.kind} in field {_shown(entry.field_name)} is "
                    f"{entry.indication.value}"
                    f"{'/' + entry.sub_indication if entry.sub_indication else ''} now; an "
                    "archive is renewed only while all of it validates"
                )
            if entry.kind == "signature" and entry.pades_level not in {"B-LT", "B-LTA"}:
                raise InvalidSigningRequest(
                    f"the signature in field {_shown(entry.field_name)} is {entry.pades_level}: it "
                    "carries no validation data of its own (sign at B-LT or B-LTA)"
                )
        tsa = self._tsa_authority()
        tsa_end = tsa.certificate.not_valid_after_utc
        # The report is in signing order; a document time-stamp that passed was made by
        # NatID's time-stamping unit (only NatID's root is trusted), whose certificates the CA
        # keeps.
        stamps = [e for e in report.signatures if e.kind == "document-timestamp"]
        last_end = self._ca.get(stamps[-1].signer_serial).not_after if stamps else None
        if last_end is not None and tsa_end <= last_end:
            raise InvalidSigningRequest(
                f"the time-stamping unit's certificate ends {tsa_end:%Y-%m-%d}, no later than "
                f"the document's last time-stamp ({last_end:%Y-%m-%d}): renew it first with "
                "`natid ca tsa-renew` and restart"
            )
        hierarchy = self._ca.hierarchy()
        renewed = renew_archive_time_stamp(
            pdf,
            timestamper=InProcessTimeStamper(tsa.respond),
            validation_context=validation_context(
                hierarchy.root,
                intermediates=[c for n, c in hierarchy.cas.items() if n != "root"],
                fetchers=in_process_fetchers(self._routes()),
                moment=self._clock.now(),
            ),
        )
        if self._ledger is not None:
            self._ledger.append(
                "signing.pdf.archive_renewed",
                actor=actor,
                data={
                    "sha256_before": hashlib.sha256(pdf).hexdigest(),
                    "sha256": hashlib.sha256(renewed).hexdigest(),
                    "tsa_serial": serial_hex(tsa.certificate.serial_number),
                    "tsa_not_after": tsa_end.isoformat(),
                },
            )
        return renewed

    # --- internals -----------------------------------------------------------------------

    def _usable(self, subject_id: str, profiles: Sequence[ProfileName]) -> IssuedCertificate | None:
        now = self._clock.now()
        for profile in profiles:
            for cert in self._ca.list(subject_id=subject_id, profile=profile, status="good"):
                if cert.key_label is not None and cert.is_valid_at(now):
                    return cert
        return None

    def _sign(
        self,
        pdf: bytes,
        cert: IssuedCertificate,
        spec: SignatureSpec,
        *,
        visible: bool,
        actor: str | None,
        event: str,
    ) -> bytes:
        now = self._clock.now()
        chain = self._ca.chain(cert.issuer)
        assert cert.key_label is not None
        try:
            key = self._keys.load(cert.key_label)
        except NatIDError as exc:
            raise SigningUnavailable(
                f"the key of certificate {cert.serial_hex} cannot be used: {exc.code}"
            ) from exc
        signer = BackendSigner(key, cert.certificate, chain)
        display = self._display(cert)
        if visible:
            spec = _with(
                spec,
                visible=stamp_spec(
                    display,
                    at=now,
                    validation_url=self._validation_url(cert, now),
                    font_path=find_khmer_font(self._font_path),
                ),
            )
        if spec.name is None:
            spec = _with(spec, name=display.name_latin)
        level = spec.level
        vc = None
        if level.needs_validation_data:
            hierarchy = self._ca.hierarchy()
            vc = validation_context(
                hierarchy.root,
                intermediates=[c for n, c in hierarchy.cas.items() if n != "root"],
                fetchers=in_process_fetchers(self._routes()),
                moment=now,
            )
        signed = sign_pdf_bytes(
            pdf,
            signer,
            spec,
            at=now,
            timestamper=InProcessTimeStamper(self._tsa_authority().respond)
            if level.needs_timestamp
            else None,
            validation_context=vc,
        )
        if self._ledger is not None:
            self._ledger.append(
                event,
                actor=actor,
                subject=cert.subject_id,
                data={
                    "serial": cert.serial_hex,
                    "profile": cert.profile.value,
                    "level": level.value,
                    "sha256": hashlib.sha256(signed).hexdigest(),
                    "certify": spec.certify,
                    "visible": visible,
                },
            )
        return signed

    def _display(self, cert: IssuedCertificate) -> SignerDisplay:
        """Names for the stamp, from the register (the certificate's DN has them too, but the
        register keeps the Khmer title and ministry)."""
        subject_id = cert.subject_id or ""
        if cert.profile is ProfileName.ESEAL:
            entity = self._register.get_entity(subject_id)
            return SignerDisplay(name_km=entity.name_km, name_latin=entity.name_en, kind="seal")
        if cert.profile is ProfileName.GOV_SIGN:
            servant = self._register.get_servant(subject_id)
            person = self._register.get_person(servant.person_id)
            return SignerDisplay(
                name_km=person.name_km,
                name_latin=person.name_latin,
                title=servant.title,
                title_km=servant.title_km,
                organisation=servant.ministry_name_en,
                organisation_km=servant.ministry_name_km,
            )
        person = self._register.get_person(subject_id)
        return SignerDisplay(name_km=person.name_km, name_latin=person.name_latin)

    def _validation_url(self, cert: IssuedCertificate, at: dt.datetime) -> str:
        stamp = at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        return f"{self._urls.base}/sign/validate?cert={cert.serial_hex}&t={stamp}"

    def _tsa_authority(self) -> TimeStampAuthority:
        with self._lock:
            if self._tsa is None:
                hierarchy = self._ca.hierarchy()
                issuer = next(
                    name for name, c in hierarchy.cas.items() if c.subject == hierarchy.tsa.issuer
                )
                self._tsa = TimeStampAuthority(
                    self._keys.load(hierarchy.tsa_key_label),
                    hierarchy.tsa,
                    hierarchy.chain(issuer),
                    policy_oid=_tsa_policy(hierarchy.tsa),
                    clock=self._clock,
                )
            return self._tsa

    def _ocsp(self) -> OCSPResponders:
        with self._lock:
            if self._responders is None:
                self._responders = OCSPResponders(
                    self._sessions,
                    keys=self._keys,
                    cache=self._cache,
                    clock=self._clock,
                    status_of=self._ca.status_of,
                    urls=self._urls,
                )
            return self._responders

    def _routes(self) -> PkiRoutes:
        hierarchy = self._ca.hierarchy()

        def ca_certificate(name: str) -> x509.Certificate:
            found = hierarchy.cas.get(name)
            if found is None:
                raise NoSigningCertificate(f"no CA named {name[:32]!r}")
            return found

        return PkiRoutes(
            urls=self._urls,
            ocsp=self._ocsp().respond,
            crl=lambda name, delta: self._ca.crl(name, delta=delta),
            ca_certificate=ca_certificate,
        )


def _tsa_policy(cert: x509.Certificate) -> str:
    """The TSA's policy OID: the first certificate policy of its certificate (the TSA
    profile names exactly one, ``{arc}.<n>``; RFC 3161 §2.4.2 ``policy``)."""
    try:
        policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except x509.ExtensionNotFound as exc:
        raise SigningUnavailable("the TSA certificate names no policy") from exc
    return str(policies[0].policy_identifier.dotted_string)


def _with(spec: SignatureSpec, **changes: Any) -> SignatureSpec:
    from dataclasses import replace

    return replace(spec, **changes)


def _text(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    if len(value) > 200 or any(ord(c) < 0x20 for c in value):
        raise InvalidSigningRequest(f"the {what} is at most 200 printable characters")
    return value


def _shown(value: object) -> str:
    """An identifier fit for a message: printable ASCII, at most 40 characters."""
    if not isinstance(value, str):
        return type(value).__name__
    return "".join(c if 0x21 <= ord(c) <= 0x7E else "?" for c in value[:40])


#: Largest file a batch reads (the signing limit).
def _read_limited(path: Path) -> bytes:
    from signing.errors import InvalidPdf
    from signing.pades import MAX_PDF_BYTES

    size = path.stat().st_size
    if size > MAX_PDF_BYTES:
        raise InvalidPdf(f"{size} bytes; at most {MAX_PDF_BYTES} are accepted")
    return path.read_bytes()


def _write_whole(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically (temporary file, fsync, rename)."""
    tmp = target.with_name(f".{target.name}.partial")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
