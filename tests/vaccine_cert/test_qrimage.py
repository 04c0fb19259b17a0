"""Reading QR codes from pictures: what is not a readable picture is a clear error."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from vaccine_cert import QrImageUnreadable, qrimage, read_qr_texts


def png(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("data", [b"", b"not a picture", b"\x89PNG\r\n\x1a\n" + bytes(40)])
def test_bytes_that_are_not_a_picture_are_refused(data: bytes) -> None:
    with pytest.raises(QrImageUnreadable, match="not a readable picture"):
        read_qr_texts(data)


def test_picture_without_a_qr_code_is_refused() -> None:
    with pytest.raises(QrImageUnreadable, match="no readable QR code"):
        read_qr_texts(png(Image.new("L", (200, 200), color=255)))


def test_oversized_picture_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qrimage, "MAX_PIXELS", 100)
    with pytest.raises(QrImageUnreadable, match="more than the 100 accepted"):
        read_qr_texts(png(Image.new("L", (11, 10), color=255)))
