"""How the citizen pages write times and numbers: Cambodia time, and Khmer digits on Khmer pages.

Every page family (account, KYC, document signing, recovery, ...) shows a moment the same way,
so a citizen comparing "when did the bank look at my data" with "when did I log in" reads the
same clock: Cambodia time (Asia/Phnom_Penh, UTC+7, the ``zoneinfo`` claim's zone), to the
minute, labelled as such ("2026-11-24 11:55 Cambodia time").

A Khmer page writes the numbers of its running text - dates, times, counts, durations, "step 2
of 3" - with the Khmer digits ០..៩ (U+17E0..U+17E9), as its fixed text already does. What a
person must type or copy exactly stays as it is: serial numbers, codes, ID numbers, URLs and
fingerprints are never passed through :func:`numerals` (the reverse direction, digits typed on
a Khmer keyboard, is :func:`api.digits.ascii_digits`).

:func:`install` gives a Jinja environment ``local_time(at)``, ``local_date(at)`` and the
``|numerals`` filter, each in the language of the page being rendered (its ``lang``).

A printed document in both languages at once (the registration office's activation letter and
receipt, :mod:`api.officer_letter`) has no one language to label a time in: it uses
:func:`printed_time`, the same Cambodia time labelled "(UTC+7)", in ASCII digits, which the
Khmer and the English reader share on one line.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import jinja2

from api.digits import KHMER_DIGITS
from api.routers.idp_account_text import account_texts
from idp.claims import ZONEINFO

__all__ = [
    "LOCAL_ZONE",
    "environment",
    "install",
    "local_date",
    "local_time",
    "numerals",
    "printed_time",
]

_TO_KHMER: Final = str.maketrans("0123456789", KHMER_DIGITS)


def _zone() -> dt.tzinfo:
    """Cambodia's time zone from the system's time-zone database or the ``tzdata`` package;
    UTC+7 itself if neither has it (Cambodia has kept UTC+7 without daylight saving since
    1979)."""
    try:
        return zoneinfo.ZoneInfo(ZONEINFO)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.timezone(dt.timedelta(hours=7), "ICT")


LOCAL_ZONE: Final = _zone()


def numerals(value: object, lang: str) -> str:
    """``value`` as running text of a page in ``lang``: on a Khmer page its ASCII digits are
    written as Khmer digits ("2" -> "២"); on an English page it is unchanged. Only for
    numbers a person reads, never for one they must type or copy (see the module's note)."""
    text = str(value)
    return text.translate(_TO_KHMER) if lang == "km" else text


def _local(at: dt.datetime) -> dt.datetime:
    # A naive ``at`` is UTC (how SQLite hands some of them back).
    return (at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)).astimezone(LOCAL_ZONE)


def local_date(at: dt.datetime, lang: str) -> str:
    """The day ``at`` falls on in Cambodia ("2026-11-24"; "២០២៦-១១-២៤" on a Khmer page)."""
    return numerals(_local(at).strftime("%Y-%m-%d"), lang)


def local_time(at: dt.datetime, lang: str) -> str:
    """``at`` as a citizen reads it: Cambodia time, to the minute, labelled in ``lang``
    ("2026-11-24 11:55 Cambodia time"). A naive ``at`` is taken as UTC."""
    shown = numerals(_local(at).strftime("%Y-%m-%d %H:%M"), lang)
    return account_texts(lang)["local_time"].format(time=shown)


def printed_time(at: dt.datetime) -> str:
    """``at`` on a printed document in both languages: Cambodia time, to the minute, with a
    label the Khmer and the English reader both know ("2026-11-24 11:55 (UTC+7)"). A naive
    ``at`` is taken as UTC."""
    return _local(at).strftime("%Y-%m-%d %H:%M (UTC+7)")


@jinja2.pass_context
def _page_time(context: jinja2.runtime.Context, at: dt.datetime) -> str:
    return local_time(at, str(context.get("lang")))


@jinja2.pass_context
def _page_date(context: jinja2.runtime.Context, at: dt.datetime) -> str:
    return local_date(at, str(context.get("lang")))


@jinja2.pass_context
def _page_numerals(context: jinja2.runtime.Context, value: object) -> str:
    return numerals(value, str(context.get("lang")))


def install(environment: jinja2.Environment) -> jinja2.Environment:
    """Give ``environment``'s templates ``local_time(at)``, ``local_date(at)`` and
    ``value|numerals``, which read the page's language from its ``lang``; returns it."""
    environment.globals.update(local_time=_page_time, local_date=_page_date)
    environment.filters["numerals"] = _page_numerals
    return environment


def environment(folders: Sequence[Path]) -> jinja2.Environment:
    """The Jinja environment of a family of pages over ``folders`` (searched in order): the
    options every page shares (autoescaping, undefined names are errors, tidy whitespace) and
    :func:`install`'s way of writing times and numbers."""
    return install(
        jinja2.Environment(
            loader=jinja2.FileSystemLoader(list(folders)),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    )
