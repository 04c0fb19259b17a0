"""api/digits.py: numbers typed with a Khmer keyboard read as the ASCII digits they are."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from api.digits import KHMER_DIGITS, ascii_digits


def test_khmer_id_number_and_code_become_ascii() -> None:
    assert ascii_digits("០០០៥១៧៧៥៤") == "000517754"
    assert ascii_digits("២៨៥៤៨៣") == "285483"
    # Mixed with ASCII digits, spaces and a recovery code's letters and dashes.
    assert ascii_digits("k៣x៩-0a៧ ២") == "k3x9-0a7 2"


def test_each_khmer_digit_has_its_value() -> None:
    assert [int(ascii_digits(d)) for d in KHMER_DIGITS] == list(range(10))
    assert KHMER_DIGITS[0] == "\u17e0" and KHMER_DIGITS[9] == "\u17e9"


def test_khmer_letters_and_other_digits_are_left_alone() -> None:
    # Khmer script around the digits (the Khmer symbols for lunar dates U+17F0..U+17F9 too),
    # and other scripts' digits, which no Khmer keyboard types.
    text = "លេខ ១ ៰៹ ٣ ๓"
    assert ascii_digits(text) == "លេខ 1 ៰៹ ٣ ๓"


@given(st.text())
def test_only_khmer_digits_change(text: str) -> None:
    out = ascii_digits(text)
    assert len(out) == len(text)
    for before, after in zip(text, out, strict=True):
        if before in KHMER_DIGITS:
            assert after == str(KHMER_DIGITS.index(before))
        else:
            assert after == before
