"""Errors of KYC for relying parties. Each concrete error also derives from one of core's
fault kinds.
"""

from __future__ import annotations

from core.errors import NatIDError

__all__ = ["KYCError"]


class KYCError(NatIDError):
    """Base of every error the kyc package raises."""

    code = "kyc_error"
