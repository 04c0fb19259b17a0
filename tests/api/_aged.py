"""A data directory whose CA hierarchy was made long ago (its service certificates near or past
their ends), for the commands that renew or watch them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from api.context import build_context
from core.clock import FixedClock
from core.settings import load_settings

#: Five and a half years: the time-stamping certificate (six years) has half a year left.
LONG_AGO = dt.timedelta(days=5 * 365 + 180)


def hierarchy_made_long_ago(data: Path, *, ago: dt.timedelta = LONG_AGO) -> None:
    """Make ``data``'s CA hierarchy as it would have been made ``ago`` before now."""
    ctx = build_context(
        load_settings(data_dir=data), clock=FixedClock(dt.datetime.now(dt.UTC) - ago)
    )
    try:
        ctx.ca().ensure_hierarchy(actor="test")
    finally:
        ctx.close()
