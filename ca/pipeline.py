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

Bulk issuance (:meth:`IssuancePipeline.write_batch`) stores prepared certificates several
per transaction, each in its own SAVEPOINT: one line's failure (a key certified twice in the
same file) rolls back that line only. A batch holds the ledger's lock until it commits, so
batches are kept small (``BULK_BATCH``).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from sqlalchemy.orm import Session

from ca.authorities import Authorities, record_certificate
from ca.bulk import BulkFailure, BulkIssued
from ca.issuance import Target, server_key_algorithm
from ca.keypolicy import check_subject_key
from ca.profiles import DEFAULT_POLICY_ARC
from ca.store import CertificateStore, IssuedCertificate
from ca.transparency import TransparencyLog
from ca.urls import PkiUrls
from ca.x509build import build_certificate, new_serial
from core.audit import AuditLedger
from core.clock import Clock
from core.errors import NatIDError
from hsm_adapters.base import KeyAlgorithm, KeyBackend

__all__ = ["BULK_BATCH", "SERVER_KEY_PREFIX", "IssuancePipeline", "Prepared"]

log = logging.getLogger(__name__)

#: Labels of keys generated for subjects: ``subj-<32 random hex digits>``, never an id.
SERVER_KEY_PREFIX = "subj-"
#: Bulk lines written per transaction (each in its own SAVEPOINT).
BULK_BATCH = 50


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
            data: dict[str, Any] = {
                "serial": issued.serial_hex,
                "profile": p.target.profile.name.value,
                "issuer": p.ca_name,
                "key": p.source,
                "key_algorithm": p.algorithm.value,
            }
            event = "ca.certificate.issued"
            if p.renewed_from is not None:
                data["renewed_from"] = p.renewed_from
                renewal = p.source == "renewal"
                event = "ca.certificate.renewed" if renewal else "ca.certificate.rekeyed"
            # Last, just before the commit: the append holds the ledger's lock until then.
            self._ledger.append(
                event, actor=p.actor, subject=p.target.subject_id, data=data, session=session
            )
        return issued

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

    def write_batch(
        self, pending: Sequence[tuple[int, str, Prepared | BulkFailure]]
    ) -> list[BulkIssued | BulkFailure]:
        """Store a batch of bulk lines in one transaction, one SAVEPOINT per line."""
        outcomes: list[BulkIssued | BulkFailure] = []
        try:
            with self._store.write() as session:
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
        except NatIDError as exc:
            # Nothing of this batch was stored: every line that looked issued, or that was not
            # reached, failed with the batch (keys made for it destroyed).
            refused = {o.line: o for o in outcomes if isinstance(o, BulkFailure)}
            outcomes = []
            for number, _subject, item in pending:
                if number in refused:
                    outcomes.append(refused[number])
                    continue
                if isinstance(item, Prepared):
                    self.discard(item)
                outcomes.append(BulkFailure(number, exc.code, exc.message))
        return outcomes

    def discard(self, p: Prepared) -> None:
        """Forget a prepared certificate that was not stored: destroy a key made for it."""
        if p.source == "server" and p.key_label is not None:
            self.destroy_key(p.key_label)

    def destroy_key(self, label: str) -> None:
        try:
            self._keys.destroy(label)
        except Exception:  # noqa: BLE001 - best effort; the original error matters
            log.warning("could not destroy the key %s of a failed issuance", label)
