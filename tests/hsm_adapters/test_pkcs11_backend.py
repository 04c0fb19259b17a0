"""What only the PKCS#11 backend has to prove, checked against SoftHSM2.

The key attributes are read with python-pkcs11 directly, not through the backend, so the test
does not trust the code it checks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from hsm_adapters import (
    KeyAccessDenied,
    KeyAlgorithm,
    KeyBackendUnavailable,
    KeyNotFound,
    PKCS11KeyBackend,
    UnsupportedAlgorithm,
)
from tests.hsm_adapters.conftest import SoftHSMToken

pytestmark = pytest.mark.softhsm


@pytest.fixture(scope="module")
def p11(softhsm: SoftHSMToken) -> Iterator[PKCS11KeyBackend]:
    backend = PKCS11KeyBackend(softhsm.module, softhsm.label, softhsm.pin)
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture
def label() -> str:
    return f"p11-{uuid.uuid4().hex[:16]}"


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm), ids=[a.value for a in KeyAlgorithm])
def test_private_key_is_sensitive_and_never_extractable(
    p11: PKCS11KeyBackend, softhsm: SoftHSMToken, algorithm: KeyAlgorithm, label: str
) -> None:
    if algorithm not in p11.supported_algorithms():
        pytest.skip(f"this SoftHSM2 does not offer {algorithm.value}")
    p11.generate(label, algorithm)
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    # The same library object the backend uses (python-pkcs11 caches it by resolved path);
    # the session is not logged in itself, it sees the private key through the backend's login.
    token = pkcs11.lib(str(softhsm.module.resolve())).get_token(token_label=softhsm.label)
    session = token.open()
    try:
        private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
        assert private[Attribute.TOKEN] is True
        assert private[Attribute.PRIVATE] is True
        assert private[Attribute.SENSITIVE] is True
        assert private[Attribute.EXTRACTABLE] is False
        assert private[Attribute.ALWAYS_SENSITIVE] is True
        assert private[Attribute.NEVER_EXTRACTABLE] is True
        assert private[Attribute.SIGN] is True
        assert private[Attribute.DERIVE] is False
        assert len(private[Attribute.ID]) == 16
        secret = (
            Attribute.PRIVATE_EXPONENT if algorithm.value.startswith("rsa") else Attribute.VALUE
        )
        with pytest.raises(pkcs11.AttributeSensitive):
            private[secret]
        if algorithm.value.startswith("rsa"):
            for part in (Attribute.PRIME_1, Attribute.PRIME_2):
                with pytest.raises(pkcs11.AttributeSensitive):
                    private[part]
    finally:
        session.close()
        p11.destroy(label)


def test_wrong_pin_on_a_token_not_yet_logged_in_is_refused(softhsm: SoftHSMToken) -> None:
    with pytest.raises(KeyAccessDenied, match="wrong PIN") as caught:
        PKCS11KeyBackend(softhsm.module, softhsm.spare_label, "987654")
    assert "987654" not in str(caught.value)
    assert softhsm.pin not in str(caught.value)
    PKCS11KeyBackend(softhsm.module, softhsm.spare_label, softhsm.pin).close()


def test_wrong_pin_cannot_ride_on_an_existing_login(
    p11: PKCS11KeyBackend, softhsm: SoftHSMToken
) -> None:
    # The process is logged in to the token (p11); PKCS#11 would answer "already logged in"
    # to any PIN, so the backend must compare the PIN itself.
    with pytest.raises(KeyAccessDenied) as caught:
        PKCS11KeyBackend(softhsm.module, softhsm.label, "987654")
    assert "987654" not in str(caught.value)


def test_missing_module_is_named_in_the_error(softhsm: SoftHSMToken, tmp_path: Path) -> None:
    missing = tmp_path / "libvendor-hsm.so"
    with pytest.raises(KeyBackendUnavailable, match=r"libvendor-hsm\.so") as caught:
        PKCS11KeyBackend(missing, softhsm.label, softhsm.pin)
    assert softhsm.pin not in str(caught.value).replace(str(tmp_path), "")


def test_missing_token_is_named_in_the_error(softhsm: SoftHSMToken) -> None:
    with pytest.raises(KeyBackendUnavailable, match="no-such-token") as caught:
        PKCS11KeyBackend(softhsm.module, "no-such-token", "s3cret-pin")
    assert "s3cret-pin" not in str(caught.value)


def test_ecdsa_signature_from_the_token_is_der(p11: PKCS11KeyBackend, label: str) -> None:
    key = p11.generate(label, KeyAlgorithm.EC_P256)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    signature = key.sign(b"data", ec.ECDSA(hashes.SHA256()))
    assert signature[0] == 0x30  # SEQUENCE, not the token's raw r || s
    r, s = decode_dss_signature(signature)
    assert r > 0 and s > 0
    # A digest longer than the group order (SHA-512 on P-256) is truncated as ECDSA requires.
    long = key.sign(b"data", ec.ECDSA(hashes.SHA512()))
    key.public_key().verify(long, b"data", ec.ECDSA(hashes.SHA512()))
    with pytest.raises(UnsupportedAlgorithm, match="deterministic"):
        key.sign(b"data", ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    p11.destroy(label)


def test_key_recreated_under_the_same_label_is_not_used_by_an_old_handle(
    p11: PKCS11KeyBackend, label: str
) -> None:
    # Substitution attack: a key destroyed and re-created under its label must not silently
    # make old key objects sign with the new key (their certificates name the old one).
    old = p11.generate(label, KeyAlgorithm.EC_P256)
    p11.destroy(label)
    new = p11.generate(label, KeyAlgorithm.EC_P256)
    assert isinstance(old, ec.EllipticCurvePrivateKey)
    assert isinstance(new, ec.EllipticCurvePrivateKey)
    with pytest.raises(KeyNotFound):
        old.sign(b"data", ec.ECDSA(hashes.SHA256()))
    signature = new.sign(b"data", ec.ECDSA(hashes.SHA256()))
    new.public_key().verify(signature, b"data", ec.ECDSA(hashes.SHA256()))
    p11.destroy(label)


def test_closing_one_backend_does_not_log_out_another(
    p11: PKCS11KeyBackend, softhsm: SoftHSMToken, label: str
) -> None:
    key = p11.generate(label, KeyAlgorithm.EC_P256)
    other = PKCS11KeyBackend(softhsm.module, softhsm.label, softhsm.pin)
    other.load(label)
    other.close()
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    key.public_key().verify(
        key.sign(b"still logged in", ec.ECDSA(hashes.SHA256())),
        b"still logged in",
        ec.ECDSA(hashes.SHA256()),
    )
    with pytest.raises(KeyBackendUnavailable, match="closed"):
        other.list()
    p11.destroy(label)


def test_more_threads_than_sessions_wait_their_turn(softhsm: SoftHSMToken, label: str) -> None:
    small = PKCS11KeyBackend(softhsm.module, softhsm.label, softhsm.pin, pool_size=2)
    try:
        key = small.generate(label, KeyAlgorithm.RSA_2048)
        assert isinstance(key, rsa.RSAPrivateKey)
        from cryptography.hazmat.primitives.asymmetric import padding

        pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.MAX_LENGTH)

        def worker(i: int) -> None:
            data = f"message {i}".encode()
            key.public_key().verify(
                key.sign(data, pss, hashes.SHA256()), data, pss, hashes.SHA256()
            )

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(worker, range(80)))
        small.destroy(label)
    finally:
        small.close()


def test_key_info_from_a_token_has_no_creation_time(p11: PKCS11KeyBackend, label: str) -> None:
    p11.generate(
        label,
        KeyAlgorithm.ED25519
        if KeyAlgorithm.ED25519 in p11.supported_algorithms()
        else KeyAlgorithm.EC_P256,
    )
    [info] = [i for i in p11.list() if i.label == label]
    assert info.backend == "pkcs11"
    assert info.created_at is None  # PKCS#11 keeps none; the backend does not invent one
    p11.destroy(label)
