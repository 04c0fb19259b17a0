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

Bulk issuance checks and signs line by line and stores the lines in batches of
:data:`~ca.pipeline.BULK_BATCH`, each line in its own SAVEPOINT: one transaction per batch,
not per line, since a transaction per line made bulk issuance about a third slower
(bench/bench_issuance.py). A failed line is reported with its number and reason and the
others are issued.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence

from cryptography import x509
from sqlalchemy.orm import Session, sessionmaker

from ca.authorities import Authorities, hierarchy_key_labels
from ca.bulk import BulkFailure, BulkIssued, BulkReport, ProgressCallback, parse_bulk_line
from ca.csr import parse_csr
from ca.errors import CertificateNotRenewable
from ca.hierarchy import Hierarchy
from ca.issuance import check_renewable, issuable_profile, renewal_target, resolve_target
from ca.pipeline import BULK_BATCH, SERVER_KEY_PREFIX, IssuancePipeline, Prepared
from ca.profiles import DEFAULT_POLICY_ARC, DccPurpose, ProfileName, get_profile
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

        Lines are checked and signed one by one, then written ``batch_size`` at a time in one
        transaction, each line in its own SAVEPOINT: a failing line is reported with its line
        number and reason and takes no other line with it. If a whole transaction cannot
        commit (the database failed), every line of that batch is reported failed and none of
        it is stored. ``progress`` is called once per line, in line order, once its batch is
        decided.
        """
        if not 1 <= batch_size <= 1000:
            raise InvalidInput("batch_size must be 1-1000")
        issued: list[BulkIssued] = []
        failed: list[BulkFailure] = []
        pending: list[tuple[int, str, Prepared | BulkFailure]] = []

        def flush() -> None:
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
                    if request is None:
                        continue
                    if request.csr is None:
                        target = resolve_target(
                            self._register,
                            issuable_profile(request.profile),
                            request.subject,
                            dns_names=request.dns_names or (),
                            dcc_purposes=request.dcc_purposes,
                        )
                        prepared = self._pipeline.prepare_server_key(
                            target, request.algorithm, actor=actor
                        )
                    else:
                        prepared = self._prepare_csr(
                            request.profile,
                            request.subject,
                            request.csr,
                            actor=actor,
                            dns_names=request.dns_names,
                            dcc_purposes=request.dcc_purposes,
                        )
                    pending.append((number, request.subject, prepared))
                except NatIDError as exc:
                    pending.append((number, "", BulkFailure(number, exc.code, exc.message)))
                if len(pending) >= batch_size:
                    flush()
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
