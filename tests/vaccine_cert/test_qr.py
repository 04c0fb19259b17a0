"""QR codes of credentials: alphanumeric mode and error correction Q, readable by zxing-cpp back
to the same payload, which then verifies."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from core.errors import InvalidInput
from tests.vaccine_cert.conftest import CHECKED
from vaccine_cert import TrustedSigners, read_qr_texts, verify
from vaccine_cert.qr import make_qr, qr_png, qr_svg


def test_qr_is_alphanumeric_with_error_correction_q(credential: str) -> None:
    qr = make_qr(credential)
    assert qr.mode == "alphanumeric"
    assert qr.error == "Q"


def test_png_decodes_with_zxing_to_the_same_payload_which_verifies(
    credential: str, trusted: TrustedSigners
) -> None:
    png = qr_png(credential, scale=4)
    with Image.open(io.BytesIO(png)) as picture:
        assert picture.format == "PNG"
    assert read_qr_texts(png) == (credential,)
    assert verify(read_qr_texts(png)[0], trusted=trusted, at=CHECKED).valid


def test_svg_is_a_standalone_document_of_the_same_code(credential: str) -> None:
    svg = qr_svg(credential)
    assert svg.startswith("<?xml")
    assert "<svg" in svg
    width, height = make_qr(credential).symbol_size(scale=4, border=4)
    assert f'width="{width}"' in svg
    assert f'height="{height}"' in svg


def test_non_alphanumeric_text_is_refused(credential: str) -> None:
    with pytest.raises(InvalidInput):
        make_qr(credential.lower())
    with pytest.raises(InvalidInput):
        qr_png(credential, scale=0)
