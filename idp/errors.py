"""Errors of the OpenID Connect provider. Each concrete error also derives from one of
core's fault kinds.
"""

from __future__ import annotations

from core.errors import NatIDError

__all__ = ["IdPError"]


class IdPError(NatIDError):
    """Base of every error the idp package raises."""

    code = "idp_error"
