"""The CA hierarchy in storage: creating it once, loading it, and the issuing CAs' keys.

:class:`Authorities` is the part of :class:`ca.service.CAService` that deals with the CAs
themselves (issue 3, "Hierarchy"):

* :meth:`Authorities.ensure` is what every ``natid init`` / ``natid ca init`` runs. If the
  database holds the hierarchy it is loaded (and its online keys - issuing CAs, OCSP
  responders, TSA; not the root, which may be offline - must be in the key backend); if
  not, :func:`ca.hierarchy.create_hierarchy` makes the keys and certificates and
  :meth:`Authorities.adopt` stores them. If the key backend already holds hierarchy keys
  while the database holds no hierarchy (an earlier run stopped half-way, or the database
  was replaced), nothing is generated and :class:`~ca.errors.HierarchyIncomplete` says what
  to do: ensuring never overwrites or destroys keys it did not make.
* :meth:`Authorities.adopt` stores a hierarchy whose keys are already in the backend (from
  ``create_hierarchy`` or, later, a ceremony) in ONE transaction: a ``ca_authorities`` row per
  CA, every CA / OCSP-responder / TSA certificate in ``ca_certificates`` (``subject_id``
  NULL), their key bindings, their transparency-log entries, the public base URL the
  certificates name (``installation_settings``, core/installation.py) and one
  ``ca.hierarchy.created`` audit entry. If storing fails after ``ensure`` generated the keys,
  the keys are destroyed again, so the next run starts clean.
* :meth:`Authorities.issuer_for` hands out an issuing CA's certificate and key handle, cached
  after first use (a CA certificate never changes; the backend refuses a destroyed key). The
  root key is never loaded for end-entity issuance, so it can stay offline in an HSM.

:func:`record_certificate` is the storage step every certificate goes through, hierarchy or
end entity: row, key binding, successor link, transparency log - in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from types import MappingProxyType

from cryptography import x509
from sqlalchemy.orm import Session

from ca.csr import spki_sha256
from ca.errors import (
    HierarchyExists,
    HierarchyIncomplete,
    HierarchyNotInitialised,
    ProfileViolation,
)
from ca.hierarchy import (
    ISSUING_CAS,
    ROOT_CA,
    ROOT_KEY_LABEL,
    TSA_ISSUER,
    TSA_KEY_LABEL,
    Hierarchy,
    ca_key_label,
    create_hierarchy,
    ocsp_key_label,
)
from ca.profiles import DEFAULT_POLICY_ARC, CertificateProfile, ProfileName, get_profile
from ca.store import Authority, AuthorityStatus, CertificateStore, IssuedCertificate, serial_hex
from ca.transparency import TransparencyLog
from ca.urls import PkiUrls
from ca.x509build import check_public_key
from core.audit import AuditLedger
from core.clock import Clock
from core.installation import record_public_url
from hsm_adapters.base import BackendPrivateKey, KeyAlgorithm, KeyBackend
from hsm_adapters.errors import KeyNotFound

__all__ = ["Authorities", "hierarchy_key_labels", "record_certificate"]

log = logging.getLogger(__name__)

_NOT_INITIALISED = "the CA hierarchy does not exist yet; run `natid ca init` (or `natid init`)"
_HierarchyItem = tuple[str, ProfileName, x509.Certificate, str]


def hierarchy_key_labels() -> tuple[str, ...]:
    """Every key label :func:`ca.hierarchy.create_hierarchy` generates."""
    labels = [ROOT_KEY_LABEL, TSA_KEY_LABEL]
    for name in ISSUING_CAS:
        labels += [ca_key_label(name), ocsp_key_label(name)]
    return tuple(labels)


def record_certificate(
    store: CertificateStore,
    transparency: TransparencyLog | None,
    session: Session,
    cert: x509.Certificate,
    *,
    issuer: str,
    profile: ProfileName,
    subject_id: str | None,
    key_label: str | None,
    actor: str | None,
    at: dt.datetime,
    renewed_from: str | None = None,
    reuse_key: bool = False,
    algorithm: KeyAlgorithm | None = None,
) -> IssuedCertificate:
    """Store ``cert``, bind its key to ``subject_id`` and log it, in ``session``'s transaction."""
    public_key = cert.public_key()
    if algorithm is None:
        algorithm = check_public_key(get_profile(profile), public_key)
    spki = spki_sha256(public_key)
    issued = store.add_certificate(
        session,
        cert,
        issuer=issuer,
        profile=profile,
        subject_id=subject_id,
        spki_sha256=spki,
        key_algorithm=algorithm.value,
        key_label=key_label,
        issued_at=at,
        requested_by=actor,
        renewed_from=renewed_from,
    )
    store.bind_key(
        session, spki, subject_id=subject_id, serial=issued.serial_hex, at=at, reuse=reuse_key
    )
    if renewed_from is not None:
        store.mark_replaced(session, renewed_from, issued.serial_hex)
    if transparency is not None:
        transparency.append(cert, subject_id=subject_id, session=session)
    return issued


class Authorities:
    """The stored CA hierarchy and the issuing CAs' keys."""

    def __init__(
        self,
        store: CertificateStore,
        *,
        keys: KeyBackend,
        ledger: AuditLedger | None,
        log: TransparencyLog | None,
        clock: Clock,
        urls: PkiUrls,
        policy_arc: str = DEFAULT_POLICY_ARC,
        org_name: str = "NatID Development",
    ) -> None:
        self._store = store
        self._keys = keys
        self._ledger = ledger
        self._log = log
        self._clock = clock
        self._urls = urls
        self._policy_arc = policy_arc
        self._org_name = org_name
        self._issuers: dict[str, tuple[x509.Certificate, BackendPrivateKey]] = {}

    def list(self) -> tuple[Authority, ...]:
        return self._store.authorities()

    def ensure(self, *, actor: str | None = None) -> Hierarchy:
        """Load the hierarchy, creating it first if the database has none (idempotent)."""
        present = {info.label for info in self._keys.list()}
        if self._store.authorities():
            hierarchy = self.load()
            # The online keys must be here; the root's may live offline (a ceremony's HSM).
            online = {
                *(label for name, label in hierarchy.ca_key_labels.items() if name != ROOT_CA),
                *hierarchy.ocsp_key_labels.values(),
                hierarchy.tsa_key_label,
            }
            missing = sorted(online - present)
            if missing:
                raise HierarchyIncomplete(
                    f"the database holds the CA hierarchy but the key backend lacks its keys "
                    f"({', '.join(missing)}): the key store of this data directory is missing "
                    "or another one is configured (NATID_SOFT_KEY_DIR, the PKCS#11 token)"
                )
            return hierarchy
        leftover = sorted(present & set(hierarchy_key_labels()))
        if leftover:
            raise HierarchyIncomplete(
                f"the key backend holds CA keys ({', '.join(leftover)}) but the database has "
                "no CA hierarchy: an earlier run stopped half-way, or the database was "
                "replaced. Restore the database that belongs to these keys, or delete the keys "
                "from the key backend (soft backend: the files <label>.key.json in the key "
                "directory) and run `natid ca init` again"
            )
        hierarchy = create_hierarchy(
            self._keys,
            urls=self._urls,
            at=self._clock.now(),
            org_name=self._org_name,
            policy_arc=self._policy_arc,
        )
        try:
            return self.adopt(hierarchy, actor=actor)
        except BaseException:
            # Keys without stored certificates would block every later attempt.
            for label in hierarchy_key_labels():
                try:
                    self._keys.destroy(label)
                except Exception:  # noqa: BLE001 - best effort; the original error matters
                    log.warning("could not destroy CA key %s after a failed init", label)
            raise

    def adopt(self, hierarchy: Hierarchy, *, actor: str | None = None) -> Hierarchy:
        """Store a hierarchy whose keys are in the key backend (see the module docstring)."""
        if self._store.authorities():
            raise HierarchyExists("the database already holds a CA hierarchy")
        items = _hierarchy_items(hierarchy)
        for _issuer, _profile, cert, label in items:
            try:
                held = self._keys.public_key(label)
            except KeyNotFound:
                raise HierarchyIncomplete(
                    f"the key {label} of the hierarchy is not in the key backend"
                ) from None
            if held != cert.public_key():
                raise HierarchyIncomplete(f"the key {label} does not match its certificate")
        now = self._clock.now()
        with self._store.write() as session:
            for name, cert in hierarchy.cas.items():
                self._store.add_authority(
                    session,
                    name=name,
                    parent=None if name == ROOT_CA else ROOT_CA,
                    key_label=hierarchy.ca_key_labels[name],
                    certificate=cert,
                    at=now,
                )
            for issuer, profile, cert, label in items:
                record_certificate(
                    self._store,
                    self._log,
                    session,
                    cert,
                    issuer=issuer,
                    profile=profile,
                    subject_id=None,
                    key_label=label,
                    actor=actor,
                    at=now,
                )
            # The installation remembers the URL its certificates name (core/installation.py):
            # every later process, with or without NATID_PUBLIC_BASE_URL, uses this one.
            record_public_url(session, self._urls.base, at=now)
            if self._ledger is not None:
                serials = {f"{p}:{i}": serial_hex(c.serial_number) for i, p, c, _ in items}
                self._ledger.append(
                    "ca.hierarchy.created",
                    actor=actor,
                    data={
                        "authorities": sorted(hierarchy.cas),
                        "serials": serials,
                        "public_base_url": self._urls.base,
                    },
                    session=session,
                )
        self._issuers.clear()
        log.info("CA hierarchy stored", extra={"authorities": len(hierarchy.cas)})
        return hierarchy

    def load(self) -> Hierarchy:
        """The stored hierarchy; raises :class:`~ca.errors.HierarchyNotInitialised`."""
        authorities = {a.name: a for a in self._store.authorities()}
        if not authorities:
            raise HierarchyNotInitialised(_NOT_INITIALISED)
        responders = self._store.newest_service_certificates(ProfileName.OCSP_RESPONDER)
        tsa = self._store.newest_service_certificates(ProfileName.TSA).get(TSA_ISSUER)
        if ROOT_CA not in authorities or tsa is None or tsa.key_label is None:
            raise HierarchyIncomplete("the stored CA hierarchy lacks its root or its TSA")
        return Hierarchy(
            cas=MappingProxyType({n: a.certificate for n, a in authorities.items()}),
            ocsp_responders=MappingProxyType({n: c.certificate for n, c in responders.items()}),
            tsa=tsa.certificate,
            ca_key_labels=MappingProxyType({n: a.key_label for n, a in authorities.items()}),
            ocsp_key_labels=MappingProxyType(
                {n: c.key_label or ocsp_key_label(n) for n, c in responders.items()}
            ),
            tsa_key_label=tsa.key_label,
        )

    def forget_issuer(self, name: str) -> None:
        """Drop a cached issuing CA (it was retired): the next issuance reloads the list."""
        self._issuers.pop(name, None)

    def issuer_for(
        self, profile: CertificateProfile
    ) -> tuple[str, x509.Certificate, BackendPrivateKey]:
        """The first active CA of ``profile.issuing_cas``: name, certificate, key handle."""
        for name in profile.issuing_cas:
            cached = self._issuers.get(name)
            if cached is not None:
                return name, *cached
        authorities = {a.name: a for a in self._store.authorities()}
        if not authorities:
            raise HierarchyNotInitialised(_NOT_INITIALISED)
        for name in profile.issuing_cas:
            authority = authorities.get(name)
            if authority is None or authority.status is not AuthorityStatus.ACTIVE:
                continue
            try:
                key = self._keys.load(authority.key_label)
            except KeyNotFound:
                raise HierarchyIncomplete(
                    f"the key {authority.key_label} of CA {name} is not in the key backend"
                ) from None
            self._issuers[name] = (authority.certificate, key)
            return name, authority.certificate, key
        raise ProfileViolation(
            f"no active CA issues profile {profile.name} "
            f"(expected one of {', '.join(profile.issuing_cas)})"
        )


def _hierarchy_items(hierarchy: Hierarchy) -> list[_HierarchyItem]:
    """(issuer, profile, certificate, key label) of every certificate of the hierarchy."""
    labels = hierarchy.ca_key_labels
    items: list[_HierarchyItem] = [(ROOT_CA, ProfileName.ROOT_CA, hierarchy.root, labels[ROOT_CA])]
    for name, cert in hierarchy.cas.items():
        if name != ROOT_CA:
            items.append((ROOT_CA, ProfileName.ISSUING_CA, cert, labels[name]))
    for name, cert in hierarchy.ocsp_responders.items():
        items.append((name, ProfileName.OCSP_RESPONDER, cert, hierarchy.ocsp_key_labels[name]))
    items.append((TSA_ISSUER, ProfileName.TSA, hierarchy.tsa, hierarchy.tsa_key_label))
    return items
