"""The KeyBackend conformance suite: every backend must pass all of it.

Runs once per backend (``soft``; ``pkcs11`` on SoftHSM2, marker ``softhsm``) and, where it
matters, once per algorithm the backend offers. What it proves is what the CA, the IdP and the
ledger rely on: keys sign in the backend and cryptography verifies them; cryptography's
certificate, CRL, CSR and OCSP builders take the keys as they are; keys persist across restarts;
keys never come out; wrong secrets, destroyed keys, taken and malformed labels fail loudly.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from hsm_adapters import (
    BackendPrivateKey,
    BackendPublicKey,
    InvalidKeyLabel,
    KeyAccessDenied,
    KeyAlgorithm,
    KeyBackend,
    KeyBackendError,
    KeyExists,
    KeyNotFound,
    KeyOperationRefused,
)
from tests.hsm_adapters.conftest import BackendMaker

NOW = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "NatID conformance")])

Scheme = tuple[hashes.HashAlgorithm | None, padding.PSS | padding.PKCS1v15 | None]


def builder_schemes(key: BackendPrivateKey) -> list[Scheme]:
    """The (hash, RSA padding) pairs the CA uses with this kind of key."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return [(hashes.SHA256(), None), (hashes.SHA384(), None)]
    if isinstance(key, rsa.RSAPrivateKey):
        return [
            (
                hashes.SHA256(),
                padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH),
            ),
            (hashes.SHA256(), padding.PKCS1v15()),
        ]
    return [(None, None)]


def sign_and_verify(key: BackendPrivateKey, public: BackendPublicKey, data: bytes) -> None:
    """Sign ``data`` every way NatID signs with this key type; verify with ``public``."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        assert isinstance(public, ec.EllipticCurvePublicKey)
        for h in (hashes.SHA256(), hashes.SHA384()):
            public.verify(key.sign(data, ec.ECDSA(h)), data, ec.ECDSA(h))
            digest = hashes.Hash(h)
            digest.update(data)
            prehashed = key.sign(digest.finalize(), ec.ECDSA(utils.Prehashed(h)))
            public.verify(prehashed, data, ec.ECDSA(h))
    elif isinstance(key, rsa.RSAPrivateKey):
        assert isinstance(public, rsa.RSAPublicKey)
        for h in (hashes.SHA256(), hashes.SHA384()):
            # Verified with explicit numbers: only the exact salt length passes (RFC 8017 §9.1).
            max_salt = (public.key_size - 1 + 7) // 8 - h.digest_size - 2
            for salt, exact in (
                (padding.PSS.DIGEST_LENGTH, h.digest_size),
                (padding.PSS.MAX_LENGTH, max_salt),
            ):
                signature = key.sign(data, padding.PSS(padding.MGF1(h), salt), h)
                public.verify(signature, data, padding.PSS(padding.MGF1(h), exact), h)
            public.verify(key.sign(data, padding.PKCS1v15(), h), data, padding.PKCS1v15(), h)
            digest = hashes.Hash(h)
            digest.update(data)
            prehashed = key.sign(digest.finalize(), padding.PKCS1v15(), utils.Prehashed(h))
            public.verify(prehashed, data, padding.PKCS1v15(), h)
        raw = key.sign(data, padding.PKCS1v15(), utils.NoDigestInfo())
        public.verify(raw, data, padding.PKCS1v15(), utils.NoDigestInfo())
    else:
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        assert isinstance(public, ed25519.Ed25519PublicKey)
        public.verify(key.sign(data), data)


def verify_with(public: BackendPublicKey, signature: bytes, tbs: bytes, scheme: Scheme) -> None:
    h, pad = scheme
    if isinstance(public, ec.EllipticCurvePublicKey):
        assert h is not None
        public.verify(signature, tbs, ec.ECDSA(h))
    elif isinstance(public, rsa.RSAPublicKey):
        assert h is not None and pad is not None
        public.verify(signature, tbs, pad, h)
    else:
        public.verify(signature, tbs)


def self_signed(key: BackendPrivateKey, scheme: Scheme) -> x509.Certificate:
    h, pad = scheme
    builder = (
        x509.CertificateBuilder()
        .subject_name(NAME)
        .issuer_name(NAME)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    return builder.sign(key, h, rsa_padding=pad)  # type: ignore[arg-type]


# --- signatures and cryptography's builders ------------------------------------------------------


def test_signatures_verify_with_the_public_key(key: BackendPrivateKey) -> None:
    sign_and_verify(key, key.public_key(), b"a document to sign")


def test_self_signed_certificate_from_backend_key_verifies(key: BackendPrivateKey) -> None:
    for scheme in builder_schemes(key):
        cert = self_signed(key, scheme)
        cert.verify_directly_issued_by(cert)
        verify_with(key.public_key(), cert.signature, cert.tbs_certificate_bytes, scheme)
        assert cert.public_key() == key.public_key()


def test_crl_signed_by_backend_key_verifies(key: BackendPrivateKey) -> None:
    for scheme in builder_schemes(key):
        h, pad = scheme
        revoked = (
            x509.RevokedCertificateBuilder()
            .serial_number(12345)
            .revocation_date(NOW)
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build()
        )
        crl = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(NAME)
            .last_update(NOW)
            .next_update(NOW + dt.timedelta(days=1))
            .add_revoked_certificate(revoked)
            .sign(key, h, rsa_padding=pad)  # type: ignore[arg-type]
        )
        assert crl.is_signature_valid(key.public_key())  # type: ignore[arg-type]
        verify_with(key.public_key(), crl.signature, crl.tbs_certlist_bytes, scheme)


def test_csr_signed_by_backend_key_verifies(key: BackendPrivateKey) -> None:
    for scheme in builder_schemes(key):
        h, pad = scheme
        csr = (
            x509.CertificateSigningRequestBuilder().subject_name(NAME).sign(key, h, rsa_padding=pad)  # type: ignore[arg-type]
        )
        assert csr.is_signature_valid
        assert csr.public_key() == key.public_key()


def test_ocsp_response_signed_by_backend_key_verifies(key: BackendPrivateKey) -> None:
    h, _ = builder_schemes(key)[0]
    pkcs1: Scheme = (h, padding.PKCS1v15())  # the OCSP builder signs RSA with PKCS#1 v1.5
    issuer = self_signed(key, builder_schemes(key)[0])
    response = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=issuer,
            issuer=issuer,
            algorithm=hashes.SHA256(),
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=NOW,
            next_update=NOW + dt.timedelta(hours=1),
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, issuer)
        .sign(key, h)
    )
    parsed = ocsp.load_der_ocsp_response(response.public_bytes(serialization.Encoding.DER))
    verify_with(key.public_key(), parsed.signature, parsed.tbs_response_bytes, pkcs1)


# --- persistence --------------------------------------------------------------------------------


def test_key_survives_backend_restart(
    backend_maker: BackendMaker, backend: KeyBackend, algorithm: KeyAlgorithm, label: str
) -> None:
    first = backend_maker.make()
    public = first.generate(label, algorithm).public_key()
    first.close()
    second = backend_maker.make()
    try:
        reloaded = second.load(label)
        assert reloaded.public_key() == public
        assert second.public_key(label) == public
        sign_and_verify(reloaded, public, b"after a restart")
    finally:
        second.destroy(label)
        second.close()


_CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from hsm_adapters import PKCS11KeyBackend, SoftKeyBackend
    kind, *args, label = sys.argv[1:]
    if kind == "soft":
        backend = SoftKeyBackend(Path(args[0]), args[1])
    else:
        backend = PKCS11KeyBackend(Path(args[0]), args[1], args[2])
    key = backend.load(label)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(b"restart", ec.ECDSA(hashes.SHA256()))
    elif isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(b"restart", padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = key.sign(b"restart")
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    backend.close()
    print(json.dumps({"public": pem.decode(), "signature": signature.hex()}))
    """
)


def test_key_survives_process_restart(
    backend_maker: BackendMaker, backend: KeyBackend, label: str
) -> None:
    # One algorithm is enough here: the in-process restart test covers each of them, this one
    # proves that nothing but the store (files, token) carries a key to a new process.
    key = backend.generate(label, KeyAlgorithm.EC_P256)
    env = {**os.environ, **backend_maker.env}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *backend_maker.args, label],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    public = key.public_key()
    assert serialization.load_pem_public_key(result["public"].encode()) == public
    signature = bytes.fromhex(result["signature"])
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(signature, b"restart", ec.ECDSA(hashes.SHA256()))
    elif isinstance(public, rsa.RSAPublicKey):
        public.verify(signature, b"restart", padding.PKCS1v15(), hashes.SHA256())
    else:
        public.verify(signature, b"restart")
    backend.destroy(label)


# --- failures a caller must see -------------------------------------------------------------


def test_wrong_secret_refused_without_echoing_it(backend_maker: BackendMaker) -> None:
    wrong = "wrong-secret-0000"
    with pytest.raises(KeyAccessDenied) as caught:
        backend_maker.make(wrong)
    message = str(caught.value)
    assert wrong not in message
    assert backend_maker.secret not in message
    assert caught.value.code == "key_access_denied"


def test_destroyed_key_is_gone(backend: KeyBackend, label: str) -> None:
    loaded = backend.generate(label, KeyAlgorithm.EC_P256)
    backend.destroy(label)
    with pytest.raises(KeyNotFound):
        backend.load(label)
    with pytest.raises(KeyNotFound):
        backend.public_key(label)
    assert label not in {info.label for info in backend.list()}
    with pytest.raises(KeyNotFound):
        backend.destroy(label)
    # A key object loaded before the destruction does not keep signing.
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    with pytest.raises(KeyNotFound):
        loaded.sign(b"after destroy", ec.ECDSA(hashes.SHA256()))


def test_generate_on_taken_label_raises_key_exists(backend: KeyBackend, label: str) -> None:
    original = backend.generate(label, KeyAlgorithm.EC_P256).public_key()
    with pytest.raises(KeyExists):
        backend.generate(label, KeyAlgorithm.EC_P384)
    assert backend.public_key(label) == original
    backend.destroy(label)


def test_racing_generates_of_one_label_cannot_replace_a_key(
    backend: KeyBackend, label: str
) -> None:
    def attempt(_: int) -> BackendPublicKey | None:
        try:
            return backend.generate(label, KeyAlgorithm.EC_P256).public_key()
        except KeyExists:
            return None

    with ThreadPoolExecutor(max_workers=4) as pool:
        winners = [public for public in pool.map(attempt, range(4)) if public is not None]
    assert len(winners) == 1
    assert backend.public_key(label) == winners[0]
    backend.destroy(label)


@pytest.mark.parametrize(
    "bad_label",
    [
        "../escape",
        "a/b",
        "",
        ".hidden",
        "-flag",
        "x" * 129,
        "new\nline",
        "with space",
        "ключ",
        "a\x00b",
    ],
)
def test_label_that_could_escape_the_store_is_rejected(backend: KeyBackend, bad_label: str) -> None:
    for call in (
        lambda: backend.generate(bad_label, KeyAlgorithm.EC_P256),
        lambda: backend.load(bad_label),
        lambda: backend.destroy(bad_label),
        lambda: backend.public_key(bad_label),
    ):
        with pytest.raises(InvalidKeyLabel):
            call()


def test_list_shows_label_algorithm_backend(backend: KeyBackend, label: str) -> None:
    backend.generate(label, KeyAlgorithm.EC_P384)
    try:
        infos = {info.label: info for info in backend.list()}
        info = infos[label]
        assert info.algorithm is KeyAlgorithm.EC_P384
        assert info.backend == backend.name
        if info.created_at is not None:
            assert info.created_at.tzinfo is not None
    finally:
        backend.destroy(label)


def test_backend_key_refuses_to_export_itself(key: BackendPrivateKey) -> None:
    refusals = [
        lambda: key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        lambda: pickle.dumps(key),
    ]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        refusals += [
            key.private_numbers,
            lambda: key.exchange(ec.ECDH(), ec.generate_private_key(key.curve).public_key()),
        ]
    elif isinstance(key, rsa.RSAPrivateKey):
        refusals += [key.private_numbers, lambda: key.decrypt(b"\x00" * 256, padding.PKCS1v15())]
    else:
        refusals += [key.private_bytes_raw]
    for refuse in refusals:
        with pytest.raises(KeyOperationRefused) as caught:
            refuse()
        assert isinstance(caught.value, KeyBackendError)
        assert key.label in str(caught.value)  # type: ignore[union-attr]


def test_concurrent_signing_from_8_threads(key: BackendPrivateKey) -> None:
    public = key.public_key()

    def worker(thread: int) -> int:
        for i in range(50):
            message = f"thread {thread} signature {i}".encode()
            sign_one_and_verify(key, public, message)
        return 50

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sum(pool.map(worker, range(8))) == 400


def sign_one_and_verify(key: BackendPrivateKey, public: BackendPublicKey, data: bytes) -> None:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(key.sign(data, ec.ECDSA(hashes.SHA256())), data, ec.ECDSA(hashes.SHA256()))
    elif isinstance(key, rsa.RSAPrivateKey):
        assert isinstance(public, rsa.RSAPublicKey)
        pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
        public.verify(key.sign(data, pss, hashes.SHA256()), data, pss, hashes.SHA256())
    else:
        assert isinstance(public, ed25519.Ed25519PublicKey)
        public.verify(key.sign(data), data)


def test_health_check_passes_on_a_working_backend(backend: KeyBackend) -> None:
    backend.health_check()


def test_loaded_key_names_its_label_for_the_logs(
    key: BackendPrivateKey, backend: KeyBackend
) -> None:
    assert key.label.startswith("shared-")  # type: ignore[union-attr]
    assert key.backend_name == backend.name  # type: ignore[union-attr]
    assert key.label in repr(key)  # type: ignore[union-attr]
