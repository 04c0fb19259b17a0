"""Build the configured key backend from the settings (ARCHITECTURE.md, "Keys").

``NATID_KEY_BACKEND=soft`` (the development default) or ``pkcs11``. In production mode the
settings already refuse the soft backend unless ``NATID_ALLOW_SOFT_KEYS_IN_PRODUCTION`` is set;
when it is, this factory still logs a warning each time it builds one, so the choice stays
visible in the logs.
"""

from __future__ import annotations

import logging

from core.settings import KeyBackendKind, Settings
from hsm_adapters.base import KeyBackend
from hsm_adapters.errors import KeyBackendUnavailable

__all__ = ["make_key_backend"]

log = logging.getLogger(__name__)


def make_key_backend(settings: Settings) -> KeyBackend:
    """The key backend ``settings`` ask for, opened and logged in.

    Raises ``KeyAccessDenied`` (wrong passphrase or PIN) or ``KeyBackendUnavailable``.
    """
    if settings.key_backend is KeyBackendKind.PKCS11:
        # Imported here so that the soft path never loads python-pkcs11 or a PKCS#11 library.
        from hsm_adapters.pkcs11 import PKCS11KeyBackend

        if (
            settings.pkcs11_module is None
            or settings.pkcs11_token_label is None
            or settings.pkcs11_pin is None
        ):  # pragma: no cover - Settings validates this already
            raise KeyBackendUnavailable(
                "the pkcs11 key backend needs NATID_PKCS11_MODULE, NATID_PKCS11_TOKEN_LABEL "
                "and NATID_PKCS11_PIN"
            )
        return PKCS11KeyBackend(
            settings.pkcs11_module,
            settings.pkcs11_token_label,
            settings.pkcs11_pin,
            pool_size=settings.pkcs11_pool_size,
        )

    from hsm_adapters.soft import SoftKeyBackend

    if settings.production:
        log.warning(
            "production mode is running on the soft key backend (keys in files under %s); "
            "use NATID_KEY_BACKEND=pkcs11 with an HSM",
            settings.resolved_soft_key_dir,
        )
    return SoftKeyBackend(settings.resolved_soft_key_dir, settings.soft_key_passphrase)
