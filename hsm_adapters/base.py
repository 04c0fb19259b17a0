"""The ``KeyBackend`` port: key custody for every private key NatID uses.

Private keys of CAs, the IdP, the TSA, OCSP responders, e-seals, health signers and the audit
ledger never leave a backend (ARCHITECTURE.md, "Keys"). A backend hands keys out as
``cryptography`` private-key objects (subclasses of ``ec.EllipticCurvePrivateKey``,
``rsa.RSAPrivateKey`` or ``ed25519.Ed25519PrivateKey``) whose ``sign()`` runs inside the
backend, so cryptography's certificate, CRL, CSR and OCSP builders take them directly.
Such keys refuse ``private_bytes()`` and ``private_numbers()``.

Labels are plain names (:data:`LABEL_PATTERN`): the soft backend makes them file names and a
PKCS#11 token stores them in ``CKA_LABEL`` (PKCS#11 v2.40 §4.4), so one rule keeps both safe.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from hsm_adapters.errors import InvalidKeyLabel

__all__ = [
    "LABEL_PATTERN",
    "BackendPrivateKey",
    "BackendPublicKey",
    "KeyAlgorithm",
    "KeyBackend",
    "KeyInfo",
    "check_label",
]

#: What a key label may look like: a letter or digit, then up to 127 letters, digits, ``.``,
#: ``_`` or ``-``. No path separators, no leading dot, nothing a shell or a token would mangle.
LABEL_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

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


def check_label(label: str) -> str:
    """Return ``label`` if it matches :data:`LABEL_PATTERN`; raise ``InvalidKeyLabel`` if not."""
    if not isinstance(label, str) or LABEL_PATTERN.fullmatch(label) is None:
        shown = repr(label)[:60] if isinstance(label, str) else type(label).__name__
        raise InvalidKeyLabel(
            f"invalid key label {shown}: expected 1-128 characters of A-Z a-z 0-9 . _ -, "
            "starting with a letter or digit"
        )
    return label


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
