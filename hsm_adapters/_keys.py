"""Private-key objects whose ``sign()`` runs inside a key backend.

cryptography's X.509 certificate, CRL, CSR and OCSP builders sign with whatever object they are
given, as long as it is a subclass of ``ec.EllipticCurvePrivateKey`` (called as
``sign(data, ec.ECDSA(hash))``), ``rsa.RSAPrivateKey`` (``sign(data, padding, hash)``) or
``ed25519.Ed25519PrivateKey`` (``sign(data)``). The classes here are those subclasses: they hash
the data in Python (or accept a ``Prehashed`` digest), resolve the padding to concrete
parameters, and hand the digest to the backend through a small signer callable. So every
backend only implements "sign this digest", and the hashing, padding and encoding rules live in
one place:

* ECDSA (FIPS 186-5 §6.4) signatures leave as DER ``Ecdsa-Sig-Value`` (RFC 3279 §2.2.3), which
  is what the builders and ``public_key.verify()`` expect.
* RSASSA-PSS (RFC 8017 §8.1) salt lengths ``DIGEST_LENGTH`` / ``MAX_LENGTH`` / ``AUTO`` are
  resolved to a number here (``AUTO`` signs with the maximum, as OpenSSL does).
* RSASSA-PKCS1-v1_5 (RFC 8017 §8.2) and ``NoDigestInfo`` raw signing are both supported.

Hashing is on every JWS and certificate signature, so the parameterless SHA-2 and SHA-3 classes
are hashed with :mod:`hashlib` (OpenSSL underneath, the same digest) instead of through a
``hashes.Hash`` context; every other algorithm, subclasses included, takes the general path.

The objects refuse every way out of the backend - ``private_bytes()``, ``private_numbers()``,
``private_bytes_raw()``, ``exchange()``, ``decrypt()``, pickling - with
:class:`~hsm_adapters.errors.KeyOperationRefused`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from cryptography.hazmat.primitives import _serialization, hashes
from cryptography.hazmat.primitives._asymmetric import AsymmetricPadding
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.utils import Buffer

from hsm_adapters.errors import InvalidSigningInput, KeyOperationRefused, UnsupportedAlgorithm

__all__ = [
    "BackendECPrivateKey",
    "BackendEd25519PrivateKey",
    "BackendKey",
    "BackendRSAPrivateKey",
    "EcdsaSigner",
    "EddsaSigner",
    "Pkcs1v15",
    "Pss",
    "RsaScheme",
    "RsaSigner",
]


@dataclass(frozen=True, slots=True)
class Pkcs1v15:
    """RSASSA-PKCS1-v1_5 (RFC 8017 §8.2)."""


@dataclass(frozen=True, slots=True)
class Pss:
    """RSASSA-PSS (RFC 8017 §8.1) with MGF1 and a resolved salt length in bytes."""

    mgf_algorithm: hashes.HashAlgorithm
    salt_length: int


RsaScheme = Pkcs1v15 | Pss


class EcdsaSigner(Protocol):
    """Sign ``digest`` (made with ``algorithm``) with ECDSA; return a DER signature."""

    def __call__(
        self, digest: bytes, algorithm: hashes.HashAlgorithm, *, deterministic: bool
    ) -> bytes: ...


class RsaSigner(Protocol):
    """Sign ``digest`` with RSA. ``algorithm`` is ``None`` for ``NoDigestInfo`` (PKCS#1 v1.5
    over the bytes as given)."""

    def __call__(
        self, digest: bytes, algorithm: hashes.HashAlgorithm | None, scheme: RsaScheme
    ) -> bytes: ...


class EddsaSigner(Protocol):
    """Sign ``data`` with pure Ed25519 (RFC 8032 §5.1.6); it hashes internally."""

    def __call__(self, data: bytes) -> bytes: ...


#: Hash classes without parameters, by exact type, to the same function computed by hashlib
#: (OpenSSL's implementation too). A ``hashes.Hash`` context costs three calls into
#: cryptography per signature; one hashlib call gives the same digest for a third of the CPU.
#: Exact types only: a subclass (or BLAKE2, whose size is a parameter) takes the general path.
_HASHLIB: dict[type, Callable[[bytes], Any]] = {
    hashes.SHA224: hashlib.sha224,
    hashes.SHA256: hashlib.sha256,
    hashes.SHA384: hashlib.sha384,
    hashes.SHA512: hashlib.sha512,
    hashes.SHA3_224: hashlib.sha3_224,
    hashes.SHA3_256: hashlib.sha3_256,
    hashes.SHA3_384: hashlib.sha3_384,
    hashes.SHA3_512: hashlib.sha3_512,
}


def _digest(data: Buffer, algorithm: object) -> tuple[bytes, hashes.HashAlgorithm]:
    """Hash ``data`` with ``algorithm``, or check it is already a digest (``Prehashed``)."""
    raw = data if type(data) is bytes else bytes(data)
    hashlib_new = _HASHLIB.get(type(algorithm))
    if hashlib_new is not None:
        return hashlib_new(raw).digest(), algorithm  # type: ignore[return-value]
    if isinstance(algorithm, utils.Prehashed):
        inner: hashes.HashAlgorithm = algorithm._algorithm
        if len(raw) != algorithm.digest_size:
            raise InvalidSigningInput(
                f"a pre-hashed {inner.name} digest must be {algorithm.digest_size} bytes, "
                f"got {len(raw)}"
            )
        return raw, inner
    if isinstance(algorithm, hashes.HashAlgorithm):
        if isinstance(algorithm, hashes.ExtendableOutputFunction):
            raise UnsupportedAlgorithm(f"cannot sign with the XOF {algorithm.name}")
        h = hashes.Hash(algorithm)
        h.update(raw)
        return h.finalize(), algorithm
    raise UnsupportedAlgorithm(
        f"expected a hash algorithm or Prehashed, got {type(algorithm).__name__}"
    )


def _resolve_pss(pad: padding.PSS, algorithm: hashes.HashAlgorithm, key_bits: int) -> Pss:
    """Turn cryptography's PSS padding into the numbers a PKCS#11 mechanism needs."""
    mgf = pad.mgf
    if not isinstance(mgf, padding.MGF1):
        raise UnsupportedAlgorithm(f"PSS needs MGF1, got {type(mgf).__name__}")
    # RFC 8017 §9.1.1: emLen = ceil((modBits - 1) / 8); the salt fits if emLen >= hLen + sLen + 2.
    em_len = math.ceil((key_bits - 1) / 8)
    max_salt = em_len - algorithm.digest_size - 2
    requested = pad._salt_length
    if requested is padding.PSS.MAX_LENGTH or requested is padding.PSS.AUTO:
        salt = max_salt
    elif requested is padding.PSS.DIGEST_LENGTH:
        salt = algorithm.digest_size
    elif isinstance(requested, int):
        salt = requested
    else:  # pragma: no cover - cryptography's PSS() admits nothing else
        raise UnsupportedAlgorithm(f"unknown PSS salt length {requested!r}")
    if salt < 0 or salt > max_salt:
        raise InvalidSigningInput(
            f"a PSS salt of {salt} bytes does not fit a {key_bits}-bit key with "
            f"{algorithm.name} (at most {max_salt})"
        )
    return Pss(mgf_algorithm=mgf._algorithm, salt_length=salt)


class BackendKey:
    """What every backend key has: a label, a backend name, and no way out of the backend."""

    __slots__ = ("_backend_name", "_label")

    def __init__(self, *, label: str, backend_name: str) -> None:
        self._label = label
        self._backend_name = backend_name

    @property
    def label(self) -> str:
        """The key's label in its backend (for logs: which key signed)."""
        return self._label

    @property
    def backend_name(self) -> str:
        return self._backend_name

    def _refuse(self, what: str) -> NoReturn:
        raise KeyOperationRefused(
            f"{what} refused: key {self._label!r} is held by the {self._backend_name} key "
            "backend and only signs"
        )

    def private_bytes(
        self,
        encoding: _serialization.Encoding,
        format: _serialization.PrivateFormat,  # noqa: A002 - cryptography's parameter name
        encryption_algorithm: _serialization.KeySerializationEncryption,
    ) -> NoReturn:
        self._refuse("private_bytes()")

    def private_numbers(self) -> NoReturn:
        self._refuse("private_numbers()")

    def __reduce__(self) -> NoReturn:
        self._refuse("pickling")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} label={self._label!r} backend={self._backend_name!r}>"


class BackendECPrivateKey(BackendKey, ec.EllipticCurvePrivateKey):
    """An ECDSA key in a backend. ``sign()`` accepts ``ec.ECDSA(hash)`` and
    ``ec.ECDSA(utils.Prehashed(hash))``."""

    __slots__ = ("_public", "_signer")

    def __init__(
        self,
        *,
        label: str,
        backend_name: str,
        public_key: ec.EllipticCurvePublicKey,
        signer: EcdsaSigner,
    ) -> None:
        super().__init__(label=label, backend_name=backend_name)
        self._public = public_key
        self._signer = signer

    def sign(self, data: Buffer, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise UnsupportedAlgorithm(
                f"EC keys sign with ECDSA, got {type(signature_algorithm).__name__}"
            )
        digest, algorithm = _digest(data, signature_algorithm.algorithm)
        return self._signer(
            digest, algorithm, deterministic=signature_algorithm.deterministic_signing
        )

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> NoReturn:
        self._refuse("ECDH exchange()")

    def __copy__(self) -> BackendECPrivateKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> BackendECPrivateKey:
        return self


class BackendRSAPrivateKey(BackendKey, rsa.RSAPrivateKey):
    """An RSA key in a backend. ``sign()`` accepts PSS (MGF1) and PKCS1v15 paddings, a hash,
    ``Prehashed`` or (PKCS1v15 only) ``NoDigestInfo``."""

    __slots__ = ("_public", "_signer")

    def __init__(
        self,
        *,
        label: str,
        backend_name: str,
        public_key: rsa.RSAPublicKey,
        signer: RsaSigner,
    ) -> None:
        super().__init__(label=label, backend_name=backend_name)
        self._public = public_key
        self._signer = signer

    def sign(
        self,
        data: Buffer,
        padding: AsymmetricPadding,
        algorithm: utils.Prehashed | hashes.HashAlgorithm | utils.NoDigestInfo,
    ) -> bytes:
        pad = padding
        if isinstance(algorithm, utils.NoDigestInfo):
            if not isinstance(pad, _padding.PKCS1v15):
                raise UnsupportedAlgorithm("NoDigestInfo signing needs PKCS1v15 padding")
            return self._signer(bytes(data), None, Pkcs1v15())
        digest, hash_algorithm = _digest(data, algorithm)
        scheme: RsaScheme
        if isinstance(pad, _padding.PSS):
            scheme = _resolve_pss(pad, hash_algorithm, self.key_size)
        elif isinstance(pad, _padding.PKCS1v15):
            scheme = Pkcs1v15()
        else:
            raise UnsupportedAlgorithm(
                f"RSA keys sign with PSS or PKCS1v15, got {type(pad).__name__}"
            )
        return self._signer(digest, hash_algorithm, scheme)

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def decrypt(self, ciphertext: bytes, padding: AsymmetricPadding) -> NoReturn:
        self._refuse("RSA decrypt()")

    def __copy__(self) -> BackendRSAPrivateKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> BackendRSAPrivateKey:
        return self


# ``padding`` is a parameter name of RSAPrivateKey.sign() (cryptography's own spelling), so the
# module is reached under another name inside that method.
_padding = padding


class BackendEd25519PrivateKey(BackendKey, ed25519.Ed25519PrivateKey):
    """An Ed25519 key in a backend (pure EdDSA, RFC 8032 §5.1)."""

    __slots__ = ("_public", "_signer")

    def __init__(
        self,
        *,
        label: str,
        backend_name: str,
        public_key: ed25519.Ed25519PublicKey,
        signer: EddsaSigner,
    ) -> None:
        super().__init__(label=label, backend_name=backend_name)
        self._public = public_key
        self._signer = signer

    def sign(self, data: Buffer) -> bytes:
        return self._signer(bytes(data))

    def public_key(self) -> ed25519.Ed25519PublicKey:
        return self._public

    def private_bytes_raw(self) -> NoReturn:
        self._refuse("private_bytes_raw()")

    def __copy__(self) -> BackendEd25519PrivateKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> BackendEd25519PrivateKey:
        return self
