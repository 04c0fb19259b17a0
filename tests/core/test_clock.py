"""Time: naive datetimes are refused; the fixed clock moves only when told."""

from __future__ import annotations

import datetime as dt

import pytest

from core.clock import FixedClock, SystemClock, require_aware
from core.errors import InvalidInput


def test_naive_datetime_rejected() -> None:
    with pytest.raises(InvalidInput, match="timezone-aware"):
        require_aware(dt.datetime(2026, 1, 1))


def test_aware_datetime_converted_to_utc() -> None:
    ict = dt.timezone(dt.timedelta(hours=7))
    value = require_aware(dt.datetime(2026, 1, 1, 7, 0, tzinfo=ict))
    assert value == dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.UTC)
    assert value.utcoffset() == dt.timedelta(0)


def test_fixed_clock_advances_only_when_told() -> None:
    c = FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert c.now() == c.now()
    c.advance(dt.timedelta(seconds=61))
    assert c.now() == dt.datetime(2026, 1, 1, 0, 1, 1, tzinfo=dt.UTC)


def test_system_clock_is_utc_aware() -> None:
    assert SystemClock().now().tzinfo is dt.UTC
