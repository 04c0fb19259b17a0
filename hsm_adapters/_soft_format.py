"""The on-disk format of the soft key store: ``<label>.key.json`` and ``keystore.json``.

A key file is JSON::

    {"format": "natid-soft-key/1", "label": ..., "algorithm": "ec-p256",
     "created_at": "2026-11-01T09:00:00+00:00",
     "kdf": {"name": "scrypt", "salt": <base64>, "n": 32768, "r": 8, "p": 1},
     "cipher": "aes-256-gcm", "nonce": <base64, 12 bytes>, "ciphertext": <base64>}

``ciphertext`` is AES-256-GCM (NIST SP 800-38D) of the PKCS#8 DER private key (RFC 5958) under
``scrypt(passphrase, salt, n, r, p)`` (RFC 7914), with associated data the canonical JSON of
``{"algorithm", "created_at", "format", "label"}`` (sorted keys, no spaces). ``keystore.json``
has the same ``kdf``/``cipher``/``nonce`` fields and ``check``: the encryption of a known value,
with the format name as associated data, so a wrong passphrase is recognised at once.

Files come from disk, so they are parsed as untrusted input: pydantic models (strict, no extra
fields), bounded scrypt parameters and sizes, and every failure a ``KeyStoreCorrupt``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.exceptions import UnsupportedAlgorithm as CryptographyUnsupported
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.clock import require_aware
from core.errors import InvalidInput
from hsm_adapters.base import KeyAlgorithm
from hsm_adapters.errors import KeyAccessDenied, KeyStoreCorrupt

__all__ = [
    "DEFAULT_SCRYPT_N",
    "KEYSTORE_FORMAT",
    "KEY_FILE_FORMAT",
    "MAX_SCRYPT_N",
    "MIN_SCRYPT_N",
    "PlainPrivateKey",
    "algorithm_of",
    "decrypt_key_file",
    "encrypt_key_file",
    "make_keystore",
    "read_header",
    "verify_keystore",
]

PlainPrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

KEY_FILE_FORMAT = "natid-soft-key/1"
KEYSTORE_FORMAT = "natid-soft-keystore/1"
DEFAULT_SCRYPT_N = 2**15
#: Bounds on scrypt parameters read from a file: a corrupt or hostile file must not make us
#: allocate gigabytes (scrypt uses 128 * n * r bytes, RFC 7914 §2).
MIN_SCRYPT_N, MAX_SCRYPT_N = 2**14, 2**20
_MAX_R, _MAX_P = 32, 16
_MAX_SCRYPT_MEMORY = 256 * 1024 * 1024
_MAX_FILE_BYTES = 64 * 1024
_CHECK_VALUE = b"natid soft key store: passphrase check"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class _KdfModel(_Model):
    name: str = Field(pattern="^scrypt$")
    salt: str
    n: int
    r: int
    p: int


class _KeyFileModel(_Model):
    format: str = Field(pattern=f"^{KEY_FILE_FORMAT}$")
    label: str = Field(max_length=256)
    algorithm: KeyAlgorithm = Field(strict=False)
    created_at: str = Field(max_length=64)
    kdf: _KdfModel
    cipher: str = Field(pattern="^aes-256-gcm$")
    nonce: str
    ciphertext: str


class _KeystoreModel(_Model):
    format: str = Field(pattern=f"^{KEYSTORE_FORMAT}$")
    kdf: _KdfModel
    cipher: str = Field(pattern="^aes-256-gcm$")
    nonce: str
    check: str


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: str, what: str, where: str) -> bytes:
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise KeyStoreCorrupt(f"{where}: {what} is not valid base64") from exc


@dataclass(frozen=True, slots=True)
class _Scrypt:
    salt: bytes
    n: int
    r: int
    p: int

    @classmethod
    def fresh(cls, n: int) -> _Scrypt:
        return cls(salt=secrets.token_bytes(16), n=n, r=8, p=1)

    @classmethod
    def parse(cls, model: _KdfModel, where: str) -> _Scrypt:
        params = cls(salt=_unb64(model.salt, "kdf.salt", where), n=model.n, r=model.r, p=model.p)
        if (
            not MIN_SCRYPT_N <= params.n <= MAX_SCRYPT_N
            or params.n & (params.n - 1)
            or not 1 <= params.r <= _MAX_R
            or not 1 <= params.p <= _MAX_P
            or 128 * params.n * params.r > _MAX_SCRYPT_MEMORY
            or not 8 <= len(params.salt) <= 64
        ):
            raise KeyStoreCorrupt(
                f"{where}: scrypt parameters out of range (n={params.n}, r={params.r}, "
                f"p={params.p}, salt {len(params.salt)} bytes)"
            )
        return params

    def as_json(self) -> dict[str, object]:
        return {"name": "scrypt", "salt": _b64(self.salt), "n": self.n, "r": self.r, "p": self.p}

    def derive(self, passphrase: bytes) -> AESGCM:
        kdf = Scrypt(salt=self.salt, length=32, n=self.n, r=self.r, p=self.p)
        return AESGCM(kdf.derive(passphrase))


def _key_aad(label: str, algorithm: KeyAlgorithm, created_at: str) -> bytes:
    header = {
        "algorithm": algorithm.value,
        "created_at": created_at,
        "format": KEY_FILE_FORMAT,
        "label": label,
    }
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _dump(document: dict[str, object]) -> bytes:
    return json.dumps(document, indent=2).encode("utf-8") + b"\n"


def algorithm_of(key: object) -> KeyAlgorithm | None:
    """The NatID algorithm name of a cryptography private key, or ``None``."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {"secp256r1": KeyAlgorithm.EC_P256, "secp384r1": KeyAlgorithm.EC_P384}.get(
            key.curve.name
        )
    if isinstance(key, rsa.RSAPrivateKey):
        return {
            2048: KeyAlgorithm.RSA_2048,
            3072: KeyAlgorithm.RSA_3072,
            4096: KeyAlgorithm.RSA_4096,
        }.get(key.key_size)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return KeyAlgorithm.ED25519
    return None


def encrypt_key_file(
    key: PlainPrivateKey,
    *,
    label: str,
    algorithm: KeyAlgorithm,
    created_at: dt.datetime,
    passphrase: bytes,
    scrypt_n: int,
) -> bytes:
    """The bytes of a new key file; the private key exists unencrypted only in memory."""
    created = require_aware(created_at, "created_at").isoformat()
    params = _Scrypt.fresh(scrypt_n)
    nonce = secrets.token_bytes(12)
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    ciphertext = params.derive(passphrase).encrypt(nonce, der, _key_aad(label, algorithm, created))
    return _dump(
        {
            "format": KEY_FILE_FORMAT,
            "label": label,
            "algorithm": algorithm.value,
            "created_at": created,
            "kdf": params.as_json(),
            "cipher": "aes-256-gcm",
            "nonce": _b64(nonce),
            "ciphertext": _b64(ciphertext),
        }
    )


def _parse_key_file(raw: bytes, where: str) -> tuple[_KeyFileModel, dt.datetime]:
    if len(raw) > _MAX_FILE_BYTES:
        raise KeyStoreCorrupt(f"{where}: {len(raw)} bytes is too large for a key file")
    try:
        model = _KeyFileModel.model_validate_json(raw)
        created = require_aware(dt.datetime.fromisoformat(model.created_at))
    except (ValidationError, ValueError, RecursionError, InvalidInput) as exc:
        raise KeyStoreCorrupt(f"{where} is not a NatID soft key file") from exc
    return model, created


def read_header(raw: bytes, where: str) -> tuple[str, KeyAlgorithm, dt.datetime]:
    """Label, algorithm and creation time of a key file, without decrypting it (for listing)."""
    model, created = _parse_key_file(raw, where)
    return model.label, model.algorithm, created


def decrypt_key_file(raw: bytes, *, label: str, where: str, passphrase: bytes) -> PlainPrivateKey:
    """Parse, authenticate and decrypt a key file; every failure is a ``KeyStoreCorrupt``."""
    model, _created = _parse_key_file(raw, where)
    if model.label != label:
        raise KeyStoreCorrupt(
            f"{where} holds the key labelled {model.label[:130]!r}, not {label!r}: "
            "key files cannot be renamed"
        )
    aead = _Scrypt.parse(model.kdf, where).derive(passphrase)
    nonce = _unb64(model.nonce, "nonce", where)
    if len(nonce) != 12:
        raise KeyStoreCorrupt(f"{where}: the AES-GCM nonce must be 12 bytes, got {len(nonce)}")
    try:
        der = aead.decrypt(
            nonce,
            _unb64(model.ciphertext, "ciphertext", where),
            _key_aad(model.label, model.algorithm, model.created_at),
        )
    except InvalidTag as exc:
        raise KeyStoreCorrupt(
            f"{where} failed its integrity check: the file was modified, renamed, or "
            "encrypted under another store's passphrase"
        ) from exc
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, CryptographyUnsupported) as exc:
        raise KeyStoreCorrupt(f"{where}: the decrypted key is not a PKCS#8 private key") from exc
    if algorithm_of(key) is not model.algorithm:
        raise KeyStoreCorrupt(f"{where}: the key inside is not {model.algorithm.value}")
    assert isinstance(
        key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    )
    return key


def make_keystore(passphrase: bytes, scrypt_n: int) -> bytes:
    """The bytes of a new ``keystore.json`` for ``passphrase``."""
    params = _Scrypt.fresh(scrypt_n)
    nonce = secrets.token_bytes(12)
    check = params.derive(passphrase).encrypt(nonce, _CHECK_VALUE, KEYSTORE_FORMAT.encode())
    return _dump(
        {
            "format": KEYSTORE_FORMAT,
            "kdf": params.as_json(),
            "cipher": "aes-256-gcm",
            "nonce": _b64(nonce),
            "check": _b64(check),
        }
    )


def verify_keystore(raw: bytes, *, passphrase: bytes, where: str, directory: str) -> None:
    """Raise ``KeyAccessDenied`` unless ``passphrase`` opens this ``keystore.json``."""
    if len(raw) > _MAX_FILE_BYTES:
        raise KeyStoreCorrupt(f"{where}: {len(raw)} bytes is too large for a key store file")
    try:
        model = _KeystoreModel.model_validate_json(raw)
    except (ValidationError, ValueError, RecursionError) as exc:
        raise KeyStoreCorrupt(f"{where} is not a NatID soft key store file") from exc
    aead = _Scrypt.parse(model.kdf, where).derive(passphrase)
    nonce = _unb64(model.nonce, "nonce", where)
    if len(nonce) != 12:
        raise KeyStoreCorrupt(f"{where}: the AES-GCM nonce must be 12 bytes, got {len(nonce)}")
    try:
        value = aead.decrypt(nonce, _unb64(model.check, "check", where), KEYSTORE_FORMAT.encode())
    except InvalidTag as exc:
        raise KeyAccessDenied(
            f"wrong passphrase for the soft key store at {directory} "
            "(check NATID_SOFT_KEY_PASSPHRASE)"
        ) from exc
    if value != _CHECK_VALUE:
        raise KeyStoreCorrupt(f"{where}: the passphrase check holds an unexpected value")
