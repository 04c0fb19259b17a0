"""The CA's use cases: the hierarchy, issuance from CSRs and server-side keys, renewal, re-key,
bulk issuance and look-ups (issue 3, "Hierarchy", "Issuance", "Bad input").

:class:`CAService` is the one entry point the CLI, the RA API and ``natid init`` use. It
composes:

* :mod:`ca.authorities` - the hierarchy: created once on ``natid init``, loaded afterwards;
* :mod:`ca.csr` - strict CSR parsing and proof of possession;
* :mod:`ca.issuance` - step 1 of every issuance: the profile is requestable, the subject
  exists in the register (:class:`~registry.ports.PopulationRegister`) with the proofing level
  the profile needs, and its DN comes from the register, never from the CSR;
* :mod:`ca.pipeline` - steps 2-4: key policy and weak keys, signing outside any transaction,
  then ONE transaction for the certificate, its key binding (the same key is never certified
  for two subjects), the transparency log entry and the audit entry; a failure stores
  nothing and destroys a key generated for the request;
* :mod:`ca.store` - the rows, and serial numbers as ``openssl x509 -serial`` prints them.

Bulk issuance reads each batch's subjects from the register at once, checks and signs line by
line, and writes the batch set-based in one transaction (one audit-ledger and one
transparency-log head lock per batch of :data:`~ca.pipeline.BULK_BATCH`; ca/pipeline.py, "Bulk
issuance"). A line that fails is reported with its number and reason and the others are issued;
when a batch write fails on one line, the batch is written again line by line.

Revocation (:mod:`ca.revoke`) and CRL publication (:mod:`ca.crlstore`) are composed here too:
a status change commits with its audit entry, then the CRLs are regenerated and the status
listeners (the OCSP responders' pre-signing) are called.
"""

from __future__ import annotations

import builtins
import datetime as dt
import logging
from collections.abc import Callable, Collection, Iterable, Sequence

from cryptography import x509
from sqlalchemy.orm import Session, sessionmaker

from ca.authorities import Authorities, hierarchy_key_labels
from ca.bulk import (
    BulkFailure,
    BulkIssued,
    BulkReport,
    BulkRequest,
    ProgressCallback,
    parse_bulk_line,
)
from ca.crl import CrlSchedule
from ca.crlstore import CrlPublisher, CrlRecord
from ca.csr import parse_csr
from ca.errors import CertificateNotRenewable
from ca.hierarchy import Hierarchy
from ca.issuance import check_renewable, issuable_profile, renewal_target, resolve_target
from ca.pipeline import BULK_BATCH, SERVER_KEY_PREFIX, IssuancePipeline, Prepared
from ca.profiles import DEFAULT_POLICY_ARC, DccPurpose, ProfileName, get_profile
from ca.revocation import RevocationReason, RevocationStatus
from ca.revoke import RevocationQuery, Revocations, StatusChange
from ca.store import (
    MAX_LIST,
    Authority,
    CertificateStatus,
    CertificateStore,
    IssuedCertificate,
    normalize_serial,
)
from ca.transparency import TransparencyLog
from ca.urls import PkiUrls
from core.audit import AuditLedger
from core.clock import Clock
from core.errors import InvalidInput, NatIDError
from hsm_adapters.base import KeyAlgorithm, KeyBackend
from hsm_adapters.errors import KeyNotFound
from registry.ports import PopulationRegister

__all__ = ["BULK_BATCH", "SERVER_KEY_PREFIX", "CAService", "hierarchy_key_labels"]

log = logging.getLogger(__name__)


class CAService:
    """Issues, renews and looks up certificates; creates and loads the CA hierarchy."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        keys: KeyBackend,
        register: PopulationRegister,
        ledger: AuditLedger | None,
        log: TransparencyLog | None,
        clock: Clock,
        urls: PkiUrls,
        policy_arc: str = DEFAULT_POLICY_ARC,
        org_name: str = "NatID Development",
        crl_schedule: CrlSchedule | None = None,
    ) -> None:
        self._store = CertificateStore(sessions)
        self._keys = keys
        self._register = register
        self._ledger = ledger
        self._log = log
        self._clock = clock
        self._urls = urls
        self._policy_arc = policy_arc
        self._authorities = Authorities(
            self._store,
            keys=keys,
            ledger=ledger,
            log=log,
            clock=clock,
            urls=urls,
            policy_arc=policy_arc,
            org_name=org_name,
        )
        self._pipeline = IssuancePipeline(
            self._store,
            self._authorities,
            keys=keys,
            ledger=ledger,
            log=log,
            clock=clock,
            urls=urls,
            policy_arc=policy_arc,
        )
        # Revocation and CRLs (ca/revoke.py, ca/crlstore.py).
        self._status_listeners: list[Callable[[str, int], None]] = []
        self._crls = CrlPublisher(
            self._store, keys=keys, urls=urls, clock=clock, schedule=crl_schedule
        )
        self._revocations = Revocations(
            self._store, ledger=ledger, clock=clock, on_change=self._status_changed
        )

    # --- the hierarchy (ca/authorities.py) -----------------------------------------------------

    def ensure_hierarchy(self, *, actor: str | None = None) -> Hierarchy:
        """Load the hierarchy, creating it first if the database has none (idempotent).

        Raises :class:`~ca.errors.HierarchyIncomplete` if the key backend and the database
        disagree (keys without stored certificates, or the reverse), saying what to do.
        """
        return self._authorities.ensure(actor=actor)

    def adopt_hierarchy(self, hierarchy: Hierarchy, *, actor: str | None = None) -> Hierarchy:
        """Store a hierarchy whose keys are already in the key backend (a ceremony's)."""
        return self._authorities.adopt(hierarchy, actor=actor)

    def hierarchy(self) -> Hierarchy:
        """The stored hierarchy; raises :class:`~ca.errors.HierarchyNotInitialised`."""
        return self._authorities.load()

    def authorities(self) -> tuple[Authority, ...]:
        """Every CA (root first) with its certificate; empty before the hierarchy exists."""
        return self._authorities.list()

    @property
    def transparency_log(self) -> TransparencyLog | None:
        """The log every issued certificate is appended to (``None`` only in unit tests)."""
        return self._log

    def chain(self, issuer: str) -> tuple[x509.Certificate, ...]:
        """The CA certificates from ``issuer`` up to the root, issuing CA first."""
        return self.hierarchy().chain(issuer)

    # --- issuance ----------------------------------------------------------------------------

    def issue_from_csr(
        self,
        profile: str | ProfileName,
        subject_id: str,
        csr_bytes: bytes | str,
        *,
        actor: str | None,
        dns_names: Sequence[str] | None = None,
        dcc_purposes: Collection[DccPurpose] | None = None,
    ) -> IssuedCertificate:
        """Certify the key of a CSR (PEM or DER) for ``subject_id`` under ``profile``.

        ``dns_names`` (tls-server) default to the CSR's subjectAltName DNS names; nothing else
        of the CSR is used. Raises an :class:`~ca.errors.InvalidCertificateRequest` subclass,
        :class:`~ca.errors.UnknownSubject`, or an infrastructure error; nothing is stored then.
        """
        prepared = self._prepare_csr(
            profile,
            subject_id,
            csr_bytes,
            actor=actor,
            dns_names=dns_names,
            dcc_purposes=dcc_purposes,
        )
        return self._pipeline.finish(prepared)

    def issue_with_server_key(
        self,
        profile: str | ProfileName,
        subject_id: str,
        *,
        actor: str | None,
        algorithm: KeyAlgorithm | str | None = None,
        dns_names: Sequence[str] = (),
        dcc_purposes: Collection[DccPurpose] | None = None,
    ) -> IssuedCertificate:
        """Generate the subject's key pair in the key backend and certify it.

        The key's label (``subj-<random>``) is stored with the certificate
        (``IssuedCertificate.key_label``); the key is destroyed again if issuance fails.
        """
        target = resolve_target(
            self._register,
            issuable_profile(profile),
            subject_id,
            dns_names=dns_names,
            dcc_purposes=dcc_purposes,
        )
        return self._pipeline.finish(
            self._pipeline.prepare_server_key(target, algorithm, actor=actor)
        )

    def renew(self, serial: str, *, actor: str | None) -> IssuedCertificate:
        """A new certificate for the same subject and key, with a new serial and validity.

        The old certificate stays valid until it expires or is revoked. The subject is checked
        against the register again (a deceased person or a dissolved company gets nothing).
        """
        old = self.get(serial)
        check_renewable(old, at=self._clock.now())
        target = renewal_target(self._register, old)
        public_key = old.certificate.public_key()
        if old.key_label is not None:
            try:
                held = self._keys.public_key(old.key_label)
            except KeyNotFound:
                held = None
            if held != public_key:
                raise CertificateNotRenewable(
                    f"the server-side key of certificate {old.serial_hex} is no longer in the "
                    "key backend; re-key instead"
                )
        return self._pipeline.finish(
            self._pipeline.prepare(
                target,
                public_key,
                actor=actor,
                source="renewal",
                key_label=old.key_label,
                renewed_from=old.serial_hex,
            )
        )

    def rekey(
        self,
        serial: str,
        csr_bytes: bytes | str | None = None,
        *,
        actor: str | None,
        server_key: bool = False,
        algorithm: KeyAlgorithm | str | None = None,
    ) -> IssuedCertificate:
        """A new certificate for the same subject with a new key: from ``csr_bytes``, or
        generated in the key backend with ``server_key=True``. The old one stays valid."""
        if (csr_bytes is None) != server_key:
            raise InvalidInput("re-key needs either a CSR or server_key=True, not both")
        old = self.get(serial)
        check_renewable(old, at=self._clock.now())
        request = parse_csr(csr_bytes) if csr_bytes is not None else None
        target = renewal_target(self._register, old)
        if request is None:
            prepared = self._pipeline.prepare_server_key(
                target, algorithm, actor=actor, renewed_from=old.serial_hex
            )
        else:
            prepared = self._pipeline.prepare(
                target,
                request.public_key,
                actor=actor,
                source="csr",
                renewed_from=old.serial_hex,
            )
        return self._pipeline.finish(prepared)

    def bulk_issue(
        self,
        lines: Iterable[str | bytes],
        *,
        actor: str | None,
        progress: ProgressCallback | None = None,
        batch_size: int = BULK_BATCH,
    ) -> BulkReport:
        """Issue one certificate per JSON line (format in :mod:`ca.bulk`).

        Lines are taken ``batch_size`` at a time: their subjects are read from the register
        together, each line is checked and signed, then the batch is written in one
        transaction (:mod:`ca.pipeline`, "Bulk issuance"). A failing line is reported with its
        line number and reason and takes no other line with it. If a whole transaction cannot
        commit (the database failed), every line of that batch is reported failed and none of
        it is stored. ``progress`` is called once per line, in line order, once its batch is
        decided.
        """
        if not 1 <= batch_size <= 1000:
            raise InvalidInput("batch_size must be 1-1000")
        issued: list[BulkIssued] = []
        failed: list[BulkFailure] = []
        requests: list[tuple[int, BulkRequest | BulkFailure]] = []
        pending: list[tuple[int, str, Prepared | BulkFailure]] = []

        def flush() -> None:
            # Appended one by one: if interrupted, the keys of the lines prepared so far are
            # destroyed below.
            for item in self._pipeline.prepare_batch(requests, self._register, actor=actor):
                pending.append(item)  # noqa: PERF402 - one by one, for the interrupt case
            requests.clear()
            outcomes = self._pipeline.write_batch(pending)
            pending.clear()  # decided: stored, or discarded with their keys
            for outcome in outcomes:
                if isinstance(outcome, BulkIssued):
                    issued.append(outcome)
                else:
                    failed.append(outcome)
                if progress is not None:
                    progress(outcome)

        try:
            for number, line in enumerate(lines, 1):
                try:
                    request = parse_bulk_line(line)
                except NatIDError as exc:
                    requests.append((number, BulkFailure(number, exc.code, exc.message)))
                else:
                    if request is None:
                        continue
                    requests.append((number, request))
                if len(requests) >= batch_size:
                    flush()
            if requests:
                flush()
        except BaseException:
            # Interrupted (or a bug): certificates signed but not stored are forgotten, and
            # keys generated for them destroyed.
            for _number, _subject, item in pending:
                if isinstance(item, Prepared):
                    self._pipeline.discard(item)
            raise
        log.info("bulk issuance finished", extra={"issued": len(issued), "failed": len(failed)})
        return BulkReport(tuple(issued), tuple(failed))

    # --- reading -----------------------------------------------------------------------------

    def get(self, serial: str | int) -> IssuedCertificate:
        """The certificate with this serial (hex as ``openssl x509 -serial`` prints it)."""
        return self._store.get(normalize_serial(serial))

    def list(
        self,
        *,
        subject_id: str | None = None,
        profile: str | ProfileName | None = None,
        status: str | CertificateStatus | None = None,
        issuer: str | None = None,
        limit: int | None = 100,
    ) -> tuple[IssuedCertificate, ...]:
        """Certificates matching every given filter, newest first (``limit=None``: all)."""
        if limit is not None and not 1 <= limit <= MAX_LIST:
            raise InvalidInput(f"limit must be 1-{MAX_LIST}, or none for all")
        try:
            wanted = CertificateStatus(status) if status is not None else None
        except ValueError:
            known = ", ".join(s.value for s in CertificateStatus)
            raise InvalidInput(f"unknown status {str(status)[:20]!r}; expected {known}") from None
        return self._store.list(
            subject_id=subject_id,
            profile=get_profile(profile).name if profile is not None else None,
            status=wanted,
            issuer=issuer,
            limit=limit,
        )

    # --- internals ---------------------------------------------------------------------------

    def _prepare_csr(
        self,
        profile: str | ProfileName,
        subject_id: str,
        csr_bytes: bytes | str,
        *,
        actor: str | None,
        dns_names: Sequence[str] | None,
        dcc_purposes: Collection[DccPurpose] | None,
    ) -> Prepared:
        prof = issuable_profile(profile)
        request = parse_csr(csr_bytes)
        # The CSR's subjectAltName counts only where the profile takes DNS names (tls-server);
        # for every other profile it is ignored like the rest of the CSR's extensions.
        if dns_names is not None:
            names = tuple(dns_names)
        else:
            names = request.dns_names if prof.san_dns else ()
        target = resolve_target(
            self._register, prof, subject_id, dns_names=names, dcc_purposes=dcc_purposes
        )
        return self._pipeline.prepare(target, request.public_key, actor=actor, source="csr")

    # --- revocation and CRLs -----------------------------------------------------------------

    def revoke(
        self,
        serial: str | int,
        *,
        reason: RevocationReason,
        actor: str | None,
        invalidity_date: dt.datetime | None = None,
    ) -> IssuedCertificate:
        """Revoke one certificate (``certificateHold``: hold it); rules in :mod:`ca.revoke`.

        Raises :class:`~ca.errors.CertificateNotFound`, :class:`~ca.revoke.RevocationConflict`
        (revoked is final), :class:`~ca.revoke.RevocationNotAllowed` (CA certificates).
        """
        return self._revocations.revoke(
            serial, reason=reason, actor=actor, invalidity_date=invalidity_date
        )

    def hold(self, serial: str | int, *, actor: str | None) -> IssuedCertificate:
        """Suspend a good certificate (certificateHold)."""
        return self._revocations.hold(serial, actor=actor)

    def resume(self, serial: str | int, *, actor: str | None) -> IssuedCertificate:
        """Release a hold: the certificate is good again."""
        return self._revocations.resume(serial, actor=actor)

    def revoke_subject(
        self, subject_id: str, *, reason: RevocationReason, actor: str | None
    ) -> builtins.list[IssuedCertificate]:
        """Revoke every good or held certificate of a subject, in one transaction."""
        return self._revocations.revoke_subject(subject_id, reason=reason, actor=actor)

    def revoke_where(
        self,
        query: RevocationQuery,
        *,
        reason: RevocationReason,
        actor: str | None,
        dry_run: bool = False,
    ) -> builtins.list[IssuedCertificate]:
        """Revoke every certificate matching ``query`` (never CA certificates; an empty
        query is refused), in one transaction; ``dry_run`` only lists them."""
        return self._revocations.revoke_where(query, reason=reason, actor=actor, dry_run=dry_run)

    def status_of(self, issuer: str, serial: int) -> RevocationStatus:
        """The status of ``serial`` in ``issuer``'s records (one indexed look-up, for OCSP);
        ``unknown`` when it is not a certificate of that issuer."""
        return self._revocations.status_of(issuer, serial)

    def add_status_listener(self, callback: Callable[[str, int], None]) -> None:
        """Call ``callback(issuer, serial)`` after each committed status change made through
        this service (the CRLs are regenerated first). Exceptions it raises are logged."""
        self._status_listeners.append(callback)

    def crl(self, issuer: str, *, delta: bool = False) -> bytes:
        """The current full (or delta) CRL of ``issuer`` in DER, published first if due."""
        return self._crls.current(issuer, delta=delta).der

    def crl_record(self, issuer: str, *, delta: bool = False) -> CrlRecord:
        """The current CRL with its number and times (for HTTP caching headers)."""
        return self._crls.current(issuer, delta=delta)

    def publish_crls(self, issuer: str | None = None) -> builtins.list[CrlRecord]:
        """Publish every CRL that is due now, of ``issuer`` or of every CA (``natid serve``'s
        upkeep runs it for each CA: api/upkeep.py)."""
        issuers = [issuer] if issuer is not None else list(self._crls.issuers())
        made: builtins.list[CrlRecord] = []
        for name in issuers:
            made += self._crls.publish_due(name)
        return made

    def _status_changed(self, changes: Sequence[StatusChange]) -> None:
        """After a status change committed: new CRLs at once, then the listeners."""
        for issuer in sorted({issuer for issuer, _serial in changes}):
            try:
                self._crls.publish_due(issuer)
            except NatIDError as exc:
                # The change is committed; the next CRL request publishes (crlstore.current).
                log.warning("CRL not regenerated", extra={"issuer": issuer, "error": exc.code})
        for issuer, serial in changes:
            for listener in self._status_listeners:
                try:
                    listener(issuer, serial)
                except Exception:
                    log.exception("status listener failed", extra={"issuer": issuer})
