"""Key custody: the ``KeyBackend`` port and its ``soft`` and ``pkcs11`` adapters.

Private keys never leave a backend; callers get ``cryptography`` private-key objects whose
``sign()`` runs in the backend, so cryptography's X.509, CRL, CSR and OCSP builders take them
directly (ARCHITECTURE.md, "Keys"). Build the configured backend with
:func:`make_key_backend`. python-pkcs11 is only imported when a PKCS#11 backend is built.
"""

from __future__ import annotations

from hsm_adapters._keys import (
    BackendECPrivateKey,
    BackendEd25519PrivateKey,
    BackendKey,
    BackendRSAPrivateKey,
)
from hsm_adapters.base import (
    LABEL_PATTERN,
    BackendPrivateKey,
    BackendPublicKey,
    KeyAlgorithm,
    KeyBackend,
    KeyInfo,
    check_label,
)
from hsm_adapters.errors import (
    InvalidKeyLabel,
    InvalidSigningInput,
    KeyAccessDenied,
    KeyBackendError,
    KeyBackendUnavailable,
    KeyExists,
    KeyNotFound,
    KeyOperationRefused,
    KeyStoreCorrupt,
    UnsupportedAlgorithm,
)
from hsm_adapters.factory import make_key_backend
from hsm_adapters.pkcs11 import PKCS11KeyBackend
from hsm_adapters.soft import SoftKeyBackend

__all__ = [
    "LABEL_PATTERN",
    "BackendECPrivateKey",
    "BackendEd25519PrivateKey",
    "BackendKey",
    "BackendPrivateKey",
    "BackendPublicKey",
    "BackendRSAPrivateKey",
    "InvalidKeyLabel",
    "InvalidSigningInput",
    "KeyAccessDenied",
    "KeyAlgorithm",
    "KeyBackend",
    "KeyBackendError",
    "KeyBackendUnavailable",
    "KeyExists",
    "KeyInfo",
    "KeyNotFound",
    "KeyOperationRefused",
    "KeyStoreCorrupt",
    "PKCS11KeyBackend",
    "SoftKeyBackend",
    "UnsupportedAlgorithm",
    "check_label",
    "make_key_backend",
]
