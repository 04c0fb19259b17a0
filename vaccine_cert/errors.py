"""Errors of health credentials. Each concrete error also derives from one of core's fault kinds."""

from __future__ import annotations

from core.errors import NatIDError

__all__ = ["HealthCertError"]


class HealthCertError(NatIDError):
    """Base of every error the vaccine_cert package raises."""

    code = "health_cert_error"
