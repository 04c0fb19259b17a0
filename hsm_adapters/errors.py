"""Errors of key custody. Messages never carry key material, PINs or passphrases."""

from __future__ import annotations

from core.errors import Conflict, InfrastructureError, InvalidInput, NatIDError, NotFound

__all__ = [
    "KeyAccessDenied",
    "KeyBackendError",
    "KeyBackendUnavailable",
    "KeyExists",
    "KeyNotFound",
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
    code = "unsupported_algorithm"


class KeyAccessDenied(KeyBackendError, InfrastructureError):
    """Wrong PIN or passphrase, or a locked token: the backend refuses to open."""

    code = "key_access_denied"


class KeyBackendUnavailable(KeyBackendError, InfrastructureError):
    """The backend (HSM, module, key store) cannot be reached or failed."""

    code = "key_backend_unavailable"
