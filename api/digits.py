"""Khmer digits typed into the pages' forms, read as the ASCII digits the services expect.

A Khmer keyboard types the Khmer digits ០..៩ (U+17E0..U+17E9, Unicode's "Khmer" block), and
the Khmer pages themselves write numbers with them. An ID card number, a TOTP code or a
recovery code typed that way is the same number: :func:`ascii_digits` rewrites those ten
characters to ``0``..``9`` and leaves every other character as it is, so a form field is
normalised once, where the page reads it, before any check or lookup.
"""

from __future__ import annotations

from typing import Final

__all__ = ["KHMER_DIGITS", "ascii_digits"]

#: The Khmer digits zero to nine (U+17E0..U+17E9), in order.
KHMER_DIGITS: Final = "".join(chr(0x17E0 + i) for i in range(10))
_TO_ASCII: Final = str.maketrans(KHMER_DIGITS, "0123456789")


def ascii_digits(value: str) -> str:
    """``value`` with each Khmer digit replaced by the ASCII digit of the same value."""
    return value.translate(_TO_ASCII)
