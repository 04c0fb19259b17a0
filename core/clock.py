"""Time as an injected dependency (ARCHITECTURE.md, "Time").

Domain code never calls ``datetime.now()``; it takes a :class:`Clock` or a keyword-only
``at: datetime``. :func:`require_aware` rejects naive datetimes at the boundary, so a time
without a zone never reaches a certificate, a token or a ledger entry.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from core.errors import InvalidInput

__all__ = ["Clock", "FixedClock", "SystemClock", "require_aware"]


class Clock(Protocol):
    """Anything that tells the current time, always timezone-aware (UTC)."""

    def now(self) -> dt.datetime: ...


class SystemClock:
    """The real clock: UTC wall time."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FixedClock:
    """A clock that only moves when told to; for tests and reproducible runs."""

    def __init__(self, start: dt.datetime) -> None:
        self._now = require_aware(start, "start")

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, delta: dt.timedelta) -> None:
        self._now = self._now + delta

    def set(self, moment: dt.datetime) -> None:
        self._now = require_aware(moment, "moment")


def require_aware(value: dt.datetime, name: str = "at") -> dt.datetime:
    """Return ``value`` in UTC, or raise if it has no timezone."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise InvalidInput(f"{name} must be a timezone-aware datetime, got a naive one")
    return value.astimezone(dt.UTC)
