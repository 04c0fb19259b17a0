"""Signing and storing certificates: the issuance steps every request goes through.

:class:`IssuancePipeline` does steps 2 to 4 of an issuance once :mod:`ca.issuance` has said
who the subject is (step 1):

2. check the key: the profile's policy and the weak-key tests (:mod:`ca.keypolicy`);
3. sign the certificate (:func:`ca.x509build.build_certificate`) with the issuing CA's key
   from the key backend - outside any database transaction, so the database's write lock
   (SQLite) and the ledger's and log's head-row locks are held for database work only;
4. in ONE transaction: store the certificate, bind its public key to the subject (the same
   key is never certified for two subjects), link a renewal or re-key to its predecessor,
   append the certificate to the transparency log, and append the ``ca.certificate.issued``
   / ``.renewed`` / ``.rekeyed`` audit entry (ids, serial, profile, issuer, key source and
   algorithm - never names or national ID numbers) last, just before the commit. If step 4
   fails, the signed certificate is discarded: it never left the process.

A key generated in the key backend for a request (``prepare_server_key``) is destroyed
again whenever its certificate is not stored, at any step.

Bulk issuance works a batch of :data:`BULK_BATCH` lines at a time (bench/bench_issuance.py
for why each step is there):

* :meth:`IssuancePipeline.prepare_batch` reads the batch's subjects from the register in one
  go where the register can (:mod:`registry.snapshot`; one read transaction instead of two
  per line), then does steps 1-3 line by line against that snapshot.
* :meth:`IssuancePipeline.write_batch` does step 4 for the whole batch in ONE transaction, set
  based: one look-up of the keys already certified, then one multi-row insert each for the
  certificates and their key bindings, one transparency-log append and one audit-ledger
  append for the batch (each takes its head lock once: :meth:`~ca.transparency.
  TransparencyLog.append_many`, :meth:`~core.audit.AuditLedger.append_many`). The result is
  what one :meth:`~IssuancePipeline.commit` per line gives: the same rows, log leaves in line
  order, one ``ca.certificate.issued`` entry per certificate with the same data, checkpoints
  on the same entries. A line whose key is certified already - before, or by an earlier line
  of the same file - is refused with the same :class:`~ca.errors.KeyAlreadyCertified` as a
  single issuance, and the other lines are stored.
* The set-based write runs in a SAVEPOINT. If something in it can only be pinned on one line
  (a concurrent request bound one of the keys meanwhile, a log or audit input refused), it
  is rolled back and the batch is written line by line, each line in its own SAVEPOINT, so
  exactly that line fails. A database failure fails the whole batch: nothing of it is stored
  and keys generated for it are destroyed.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from sqlalchemy.orm import Session

from ca.authorities import Authorities, record_certificate
from ca.bulk import BulkFailure, BulkIssued, BulkRequest
from ca.csr import parse_csr, spki_sha256
from ca.errors import InvalidLogRequest, IssuerRetired, KeyAlreadyCertified
from ca.issuance import (
    ISSUABLE_PROFILES,
    SubjectSource,
    Target,
    issuable_profile,
    resolve_target,
    server_key_algorithm,
)
from ca.keypolicy import check_subject_key
from ca.profiles import DEFAULT_POLICY_ARC, get_profile
from ca.store import CertificateStore, IssuedCertificate, KeyBinding, NewCertificate, key_conflict
from ca.transparency import TransparencyLog
from ca.urls import PkiUrls
from ca.x509build import build_certificate, new_serial
from core.audit import AuditEvent, AuditLedger, InvalidAuditEntry
from core.clock import Clock
from core.errors import NatIDError
from hsm_adapters.base import KeyAlgorithm, KeyBackend
from registry.ports import PopulationRegister
from registry.snapshot import BatchReadableRegister

__all__ = ["BULK_BATCH", "SERVER_KEY_PREFIX", "IssuancePipeline", "PendingLine", "Prepared"]

log = logging.getLogger(__name__)

#: Labels of keys generated for subjects: ``subj-<32 random hex digits>``, never an id.
SERVER_KEY_PREFIX = "subj-"
#: Bulk lines prepared and written per transaction. The write transaction holds only database
#: work (signing is done before it), so a batch this size holds the write lock for tens of
#: milliseconds. 200 rather than 50: 4 % faster on a quiet machine, more on a busy one (fewer
#: commits, register reads and head locks per certificate; bench/bench_issuance.py); a
#: database failure then fails up to 200 lines, each reported.
BULK_BATCH = 200
#: Errors of the set-based write that belong to one line: write that batch line by line.
_LINE_ERRORS = (KeyAlreadyCertified, InvalidLogRequest, InvalidAuditEntry)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A signed certificate that is not stored yet (steps 1-3 done, step 4 to do)."""

    target: Target
    cert: x509.Certificate
    ca_name: str
    algorithm: KeyAlgorithm
    at: dt.datetime
    actor: str | None
    source: str
    key_label: str | None
    renewed_from: str | None


#: A bulk line on its way: (line number, subject id, prepared certificate or the refusal).
PendingLine = tuple[int, str, Prepared | BulkFailure]


class IssuancePipeline:
    """Checks keys, signs certificates and stores them with their log and audit entries."""

    def __init__(
        self,
        store: CertificateStore,
        authorities: Authorities,
        *,
        keys: KeyBackend,
        ledger: AuditLedger | None,
        log: TransparencyLog | None,
        clock: Clock,
        urls: PkiUrls,
        policy_arc: str = DEFAULT_POLICY_ARC,
    ) -> None:
        self._store = store
        self._authorities = authorities
        self._keys = keys
        self._ledger = ledger
        self._log = log
        self._clock = clock
        self._urls = urls
        self._policy_arc = policy_arc

    def prepare_server_key(
        self,
        target: Target,
        algorithm: KeyAlgorithm | str | None,
        *,
        actor: str | None,
        renewed_from: str | None = None,
    ) -> Prepared:
        chosen = server_key_algorithm(target.profile, self._keys.supported_algorithms(), algorithm)
        label = f"{SERVER_KEY_PREFIX}{uuid.uuid4().hex}"
        key = self._keys.generate(label, chosen)
        try:
            return self.prepare(
                target,
                key.public_key(),
                actor=actor,
                source="server",
                key_label=label,
                renewed_from=renewed_from,
            )
        except BaseException:
            self.destroy_key(label)
            raise

    def prepare(
        self,
        target: Target,
        public_key: CertificatePublicKeyTypes,
        *,
        actor: str | None,
        source: str,
        key_label: str | None = None,
        renewed_from: str | None = None,
    ) -> Prepared:
        """Steps 2 and 3 (see the module docstring): check the key, sign the certificate.

        ``source`` is ``csr``, ``server`` (``key_label`` was generated for it) or ``renewal``
        (the key of ``renewed_from``); a new key with ``renewed_from`` is a re-key.
        """
        key, algorithm = check_subject_key(target.profile, public_key)
        ca_name, ca_cert, ca_key = self._authorities.issuer_for(target.profile)
        now = self._clock.now()
        not_before, not_after = target.profile.validity_window(at=now)
        cert = build_certificate(
            target.profile,
            subject=target.subject,
            public_key=key,
            issuer_cert=ca_cert,
            issuer_key=ca_key,
            serial=new_serial(),
            not_before=not_before,
            not_after=not_after,
            urls=self._urls,
            ca_name=ca_name,
            san=target.dns_names or None,
            dcc_purposes=target.dcc_purposes or None,
            policy_arc=self._policy_arc,
        )
        return Prepared(
            target, cert, ca_name, algorithm, now, actor, source, key_label, renewed_from
        )

    def commit(self, session: Session, p: Prepared) -> IssuedCertificate:
        """Step 4 (see the module docstring), in ``session``'s transaction."""
        self._require_active(session, {p.ca_name})
        issued = record_certificate(
            self._store,
            self._log,
            session,
            p.cert,
            issuer=p.ca_name,
            profile=p.target.profile.name,
            subject_id=p.target.subject_id,
            key_label=p.key_label,
            actor=p.actor,
            at=p.at,
            renewed_from=p.renewed_from,
            reuse_key=p.source == "renewal",
            algorithm=p.algorithm,
        )
        if self._ledger is not None:
            # Last, just before the commit: the append holds the ledger's lock until then.
            e = _audit_event(p, issued.serial_hex)
            self._ledger.append(
                e.event, actor=e.actor, subject=e.subject, data=e.data, session=session
            )
        return issued

    def _require_active(self, session: Session, issuers: set[str]) -> None:
        try:
            self._store.require_active(session, issuers)
        except IssuerRetired:
            for name in issuers:
                self._authorities.forget_issuer(name)
            raise

    def finish(self, p: Prepared) -> IssuedCertificate:
        """Store one prepared certificate in its own transaction."""
        try:
            with self._store.write() as session:
                issued = self.commit(session, p)
        except BaseException:
            self.discard(p)
            raise
        log.info(
            "certificate issued",
            extra={"serial": issued.serial_hex, "profile": issued.profile.value},
        )
        return issued

    # --- bulk issuance (see the module docstring) -----------------------------------------------

    def prepare_batch(
        self,
        requests: Sequence[tuple[int, BulkRequest | BulkFailure]],
        register: PopulationRegister,
        *,
        actor: str | None,
    ) -> Iterator[PendingLine]:
        """Steps 1-3 for each parsed bulk line, its subject read with the batch's others.

        Yields each line as soon as it is prepared (so a caller interrupted half-way knows
        which keys to destroy); a line that fails is yielded as its :class:`BulkFailure`.
        """
        register = _batch_register(register, [request for _number, request in requests])
        for number, request in requests:
            if isinstance(request, BulkFailure):
                yield number, "", request
                continue
            try:
                prepared = self._prepare_request(request, register, actor=actor)
            except NatIDError as exc:
                yield number, "", BulkFailure(number, exc.code, exc.message)
            else:
                yield number, request.subject, prepared

    def _prepare_request(
        self, request: BulkRequest, register: PopulationRegister, *, actor: str | None
    ) -> Prepared:
        # The same steps, in the same order, as CAService.issue_from_csr and
        # issue_with_server_key, so a line fails with the error a single request would get.
        profile = issuable_profile(request.profile)
        if request.csr is None:
            target = resolve_target(
                register,
                profile,
                request.subject,
                dns_names=request.dns_names or (),
                dcc_purposes=request.dcc_purposes,
            )
            return self.prepare_server_key(target, request.algorithm, actor=actor)
        csr = parse_csr(request.csr)
        # The CSR's subjectAltName counts only where the profile takes DNS names (tls-server).
        if request.dns_names is not None:
            names = tuple(request.dns_names)
        else:
            names = csr.dns_names if profile.san_dns else ()
        target = resolve_target(
            register, profile, request.subject, dns_names=names, dcc_purposes=request.dcc_purposes
        )
        return self.prepare(target, csr.public_key, actor=actor, source="csr")

    def write_batch(self, pending: Sequence[PendingLine]) -> list[BulkIssued | BulkFailure]:
        """Store a batch of bulk lines in one transaction; one outcome per line, in order."""
        outcomes: list[BulkIssued | BulkFailure] = []
        try:
            with self._store.write() as session:
                self._write_lines(session, pending, outcomes)
        except NatIDError as exc:
            # Nothing of this batch was stored: every line that looked issued, or that was not
            # reached, failed with the batch (keys made for it destroyed). Lines refused on
            # their own keep their reason (their keys are destroyed already).
            refused = {o.line: o for o in outcomes if isinstance(o, BulkFailure)}
            refused.update((n, item) for n, _s, item in pending if isinstance(item, BulkFailure))
            outcomes = []
            for number, _subject, item in pending:
                if number in refused:
                    outcomes.append(refused[number])
                    continue
                if isinstance(item, Prepared):
                    self.discard(item)
                outcomes.append(BulkFailure(number, exc.code, exc.message))
        return outcomes

    def _write_lines(
        self,
        session: Session,
        pending: Sequence[PendingLine],
        outcomes: list[BulkIssued | BulkFailure],
    ) -> None:
        """Store ``pending``, appending each line's outcome to ``outcomes`` once decided."""
        if all(
            item.renewed_from is None and item.source != "renewal"
            for _n, _s, item in pending
            if isinstance(item, Prepared)
        ):
            try:
                with session.begin_nested():
                    decided, refused = self._store_set(session, pending)
            except _LINE_ERRORS:
                log.info("bulk batch written line by line to single out a failing line")
            else:
                for item in refused:
                    self.discard(item)
                outcomes.extend(decided)
                return
        self._store_one_by_one(session, pending, outcomes)

    def _store_set(
        self, session: Session, pending: Sequence[PendingLine]
    ) -> tuple[list[BulkIssued | BulkFailure], list[Prepared]]:
        """The set-based write (module docstring); returns the outcomes and the refused lines
        (whose keys the caller destroys once this is rolled back or not)."""
        lines = [
            (number, subject, item, _new_certificate(item))
            for number, subject, item in pending
            if isinstance(item, Prepared)
        ]
        bound = self._store.bound_keys(session, [new.spki_sha256 for *_rest, new in lines])
        by_line: dict[int, BulkIssued | BulkFailure] = {}
        accepted: list[tuple[Prepared, NewCertificate]] = []
        refused: list[Prepared] = []
        for number, subject, item, new in lines:
            binding = bound.get(new.spki_sha256)
            if binding is not None:
                refusal = key_conflict(binding, new.subject_id)
                assert refusal is not None  # a new certificate never reuses a key
                by_line[number] = BulkFailure(number, refusal.code, refusal.message)
                refused.append(item)
                continue
            # Later lines of the same batch see this key as certified, as they would have
            # one transaction after another.
            bound[new.spki_sha256] = KeyBinding(new.subject_id, new.serial_hex)
            accepted.append((item, new))
            by_line[number] = BulkIssued(number, new.serial_hex, subject, new.profile)
        news = [new for _item, new in accepted]
        self._require_active(session, {item.ca_name for item, _new in accepted})
        self._store.add_certificates(session, news)
        self._store.bind_new_keys(session, news)
        if self._log is not None:
            self._log.append_many([(n.certificate, n.subject_id) for n in news], session=session)
        if self._ledger is not None:
            events = [_audit_event(item, new.serial_hex) for item, new in accepted]
            self._ledger.append_many(events, session=session)
        outcomes = [
            item if isinstance(item, BulkFailure) else by_line[number]
            for number, _subject, item in pending
        ]
        return outcomes, refused

    def _store_one_by_one(
        self,
        session: Session,
        pending: Sequence[PendingLine],
        outcomes: list[BulkIssued | BulkFailure],
    ) -> None:
        for number, subject, item in pending:
            if isinstance(item, BulkFailure):
                outcomes.append(item)
                continue
            try:
                with session.begin_nested():
                    cert = self.commit(session, item)
            except NatIDError as exc:
                self.discard(item)
                outcomes.append(BulkFailure(number, exc.code, exc.message))
                continue
            outcomes.append(BulkIssued(number, cert.serial_hex, subject, cert.profile))

    def discard(self, p: Prepared) -> None:
        """Forget a prepared certificate that was not stored: destroy a key made for it."""
        if p.source == "server" and p.key_label is not None:
            self.destroy_key(p.key_label)

    def destroy_key(self, label: str) -> None:
        try:
            self._keys.destroy(label)
        except Exception:  # noqa: BLE001 - best effort; the original error matters
            log.warning("could not destroy the key %s of a failed issuance", label)


def _batch_register(
    register: PopulationRegister, requests: Sequence[BulkRequest | BulkFailure]
) -> PopulationRegister:
    """The register to resolve a batch's subjects against: a snapshot of them, read in one go,
    where the register can (:mod:`registry.snapshot`), else the register itself."""
    if not isinstance(register, BatchReadableRegister):
        return register
    wanted: dict[SubjectSource, list[str]] = {source: [] for source in SubjectSource}
    for request in requests:
        if isinstance(request, BulkFailure):
            continue
        try:
            source = ISSUABLE_PROFILES.get(get_profile(request.profile).name)
        except NatIDError:
            continue  # the line fails with its own error when it is prepared
        if source is not None:
            wanted[source].append(request.subject)
    try:
        return register.snapshot(
            persons=wanted[SubjectSource.PERSON],
            servants=wanted[SubjectSource.SERVANT],
            entities=wanted[SubjectSource.ENTITY] + wanted[SubjectSource.GOVERNMENT_SERVICE],
        )
    except NatIDError as exc:
        # The register failing to read in bulk fails no line by itself: each line asks the
        # register on its own, as a single issuance would, and gets the register's answer.
        log.warning(
            "register snapshot failed; looking up line by line", extra={"error_code": exc.code}
        )
        return register


def _new_certificate(p: Prepared) -> NewCertificate:
    return NewCertificate(
        certificate=p.cert,
        issuer=p.ca_name,
        profile=p.target.profile.name,
        subject_id=p.target.subject_id,
        spki_sha256=spki_sha256(p.cert.public_key()),
        key_algorithm=p.algorithm.value,
        key_label=p.key_label,
        issued_at=p.at,
        requested_by=p.actor,
        renewed_from=p.renewed_from,
    )


def _audit_event(p: Prepared, serial: str) -> AuditEvent:
    """The audit entry of a stored certificate: ids, serial, profile, issuer, key source and
    algorithm - never names or national ID numbers."""
    data: dict[str, Any] = {
        "serial": serial,
        "profile": p.target.profile.name.value,
        "issuer": p.ca_name,
        "key": p.source,
        "key_algorithm": p.algorithm.value,
    }
    event = "ca.certificate.issued"
    if p.renewed_from is not None:
        data["renewed_from"] = p.renewed_from
        event = "ca.certificate.renewed" if p.source == "renewal" else "ca.certificate.rekeyed"
    return AuditEvent(event, actor=p.actor, subject=p.target.subject_id, data=data)
