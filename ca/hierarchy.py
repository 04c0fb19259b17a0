"""The development CA hierarchy: root, issuing CAs, their OCSP responders and the TSA.

ARCHITECTURE.md "CA hierarchy" and issue 3 "Hierarchy": a Root CA (P-384, 20 years) certifies
four issuing CAs (P-384, 10 years, pathLenConstraint 0):

* ``citizen`` - authentication and signing certificates of citizens;
* ``entity`` - e-seals of legal persons;
* ``government`` - civil servants, government web sites (TLS) and the TSA;
* ``health`` - EU DCC document signers.

Each issuing CA certifies its own delegated OCSP responder (RFC 6960 §4.2.2.2, P-256, 90 days,
``id-pkix-ocsp-nocheck``). The root has no OCSP responder: its key is meant to stay offline,
so the status of the issuing CAs is published by the root's CRL alone (RFC 5280 §3.3). The TSA
(RFC 3161, P-256) is certified by the ``government`` CA: time-stamping is a public trust
service the government operates for everyone, and that CA already certifies government
services; a dedicated TSA CA would add a fifth CA for one certificate (docs/ca-profiles.md).

Keys are generated in the given :class:`~hsm_adapters.base.KeyBackend` under stable labels
(``ca-root``, ``ca-<name>``, ``ocsp-<name>``, ``tsa``). This slice does not persist
certificates; a later slice stores them. If any label already exists nothing is generated
(:class:`~ca.errors.HierarchyExists`), and if anything fails half-way the keys made by this
call are destroyed again, so a failed run leaves the backend as it found it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from cryptography import x509

from ca.errors import HierarchyExists
from ca.names import service_name
from ca.profiles import DEFAULT_POLICY_ARC, CertificateProfile, ProfileName, get_profile
from ca.urls import PkiUrls
from ca.x509build import build_certificate, new_serial
from core.clock import require_aware
from hsm_adapters.base import BackendPrivateKey, KeyAlgorithm, KeyBackend

__all__ = [
    "ISSUING_CAS",
    "ROOT_CA",
    "ROOT_KEY_LABEL",
    "TSA_ISSUER",
    "TSA_KEY_LABEL",
    "Hierarchy",
    "ca_key_label",
    "create_hierarchy",
    "ocsp_key_label",
]

ROOT_CA = "root"
#: The issuing CAs, by name, with the words used in their common names.
ISSUING_CAS: Mapping[str, str] = MappingProxyType(
    {
        "citizen": "Citizen",
        "entity": "Entity",
        "government": "Government",
        "health": "Health",
    }
)
TSA_ISSUER = "government"
ROOT_KEY_LABEL = "ca-root"
TSA_KEY_LABEL = "tsa"


def ca_key_label(ca_name: str) -> str:
    """The key label of a CA (``ca-root``, ``ca-citizen``, ...)."""
    return f"ca-{ca_name}"


def ocsp_key_label(ca_name: str) -> str:
    """The key label of a CA's delegated OCSP responder (``ocsp-citizen``, ...)."""
    return f"ocsp-{ca_name}"


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """The certificates of a freshly created hierarchy, and where their keys live."""

    #: ``root`` and every issuing CA name -> its CA certificate.
    cas: Mapping[str, x509.Certificate]
    #: Issuing CA name -> the certificate of its delegated OCSP responder.
    ocsp_responders: Mapping[str, x509.Certificate]
    tsa: x509.Certificate
    #: ``root`` and every issuing CA name -> the label of the CA's key.
    ca_key_labels: Mapping[str, str]
    #: Issuing CA name -> the label of its OCSP responder's key.
    ocsp_key_labels: Mapping[str, str]
    tsa_key_label: str = TSA_KEY_LABEL

    @property
    def root(self) -> x509.Certificate:
        return self.cas[ROOT_CA]

    def chain(self, ca_name: str) -> tuple[x509.Certificate, ...]:
        """The CA certificates from ``ca_name`` up to the root, issuing CA first."""
        if ca_name == ROOT_CA:
            return (self.root,)
        return (self.cas[ca_name], self.root)


def create_hierarchy(
    backend: KeyBackend,
    *,
    urls: PkiUrls,
    at: dt.datetime,
    org_name: str = "NatID Development",
    country: str = "KH",
    policy_arc: str = DEFAULT_POLICY_ARC,
    issuing_ca_algorithm: KeyAlgorithm = KeyAlgorithm.EC_P384,
) -> Hierarchy:
    """Generate the hierarchy's keys in ``backend`` and certify them, valid from ``at``.

    Raises :class:`~ca.errors.HierarchyExists` if any of its key labels is taken.
    """
    at = require_aware(at).replace(microsecond=0)
    labels = [ROOT_KEY_LABEL, TSA_KEY_LABEL]
    for name in ISSUING_CAS:
        labels += [ca_key_label(name), ocsp_key_label(name)]
    taken = sorted({info.label for info in backend.list()} & set(labels))
    if taken:
        raise HierarchyExists(
            f"the key backend already holds {', '.join(taken)}; the hierarchy exists "
            "(destroy those keys to start again, or load the stored certificates)"
        )

    created: list[str] = []

    def generate(label: str, algorithm: KeyAlgorithm) -> BackendPrivateKey:
        key = backend.generate(label, algorithm)
        created.append(label)
        return key

    def certify(
        profile: CertificateProfile,
        common_name: str,
        key: BackendPrivateKey,
        issuer: tuple[x509.Certificate, BackendPrivateKey] | None,
        ca_name: str,
    ) -> x509.Certificate:
        not_before, not_after = profile.validity_window(at=at)
        return build_certificate(
            profile,
            subject=service_name(common_name, organisation=org_name, country=country),
            public_key=key.public_key(),
            issuer_cert=issuer[0] if issuer else None,
            issuer_key=issuer[1] if issuer else key,
            serial=new_serial(),
            not_before=not_before,
            not_after=not_after,
            urls=urls,
            ca_name=ca_name,
            policy_arc=policy_arc,
        )

    try:
        root_key = generate(ROOT_KEY_LABEL, KeyAlgorithm.EC_P384)
        root = certify(
            get_profile(ProfileName.ROOT_CA), f"{org_name} Root CA", root_key, None, ROOT_CA
        )
        cas: dict[str, x509.Certificate] = {ROOT_CA: root}
        responders: dict[str, x509.Certificate] = {}
        ca_keys: dict[str, BackendPrivateKey] = {}
        for name, title in ISSUING_CAS.items():
            ca_keys[name] = generate(ca_key_label(name), issuing_ca_algorithm)
            cas[name] = certify(
                get_profile(ProfileName.ISSUING_CA),
                f"{org_name} {title} CA",
                ca_keys[name],
                (root, root_key),
                ROOT_CA,
            )
            responder_key = generate(ocsp_key_label(name), KeyAlgorithm.EC_P256)
            responders[name] = certify(
                get_profile(ProfileName.OCSP_RESPONDER),
                f"{org_name} {title} CA OCSP Responder",
                responder_key,
                (cas[name], ca_keys[name]),
                name,
            )
        tsa_key = generate(TSA_KEY_LABEL, KeyAlgorithm.EC_P256)
        tsa = certify(
            get_profile(ProfileName.TSA),
            f"{org_name} Time-Stamping Authority",
            tsa_key,
            (cas[TSA_ISSUER], ca_keys[TSA_ISSUER]),
            TSA_ISSUER,
        )
    except BaseException:
        # All or nothing: a half-made hierarchy would block the next attempt (HierarchyExists)
        # and leave keys without certificates. Destroy what this call made, newest first.
        for label in reversed(created):
            try:
                backend.destroy(label)
            except Exception:  # noqa: BLE001, S112 - best effort; the original error matters
                continue
        raise

    return Hierarchy(
        cas=MappingProxyType(cas),
        ocsp_responders=MappingProxyType(responders),
        tsa=tsa,
        ca_key_labels=MappingProxyType({name: ca_key_label(name) for name in cas}),
        ocsp_key_labels=MappingProxyType({name: ocsp_key_label(name) for name in responders}),
    )
