"""idp: see its issue; nothing public yet."""

from idp.errors import IdPError

__all__ = ["IdPError"]
