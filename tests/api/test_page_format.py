"""api/page_format.py: the pages' one way of writing a moment (Cambodia time, labelled) and a
number (Khmer digits on a Khmer page)."""

from __future__ import annotations

import datetime as dt

import jinja2
from hypothesis import given
from hypothesis import strategies as st

from api import page_format
from api.digits import ascii_digits
from api.page_format import local_date, local_time, numerals, printed_time


def test_numbers_are_khmer_on_a_khmer_page_only() -> None:
    assert numerals(15, "km") == "១៥"
    assert numerals("2026-11-24 11:55", "km") == "២០២៦-១១-២៤ ១១:៥៥"
    assert numerals(15, "en") == "15"


def test_a_moment_is_cambodia_time_also_across_midnight() -> None:
    late = dt.datetime(2026, 11, 23, 22, 30, tzinfo=dt.UTC)
    assert local_time(late, "en") == "2026-11-24 05:30 Cambodia time"
    assert local_time(late, "km") == "២០២៦-១១-២៤ ០៥:៣០ ម៉ោងកម្ពុជា"
    assert local_date(late, "en") == "2026-11-24"
    # A naive moment (as SQLite hands some back) is UTC.
    assert local_time(late.replace(tzinfo=None), "en") == "2026-11-24 05:30 Cambodia time"


def test_a_printed_bilingual_document_labels_cambodia_time_for_both_readers() -> None:
    late = dt.datetime(2026, 11, 23, 22, 30, tzinfo=dt.UTC)
    assert printed_time(late) == "2026-11-24 05:30 (UTC+7)"
    assert printed_time(late.replace(tzinfo=None)) == "2026-11-24 05:30 (UTC+7)"


def test_templates_write_in_the_language_of_the_page() -> None:
    env = page_format.install(jinja2.Environment(undefined=jinja2.StrictUndefined))
    template = env.from_string("{{ n|numerals }} · {{ local_date(at) }} · {{ local_time(at) }}")
    at = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
    assert template.render(lang="km", n=3, at=at) == ("៣ · ២០២៦-១១-០១ · ២០២៦-១១-០១ ១៦:០០ ម៉ោងកម្ពុជា")
    assert (
        template.render(lang="en", n=3, at=at) == "3 · 2026-11-01 · 2026-11-01 16:00 Cambodia time"
    )


@given(st.text())
def test_khmer_numerals_read_back_as_the_same_text(text: str) -> None:
    # What a Khmer page writes, a Khmer keyboard types back: the two directions agree.
    assert ascii_digits(numerals(text, "km")) == ascii_digits(text)
    assert numerals(text, "en") == text
