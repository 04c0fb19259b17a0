"""The ``KeyBackend`` port: key custody for every private key NatID uses.

Private keys of CAs, the IdP, the TSA, OCSP responders, e-seals, health signers and the audit
ledger never leave a backend (ARCHITECTURE.md, "Keys"). A backend hands keys out as
``cryptography`` private-key objects (subclasses of ``ec.EllipticCurvePrivateKey``,
``rsa.RSAPrivateKey`` or ``ed25519.Ed25519PrivateKey``) whose ``sign()`` runs inside the
backend, so cryptography's certificate, CRL, CSR and OCSP builders take them directly.
Such keys refuse ``private_bytes()`` and ``private_numbers()``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

__all__ = ["BackendPrivateKey", "BackendPublicKey", "KeyAlgorithm", "KeyBackend", "KeyInfo"]

BackendPrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
BackendPublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


class KeyAlgorithm(StrEnum):
    """Key types a backend may generate (names as used in settings, files and the CLI)."""

    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"
    ED25519 = "ed25519"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What may be shown about a key: never the key itself."""

    label: str
    algorithm: KeyAlgorithm
    backend: str
    created_at: dt.datetime | None


@runtime_checkable
class KeyBackend(Protocol):
    """Custody of private keys, addressed by label."""

    #: ``soft`` or ``pkcs11``; shown by ``natid keys list``.
    name: str

    def supported_algorithms(self) -> frozenset[KeyAlgorithm]: ...

    def generate(self, label: str, algorithm: KeyAlgorithm) -> BackendPrivateKey:
        """Create a key pair under ``label``; raises ``KeyExists`` if the label is taken."""
        ...

    def load(self, label: str) -> BackendPrivateKey:
        """The key under ``label``; raises ``KeyNotFound``."""
        ...

    def public_key(self, label: str) -> BackendPublicKey: ...

    def list(self) -> list[KeyInfo]: ...

    def destroy(self, label: str) -> None:
        """Delete the key for good; raises ``KeyNotFound``."""
        ...

    def health_check(self) -> None:
        """Raise ``KeyBackendUnavailable`` (or ``KeyAccessDenied``) unless the backend works."""
        ...

    def close(self) -> None: ...
