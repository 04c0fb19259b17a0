"""Reading the text of QR codes from a picture (ISO/IEC 18004), for credentials scanned from a
photo or a screenshot.

The picture is opened with Pillow and the codes are found by zxing-cpp. A picture is untrusted
input: it must be a real image of at most :data:`MAX_PIXELS` pixels (a phone camera's 48 MP
with room to spare; Pillow's own decompression-bomb limit is far higher), and any failure to
read it is a :class:`~vaccine_cert.errors.QrImageUnreadable`. Both libraries are imported on
first use, so importing :mod:`vaccine_cert` stays cheap for callers that never see a picture.
"""

from __future__ import annotations

import io

from vaccine_cert.errors import QrImageUnreadable

__all__ = ["MAX_PIXELS", "read_qr_texts"]

#: Largest picture accepted, in pixels.
MAX_PIXELS = 64_000_000


def read_qr_texts(image: bytes) -> tuple[str, ...]:
    """The texts of the QR codes in ``image`` (PNG, JPEG, ...), in the order zxing-cpp finds them.

    Raises :class:`QrImageUnreadable` if the bytes are not a picture, the picture is too large,
    or it holds no QR code that decodes.
    """
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(image)) as picture:
            width, height = picture.size
            if width * height > MAX_PIXELS:
                raise QrImageUnreadable(
                    f"picture is {width}x{height} pixels, more than the {MAX_PIXELS} accepted"
                )
            picture.load()
            qr_only = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
            found = zxingcpp.read_barcodes(picture, formats=qr_only)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise QrImageUnreadable(f"not a readable picture ({type(exc).__name__})") from exc
    texts = tuple(code.text for code in found if code.valid)
    if not texts:
        raise QrImageUnreadable("no readable QR code in the picture")
    return texts
