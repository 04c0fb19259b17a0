"""QR codes of ``HC1:`` payloads as PNG and SVG (ISO/IEC 18004), with segno.

HCERT spec, "QR 2D Barcode": the payload is Base45 text precisely so that it fits QR's
alphanumeric mode (5.5 bits a character instead of 8), and the spec recommends error
correction level Q (25 % of the code may be damaged and still read: folded, scratched or
photographed paper). :func:`make_qr` insists on both - segno would otherwise pick byte mode
for text it cannot prove alphanumeric and level L - and refuses a payload that is not pure
alphanumeric text, so what is printed is always what a border app expects.
"""

from __future__ import annotations

import io

import segno

from core.errors import InvalidInput
from vaccine_cert.base45 import ALPHABET

__all__ = ["ERROR_LEVEL", "make_qr", "qr_png", "qr_svg"]

#: HCERT spec, "QR 2D Barcode": "the Error Correction Level SHOULD be Quartile (Q)".
ERROR_LEVEL = "Q"
_ALLOWED = frozenset(ALPHABET)


def make_qr(payload: str) -> segno.QRCode:
    """The QR code of ``payload``: alphanumeric mode, error correction Q, smallest version."""
    if not payload or not frozenset(payload) <= _ALLOWED:
        raise InvalidInput("a QR payload must be QR alphanumeric text (an HC1: credential)")
    return segno.make_qr(payload, mode="alphanumeric", error=ERROR_LEVEL, boost_error=False)


def qr_png(payload: str, *, scale: int = 4, border: int = 4) -> bytes:
    """The QR code as a PNG, ``scale`` pixels a module, with the 4-module quiet zone."""
    if not 1 <= scale <= 40:
        raise InvalidInput("the QR scale must be 1-40 pixels a module")
    out = io.BytesIO()
    make_qr(payload).save(out, kind="png", scale=scale, border=border)
    return out.getvalue()


def qr_svg(payload: str, *, scale: int = 4, border: int = 4) -> str:
    """The QR code as a standalone SVG document (scales to any print size)."""
    out = io.BytesIO()
    make_qr(payload).save(out, kind="svg", scale=scale, border=border, xmldecl=True)
    return out.getvalue().decode("utf-8")
