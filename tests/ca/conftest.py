"""Fixtures for the CA tests: an in-memory key backend, a development hierarchy, subjects.

The hierarchy is built once per test session (key generation and signing are the slow part)
and its keys stay in a :class:`MemoryKeyBackend`; tests that need a fresh one build their own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ca.hierarchy import Hierarchy, ca_key_label, create_hierarchy
from ca.names import (
    CivilServantSubject,
    LegalPersonSubject,
    NaturalPersonSubject,
    civil_servant_name,
    legal_person_name,
    natural_person_name,
    service_name,
)
from ca.profiles import DccPurpose, ProfileName, get_profile
from ca.urls import PkiUrls
from ca.x509build import build_certificate, new_serial
from hsm_adapters.base import BackendPrivateKey, BackendPublicKey, KeyAlgorithm, KeyInfo
from hsm_adapters.errors import KeyExists, KeyNotFound

HIERARCHY_TIME = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
#: A public-looking host: ETSI EN 319 412-2 (pkilint etsi.internal_domain_name) refuses
#: internal names such as localhost or *.test in AIA and CRL URLs, as it should in production.
BASE_URL = "http://pki.natid.gov.kh"
TLS_NAMES = ("www.moh.gov.kh", "moh.gov.kh")
DCC_PURPOSES = frozenset({DccPurpose.VACCINATION, DccPurpose.RECOVERY})


class MemoryKeyBackend:
    """A test-only KeyBackend holding ordinary cryptography keys in a dict."""

    name = "memory"

    def __init__(self) -> None:
        self._keys: dict[str, tuple[BackendPrivateKey, KeyAlgorithm]] = {}
        self.generated: list[str] = []
        self.destroyed: list[str] = []
        self.fail_on: str | None = None

    def supported_algorithms(self) -> frozenset[KeyAlgorithm]:
        return frozenset(KeyAlgorithm)

    def generate(self, label: str, algorithm: KeyAlgorithm) -> BackendPrivateKey:
        if label in self._keys:
            raise KeyExists(f"key {label!r} exists")
        if label == self.fail_on:
            raise RuntimeError(f"injected failure generating {label}")
        self._keys[label] = (make_key(algorithm), algorithm)
        self.generated.append(label)
        return self._keys[label][0]

    def load(self, label: str) -> BackendPrivateKey:
        try:
            return self._keys[label][0]
        except KeyError:
            raise KeyNotFound(f"no key {label!r}") from None

    def public_key(self, label: str) -> BackendPublicKey:
        return self.load(label).public_key()

    def list(self) -> list[KeyInfo]:
        return [KeyInfo(label, alg, self.name, None) for label, (_, alg) in self._keys.items()]

    def destroy(self, label: str) -> None:
        if self._keys.pop(label, None) is None:
            raise KeyNotFound(f"no key {label!r}")
        self.destroyed.append(label)

    def health_check(self) -> None:
        return None

    def close(self) -> None:
        return None


def make_key(algorithm: KeyAlgorithm) -> BackendPrivateKey:
    if algorithm is KeyAlgorithm.EC_P256:
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm is KeyAlgorithm.EC_P384:
        return ec.generate_private_key(ec.SECP384R1())
    if algorithm is KeyAlgorithm.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    bits = int(algorithm.value.split("-")[1])
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@pytest.fixture(scope="session")
def urls() -> PkiUrls:
    return PkiUrls(BASE_URL)


@pytest.fixture(scope="session")
def dev_backend() -> MemoryKeyBackend:
    return MemoryKeyBackend()


@pytest.fixture(scope="session")
def hierarchy(dev_backend: MemoryKeyBackend, urls: PkiUrls) -> Hierarchy:
    return create_hierarchy(dev_backend, urls=urls, at=HIERARCHY_TIME)


@pytest.fixture
def memory_backend() -> Iterator[MemoryKeyBackend]:
    yield MemoryKeyBackend()


@pytest.fixture(scope="session")
def citizen() -> NaturalPersonSubject:
    return NaturalPersonSubject(
        given_name_km="ដារ៉ា",
        family_name_km="សុខ",
        given_name_latin="DARA",
        family_name_latin="SOK",
        national_id="010203040",
    )


@pytest.fixture(scope="session")
def civil_servant(citizen: NaturalPersonSubject) -> CivilServantSubject:
    return CivilServantSubject(
        person=citizen,
        organisation_name="ក្រសួងប្រៃសណីយ៍និងទូរគមនាគមន៍",
        organisation_unit="នាយកដ្ឋានបច្ចេកវិទ្យាព័ត៌មាន",
        title="Director",
    )


@pytest.fixture(scope="session")
def company() -> LegalPersonSubject:
    return LegalPersonSubject(
        name_en="Angkor Rice Export Co., Ltd.",
        name_km="ក្រុមហ៊ុន អង្គរ នាំចេញអង្ករ",
        register_no="00012345",
    )


def issue(
    hierarchy: Hierarchy,
    backend: MemoryKeyBackend,
    profile: str,
    subject: x509.Name,
    *,
    ca_name: str,
    key: BackendPrivateKey | None = None,
    at: dt.datetime = HIERARCHY_TIME,
    **kwargs: object,
) -> x509.Certificate:
    """A certificate of ``profile`` from the CA ``ca_name`` of ``hierarchy``."""
    prof = get_profile(profile)
    key = key or make_key(KeyAlgorithm.EC_P256)
    not_before, not_after = prof.validity_window(at=at)
    return build_certificate(
        prof,
        subject=subject,
        public_key=key.public_key(),
        issuer_cert=hierarchy.cas[ca_name],
        issuer_key=backend.load(ca_key_label(ca_name)),
        serial=new_serial(),
        not_before=not_before,
        not_after=not_after,
        urls=PkiUrls(BASE_URL),
        ca_name=ca_name,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def issued(
    hierarchy: Hierarchy,
    dev_backend: MemoryKeyBackend,
    citizen: NaturalPersonSubject,
    civil_servant: CivilServantSubject,
    company: LegalPersonSubject,
) -> dict[str, tuple[x509.Certificate, str]]:
    """One certificate per profile -> (certificate, name of its issuing CA or "root")."""
    person = natural_person_name(citizen)
    servant = civil_servant_name(civil_servant)
    health = service_name("NatID Health DSC 2026-1", organisation="Ministry of Health")
    web = service_name(TLS_NAMES[0], organisation="Ministry of Health")

    def leaf(profile: str, subject: x509.Name, ca_name: str, **kw: object) -> x509.Certificate:
        return issue(hierarchy, dev_backend, profile, subject, ca_name=ca_name, **kw)

    return {
        ProfileName.ROOT_CA: (hierarchy.root, "root"),
        ProfileName.ISSUING_CA: (hierarchy.cas["citizen"], "root"),
        ProfileName.CITIZEN_AUTH: (leaf("citizen-auth", person, "citizen"), "citizen"),
        ProfileName.CITIZEN_SIGN: (leaf("citizen-sign", person, "citizen"), "citizen"),
        ProfileName.GOV_AUTH: (leaf("gov-auth", servant, "government"), "government"),
        ProfileName.GOV_SIGN: (leaf("gov-sign", servant, "government"), "government"),
        ProfileName.ESEAL: (leaf("eseal", legal_person_name(company), "entity"), "entity"),
        ProfileName.HEALTH_DSC: (
            leaf("health-dsc", health, "health", dcc_purposes=DCC_PURPOSES),
            "health",
        ),
        ProfileName.TSA: (hierarchy.tsa, "government"),
        ProfileName.OCSP_RESPONDER: (hierarchy.ocsp_responders["health"], "health"),
        ProfileName.TLS_SERVER: (
            leaf("tls-server", web, "government", san=TLS_NAMES),
            "government",
        ),
    }
