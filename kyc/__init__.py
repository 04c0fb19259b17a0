"""kyc: see its issue; nothing public yet."""

from kyc.errors import KYCError

__all__ = ["KYCError"]
