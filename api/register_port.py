"""Choosing the register's read port from the settings (``NATID_REGISTER``).

The CA, the IdP and KYC read persons through :class:`registry.ports.PopulationRegister`.
``embedded`` (the default) is NatID's own tables (:class:`registry.EmbeddedRegister`);
``xroad`` is a national civil register reached through an X-Road security server
(:class:`registry.xroad.XRoadRegister`), configured by the ``NATID_XROAD_*`` settings.

The write side (``natid registry add/import``, the RA's proofing records) always stays on the
embedded register: the external register is another organisation's system, which NatID reads
but does not write.
"""

from __future__ import annotations

import ssl

from core.clock import Clock
from core.settings import Settings, SettingsError
from registry.ports import PopulationRegister
from registry.service import EmbeddedRegister
from registry.xroad import XRoadConfig, XRoadRegister

__all__ = ["REGISTER_KINDS", "build_register_port", "xroad_config"]

REGISTER_KINDS = ("embedded", "xroad")


def xroad_config(settings: Settings) -> XRoadConfig:
    """The X-Road adapter's configuration, or :class:`SettingsError` naming what is missing."""
    missing = [
        f"NATID_XROAD_{name.upper()}"
        for name in ("base_url", "client", "service")
        if getattr(settings, f"xroad_{name}") is None
    ]
    if missing:
        raise SettingsError(f"NATID_REGISTER=xroad needs {', '.join(missing)}")
    if settings.production:
        unsafe = [
            name
            for name, value in (
                ("NATID_XROAD_CERT", settings.xroad_cert),
                ("NATID_XROAD_KEY", settings.xroad_key),
            )
            if value is None
        ]
        if unsafe or not str(settings.xroad_base_url).startswith("https://"):
            raise SettingsError(
                "production mode needs mutual TLS to the X-Road security server: an https://"
                " NATID_XROAD_BASE_URL, NATID_XROAD_CERT and NATID_XROAD_KEY"
            )
    for name in ("cert", "key", "ca"):
        path = getattr(settings, f"xroad_{name}")
        if path is not None and not path.is_file():
            raise SettingsError(f"NATID_XROAD_{name.upper()}: no such file")
    try:
        return XRoadConfig(
            base_url=str(settings.xroad_base_url),
            client=str(settings.xroad_client),
            service=str(settings.xroad_service),
            cert_file=settings.xroad_cert,
            key_file=settings.xroad_key,
            ca_file=settings.xroad_ca,
            timeout=settings.xroad_timeout,
            retries=settings.xroad_retries,
        )
    except ValueError as exc:
        raise SettingsError(f"invalid X-Road settings: {exc}") from None


def build_register_port(
    settings: Settings, *, embedded: EmbeddedRegister, clock: Clock
) -> PopulationRegister:
    """The read port the settings ask for: ``embedded`` itself, or an X-Road adapter."""
    if settings.register_adapter == "xroad":
        config = xroad_config(settings)
        try:
            return XRoadRegister(config, clock=clock)
        except (ssl.SSLError, OSError) as exc:
            # The certificate, key or CA file is unreadable or not PEM (the text names neither
            # key material nor contents).
            raise SettingsError(
                f"the X-Road TLS files cannot be loaded ({type(exc).__name__})"
            ) from None
    return embedded
