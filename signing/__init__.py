"""signing: see its issue; nothing public yet."""

from signing.errors import SigningError

__all__ = ["SigningError"]
