"""Errors of key custody. Messages never carry key material, PINs or passphrases.

Every error here derives from :class:`KeyBackendError` and one of the three fault kinds of
``core/errors.py``: the caller's fault (a bad label, an unsupported algorithm, a key that does
not exist), or our infrastructure's (a wrong PIN or passphrase in the configuration, an HSM that
cannot be reached, a key store that was tampered with).
"""

from __future__ import annotations

from core.errors import (
    Conflict,
    InfrastructureError,
    InvalidInput,
    NatIDError,
    NotFound,
    PermissionDenied,
)

__all__ = [
    "InvalidKeyLabel",
    "InvalidSigningInput",
    "KeyAccessDenied",
    "KeyBackendError",
    "KeyBackendUnavailable",
    "KeyExists",
    "KeyNotFound",
    "KeyOperationRefused",
    "KeyStoreCorrupt",
    "UnsupportedAlgorithm",
]


class KeyBackendError(NatIDError):
    """Base of every key-backend error."""

    code = "key_backend_error"


class KeyNotFound(KeyBackendError, NotFound):
    code = "key_not_found"


class KeyExists(KeyBackendError, Conflict):
    code = "key_exists"


class UnsupportedAlgorithm(KeyBackendError, InvalidInput):
    """The backend cannot generate this key type or sign with this algorithm or padding."""

    code = "unsupported_algorithm"


class InvalidKeyLabel(KeyBackendError, InvalidInput):
    """A label that is not a plain name (it could escape the key store or confuse a token)."""

    code = "invalid_key_label"


class InvalidSigningInput(KeyBackendError, InvalidInput):
    """The data handed to ``sign()`` does not fit the request (a pre-hashed digest of the wrong
    length, a PSS salt longer than the key allows)."""

    code = "invalid_signing_input"


class KeyOperationRefused(KeyBackendError, PermissionDenied):
    """A backend key was asked to export itself, or to do something other than sign."""

    code = "key_operation_refused"


class KeyAccessDenied(KeyBackendError, InfrastructureError):
    """Wrong PIN or passphrase, or a locked token: the backend refuses to open."""

    code = "key_access_denied"


class KeyBackendUnavailable(KeyBackendError, InfrastructureError):
    """The backend (HSM, module, key store) cannot be reached or failed."""

    code = "key_backend_unavailable"


class KeyStoreCorrupt(KeyBackendError, InfrastructureError):
    """A stored key failed its integrity check: truncated, tampered with, or renamed."""

    code = "key_store_corrupt"
