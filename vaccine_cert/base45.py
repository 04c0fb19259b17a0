"""Base45 encoding and strict decoding (RFC 9285), the text layer of the ``HC1:`` payload.

RFC 9285 §4: the input is read two bytes at a time; each pair ``[a, b]`` is the number
``n = a * 256 + b``, written as three characters ``c d e`` with ``n = c + d * 45 + e * 45^2``
(least significant first). A final single byte ``a`` becomes two characters ``c d`` with
``a = c + d * 45``. The 45 characters are the QR code alphanumeric set (§4.2, Table 1).

Decoding is strict, as §6 requires ("a decoder MUST reject ... "): a character outside the
alphabet, a length of ``3k + 1`` characters, a triplet worth more than 65535 or a final pair
worth more than 255 raises :class:`~vaccine_cert.errors.Base45Error`. So every decodable string
has exactly one encoding, and :func:`b45encode` of :func:`b45decode` gives the input back.

The decoder does its arithmetic on whole strings rather than per triplet (see
:func:`b45decode`): the verifier's benchmark runs it once per credential, and a loop in Python
would cost a third of a P-256 signature check.
"""

from __future__ import annotations

from vaccine_cert.errors import Base45Error

__all__ = ["ALPHABET", "b45decode", "b45encode"]

#: RFC 9285 §4.2, Table 1: value i is ALPHABET[i].
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

_INVALID = 0xFF
# Byte -> its value in the alphabet, or _INVALID. Used with bytes.translate.
_VALUES = bytes(ALPHABET.index(chr(i)) if chr(i) in ALPHABET else _INVALID for i in range(256))
_ENCODE = ALPHABET.encode("ascii")


def _low_bytes(span: int) -> int:
    """The integer whose big-endian bytes are ``00 00 ff`` repeated over ``span`` bytes."""
    return int.from_bytes(b"\x00\x00\xff" * (span // 3), "big")


# Masks for texts up to the longest HC1 payload accepted (vaccine_cert.hcert): built once. A
# mask longer than the integer it masks costs nothing extra (CPython's "&" stops at the shorter).
_LOW_BYTES_SPAN = 3 * (16 * 1024 // 3)
_LOW_BYTES = _low_bytes(_LOW_BYTES_SPAN)


def b45encode(data: bytes) -> str:
    """Encode ``data`` as Base45 text (RFC 9285 §4)."""
    out = bytearray()
    full = len(data) - len(data) % 2
    for i in range(0, full, 2):
        n = data[i] * 256 + data[i + 1]
        e, rest = divmod(n, 45 * 45)
        d, c = divmod(rest, 45)
        out += bytes((_ENCODE[c], _ENCODE[d], _ENCODE[e]))
    if full < len(data):
        d, c = divmod(data[-1], 45)
        out += bytes((_ENCODE[c], _ENCODE[d]))
    return out.decode("ascii")


def b45decode(text: str) -> bytes:
    """Decode Base45 ``text`` (RFC 9285 §4), rejecting anything §6 calls invalid.

    Raises :class:`~vaccine_cert.errors.Base45Error` with the position of the first problem.
    """
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError as exc:
        raise Base45Error(
            f"character {exc.start} is not in the Base45 alphabet (non-ASCII)"
        ) from exc
    values = raw.translate(_VALUES)
    bad = values.find(_INVALID)
    if bad >= 0:
        raise Base45Error(f"character {bad} is not in the Base45 alphabet")
    if len(values) % 3 == 1:
        raise Base45Error(f"length {len(values)} is not valid Base45 (3k or 3k + 2 characters)")

    # Each triplet c d e is the 16-bit number c + 45 d + 2025 e. Read all the values as one
    # big-endian integer: triplet i fills 24-bit slot i with c, d and e as its three bytes.
    # Masking out each byte of every slot (shifted down to the slot's lowest byte) gives three
    # integers C, D and E, and every slot of C + 45 D + 2025 E holds that triplet's number (at
    # most 91124 < 2^24, so no carry crosses a slot): one big-integer computation for the whole
    # text instead of a loop per triplet.
    count = len(values) // 3
    full = count * 3
    out = bytearray()
    if count:
        whole = int.from_bytes(values[:full] if full < len(values) else values, "big")
        low = _LOW_BYTES if full <= _LOW_BYTES_SPAN else _low_bytes(full)
        numbers = (
            ((whole >> 16) & low) + 45 * ((whole >> 8) & low) + 2025 * (whole & low)
        ).to_bytes(full, "big")
        # The top byte of a slot is non-zero exactly when that triplet is worth more than 65535.
        overflow = numbers[0::3]
        if overflow.count(0) != count:
            first = next(i for i, b in enumerate(overflow) if b)
            raise Base45Error(f"characters {3 * first}-{3 * first + 2} encode a value above 65535")
        out = bytearray(2 * count)
        out[0::2] = numbers[1::3]
        out[1::2] = numbers[2::3]
    if full < len(values):
        n = values[full] + 45 * values[full + 1]
        if n > 255:
            raise Base45Error(f"characters {full}-{full + 1} encode a value above 255")
        out.append(n)
    return bytes(out)
