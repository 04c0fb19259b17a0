"""Errors of document signing and validation. Each concrete error also derives from one of
core's fault kinds.
"""

from __future__ import annotations

from core.errors import NatIDError

__all__ = ["SigningError"]


class SigningError(NatIDError):
    """Base of every error the signing package raises."""

    code = "signing_error"
