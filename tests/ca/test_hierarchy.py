"""The development CA hierarchy (ca/hierarchy.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ca.errors import HierarchyExists
from ca.hierarchy import ISSUING_CAS, TSA_ISSUER, Hierarchy, create_hierarchy
from ca.urls import PkiUrls
from core.errors import InvalidInput
from hsm_adapters.base import KeyAlgorithm, KeyBackend
from tests.ca.conftest import BASE_URL, HIERARCHY_TIME, MemoryKeyBackend

EXPECTED_LABELS = {
    "ca-root",
    "ca-citizen",
    "ca-entity",
    "ca-government",
    "ca-health",
    "ocsp-citizen",
    "ocsp-entity",
    "ocsp-government",
    "ocsp-health",
    "tsa",
}


def _curve(cert: x509.Certificate) -> str:
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key.curve.name


def _years(cert: x509.Certificate) -> float:
    return (cert.not_valid_after_utc - cert.not_valid_before_utc).days / 365.25


def test_root_is_self_signed_p384_for_20_years(hierarchy: Hierarchy) -> None:
    root = hierarchy.root
    assert root.issuer == root.subject
    root.verify_directly_issued_by(root)
    assert _curve(root) == "secp384r1"
    assert round(_years(root)) == 20
    assert root.not_valid_before_utc == HIERARCHY_TIME


def test_four_issuing_cas_under_the_root_for_10_years(hierarchy: Hierarchy) -> None:
    assert set(hierarchy.cas) == {"root", "citizen", "entity", "government", "health"}
    for name in ISSUING_CAS:
        ca = hierarchy.cas[name]
        ca.verify_directly_issued_by(hierarchy.root)
        assert _curve(ca) == "secp384r1"
        assert round(_years(ca)) == 10
        assert hierarchy.chain(name) == (ca, hierarchy.root)


def test_each_issuing_ca_certifies_its_own_ocsp_responder(hierarchy: Hierarchy) -> None:
    assert set(hierarchy.ocsp_responders) == set(ISSUING_CAS)
    for name, responder in hierarchy.ocsp_responders.items():
        responder.verify_directly_issued_by(hierarchy.cas[name])
        assert _curve(responder) == "secp256r1"


def test_tsa_is_certified_by_the_government_ca(hierarchy: Hierarchy) -> None:
    assert TSA_ISSUER == "government"
    hierarchy.tsa.verify_directly_issued_by(hierarchy.cas["government"])


def test_keys_live_in_the_backend_under_stable_labels(
    hierarchy: Hierarchy, dev_backend: MemoryKeyBackend
) -> None:
    assert {info.label for info in dev_backend.list()} >= EXPECTED_LABELS
    assert dict(hierarchy.ca_key_labels) == {
        "root": "ca-root",
        "citizen": "ca-citizen",
        "entity": "ca-entity",
        "government": "ca-government",
        "health": "ca-health",
    }
    assert hierarchy.ocsp_key_labels["health"] == "ocsp-health"
    for name, label in hierarchy.ca_key_labels.items():
        assert dev_backend.public_key(label) == hierarchy.cas[name].public_key()
    assert dev_backend.public_key(hierarchy.tsa_key_label) == hierarchy.tsa.public_key()


def test_names_carry_the_organisation(hierarchy: Hierarchy) -> None:
    assert hierarchy.root.subject.rfc4514_string() == (
        "CN=NatID Development Root CA,O=NatID Development,C=KH"
    )
    assert hierarchy.cas["citizen"].subject.rfc4514_string() == (
        "CN=NatID Development Citizen CA,O=NatID Development,C=KH"
    )


def test_memory_backend_is_a_key_backend() -> None:
    assert isinstance(MemoryKeyBackend(), KeyBackend)


def test_existing_keys_refuse_a_second_hierarchy_and_generate_nothing() -> None:
    backend = MemoryKeyBackend()
    backend.generate("ocsp-health", KeyAlgorithm.EC_P256)
    with pytest.raises(HierarchyExists) as info:
        create_hierarchy(backend, urls=PkiUrls(BASE_URL), at=HIERARCHY_TIME)
    assert "ocsp-health" in str(info.value)
    assert info.value.http_status == 409
    assert backend.generated == ["ocsp-health"]


def test_failed_hierarchy_leaves_no_keys_behind() -> None:
    """A half-made hierarchy would block every later attempt; the keys made are destroyed."""
    backend = MemoryKeyBackend()
    backend.fail_on = "ca-health"
    with pytest.raises(RuntimeError):
        create_hierarchy(backend, urls=PkiUrls(BASE_URL), at=HIERARCHY_TIME)
    assert backend.list() == []
    assert set(backend.destroyed) == set(backend.generated)
    assert "ca-root" in backend.destroyed


def test_naive_time_refused() -> None:
    with pytest.raises(InvalidInput):
        create_hierarchy(
            MemoryKeyBackend(),
            urls=PkiUrls(BASE_URL),
            at=dt.datetime(2026, 11, 1),  # naive on purpose
        )


def test_hierarchy_with_the_soft_key_backend(tmp_path: Path) -> None:
    """The same code on the real development backend (keys encrypted at rest)."""
    from hsm_adapters import SoftKeyBackend

    backend = SoftKeyBackend(tmp_path / "keys", "test-passphrase", scrypt_n=2**14)
    try:
        made = create_hierarchy(backend, urls=PkiUrls(BASE_URL), at=HIERARCHY_TIME)
        made.cas["entity"].verify_directly_issued_by(made.root)
        made.ocsp_responders["entity"].verify_directly_issued_by(made.cas["entity"])
        assert {info.label for info in backend.list()} == EXPECTED_LABELS
        assert backend.public_key("ca-root") == made.root.public_key()
        with pytest.raises(HierarchyExists):
            create_hierarchy(backend, urls=PkiUrls(BASE_URL), at=HIERARCHY_TIME)
    finally:
        backend.close()
