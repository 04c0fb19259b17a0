"""The signing fast paths agree with the general ones: ``_digest`` by hashlib for the SHA-2/SHA-3
classes gives cryptography's digest, and the soft backend's shared ECDSA scheme objects, inlined
guard and ``os.stat`` validity check sign, refuse and translate errors as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from hsm_adapters import KeyAlgorithm, KeyNotFound, SoftKeyBackend
from hsm_adapters import soft as soft_module
from hsm_adapters._keys import _HASHLIB, BackendECPrivateKey, _digest
from hsm_adapters.errors import InvalidSigningInput, KeyBackendUnavailable, UnsupportedAlgorithm

_FAST = [
    hashes.SHA224,
    hashes.SHA256,
    hashes.SHA384,
    hashes.SHA512,
    hashes.SHA3_224,
    hashes.SHA3_256,
    hashes.SHA3_384,
    hashes.SHA3_512,
]


def _reference(data: bytes, algorithm: hashes.HashAlgorithm) -> bytes:
    h = hashes.Hash(algorithm)
    h.update(data)
    return h.finalize()


@pytest.mark.parametrize("kind", _FAST, ids=lambda k: k.name)
@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 1000])
def test_hashlib_digest_equals_cryptography(kind: type[hashes.HashAlgorithm], size: int) -> None:
    data = bytes(range(256)) * 4
    data = data[:size]
    algorithm = kind()
    for given in (data, bytearray(data), memoryview(data)):
        digest, used = _digest(given, algorithm)
        assert type(digest) is bytes
        assert digest == _reference(data, algorithm)
        assert used is algorithm


def test_fast_path_covers_exactly_the_parameterless_classes() -> None:
    assert set(_HASHLIB) == set(_FAST)
    # BLAKE2 (a size parameter) and subclasses take the general path, with the same result.
    blake = hashes.BLAKE2b(64)
    assert _digest(b"abc", blake) == (_reference(b"abc", blake), blake)

    class MySHA256(hashes.SHA256):
        pass

    sub = MySHA256()
    assert _digest(b"abc", sub) == (_reference(b"abc", hashes.SHA256()), sub)


def test_digest_errors_unchanged() -> None:
    with pytest.raises(UnsupportedAlgorithm, match="XOF"):
        _digest(b"abc", hashes.SHAKE128(16))
    with pytest.raises(UnsupportedAlgorithm, match="expected a hash algorithm or Prehashed"):
        _digest(b"abc", "sha256")
    with pytest.raises(InvalidSigningInput, match="must be 32 bytes, got 3"):
        _digest(b"abc", utils.Prehashed(hashes.SHA256()))
    with pytest.raises(TypeError):
        _digest("text", hashes.SHA256())  # type: ignore[arg-type]
    pre = bytes(32)
    assert _digest(bytearray(pre), utils.Prehashed(hashes.SHA256())) == (pre, hashes.SHA256())


@pytest.fixture
def ec_key(tmp_path: Path) -> tuple[SoftKeyBackend, BackendECPrivateKey]:
    backend = SoftKeyBackend(tmp_path / "keys", "pass phrase", scrypt_n=2**14)
    key = backend.generate("fast-ec", KeyAlgorithm.EC_P256)
    assert isinstance(key, BackendECPrivateKey)
    return backend, key


@pytest.mark.parametrize("kind", [hashes.SHA256, hashes.SHA384, hashes.SHA512, hashes.SHA3_256])
def test_soft_ecdsa_signatures_verify(
    ec_key: tuple[SoftKeyBackend, BackendECPrivateKey], kind: type[hashes.HashAlgorithm]
) -> None:
    _, key = ec_key
    public = key.public_key()
    for _ in range(3):  # the shared scheme object is reused across signatures
        signature = key.sign(b"payload", ec.ECDSA(kind()))
        public.verify(signature, b"payload", ec.ECDSA(kind()))
        with pytest.raises(InvalidSignature):
            public.verify(signature, b"payload!", ec.ECDSA(kind()))
    digest = _reference(b"payload", kind())
    signature = key.sign(digest, ec.ECDSA(utils.Prehashed(kind())))
    public.verify(signature, b"payload", ec.ECDSA(kind()))


def test_soft_ecdsa_deterministic_and_randomised_schemes_are_kept_apart(
    ec_key: tuple[SoftKeyBackend, BackendECPrivateKey],
) -> None:
    _, key = ec_key
    randomised = {key.sign(b"m", ec.ECDSA(hashes.SHA256())) for _ in range(4)}
    assert len(randomised) == 4
    try:
        deterministic = {
            key.sign(b"m", ec.ECDSA(hashes.SHA256(), deterministic_signing=True)) for _ in range(4)
        }
    except Exception as exc:  # pragma: no cover - an OpenSSL without RFC 6979
        pytest.skip(f"no deterministic ECDSA here: {exc}")
    assert len(deterministic) == 1
    key.public_key().verify(deterministic.pop(), b"m", ec.ECDSA(hashes.SHA256()))
    # Randomised again after a deterministic one: the cache is keyed by the flag as well.
    assert len({key.sign(b"m", ec.ECDSA(hashes.SHA256())) for _ in range(3)}) == 3


def test_prehashed_scheme_objects() -> None:
    a = soft_module._prehashed_ecdsa(hashes.SHA256(), False)
    assert a is soft_module._prehashed_ecdsa(hashes.SHA256(), False)
    assert isinstance(a.algorithm, utils.Prehashed) and a.algorithm.digest_size == 32
    assert not a.deterministic_signing
    b = soft_module._prehashed_ecdsa(hashes.SHA384(), False)
    assert b is not a and b.algorithm.digest_size == 48
    blake = soft_module._prehashed_ecdsa(hashes.BLAKE2b(64), False)
    assert blake is not soft_module._prehashed_ecdsa(hashes.BLAKE2b(64), False)


def test_soft_signer_errors_unchanged(ec_key: tuple[SoftKeyBackend, BackendECPrivateKey]) -> None:
    backend, key = ec_key
    # A digest of the wrong length reaching the signer: cryptography's ValueError, translated.
    with pytest.raises(UnsupportedAlgorithm, match=r"^ECDSA with sha256: ") as caught:
        key._signer(b"short", hashes.SHA256(), deterministic=False)
    assert isinstance(caught.value.__cause__, ValueError)
    # A destroyed key stops signing; a closed backend too.
    backend.destroy("fast-ec")
    with pytest.raises(KeyNotFound, match="destroyed or replaced"):
        key.sign(b"m", ec.ECDSA(hashes.SHA256()))
    backend.close()
    with pytest.raises(KeyBackendUnavailable, match="closed"):
        key.sign(b"m", ec.ECDSA(hashes.SHA256()))


def test_replaced_key_file_stops_signing(tmp_path: Path) -> None:
    backend = SoftKeyBackend(tmp_path / "keys", "pass phrase", scrypt_n=2**14)
    key = backend.generate("fast-ec", KeyAlgorithm.EC_P256)
    assert isinstance(key, BackendECPrivateKey)
    path = tmp_path / "keys" / "fast-ec.key.json"
    raw = path.read_bytes()
    path.unlink()
    path.write_bytes(raw)  # same content, another inode
    with pytest.raises(KeyNotFound, match="destroyed or replaced"):
        key.sign(b"m", ec.ECDSA(hashes.SHA256()))
    again = backend.load("fast-ec")
    assert isinstance(again, BackendECPrivateKey)
    assert again.sign(b"m", ec.ECDSA(hashes.SHA256()))
