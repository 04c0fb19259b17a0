"""Unique vaccination certificate/assertion identifiers (UVCI): the DCC's ``ci`` field.

eHealth Network, "Guidelines on verifiable vaccination certificates - basic interoperability
elements", Annex 2 ("UVCI"), and the DCC schema FAQ ("UVCI checksum"):

* Format: ``URN:UVCI:`` prefix (optional in the annex; NatID always writes it), version
  ``01``, the issuing country (ISO 3166-1 alpha-2), then an opaque unique string, the parts
  separated by ``:``; only ``A-Z``, ``0-9`` and the separators ``/`` and ``:`` are allowed, and
  the whole identifier (checksum included) is at most 72 characters. NatID uses version 01's
  option 3 ("opaque"): the opaque part is :data:`OPAQUE_LENGTH` random characters from the OS
  CSPRNG in Crockford-free base32 (``A-Z2-7``): 130 bits, so identifiers are unique without a
  central counter and say nothing about the holder, the place or the time of issue.
* Checksum (annex: optional; NatID always writes it): ``#`` and one character computed with
  the Luhn mod N algorithm over the identifier as written before the ``#``, prefix included,
  with the 38 code points ``A-Z0-9/:`` in that order - the algorithm of the eHN's reference
  implementation (``eu-dcc-schema/examples/Luhn-Mod-N``). Austria's, Denmark's and France's
  public test vectors carry checksums computed this way (``URN:UVCI:01:AT:10807843F94AEE0EE5093
  FBC254BD813#B``); the tests check NatID's function against them.
"""

from __future__ import annotations

import base64
import re
import secrets

from core.errors import InvalidInput

__all__ = [
    "CODE_POINTS",
    "MAX_UVCI_LENGTH",
    "OPAQUE_LENGTH",
    "is_valid_uvci",
    "luhn_mod_n",
    "new_uvci",
]

#: The Luhn mod N code points of the eHN reference implementation, in order.
CODE_POINTS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/:"
_VALUE = {ch: i for i, ch in enumerate(CODE_POINTS)}
_N = len(CODE_POINTS)

#: Longest UVCI, checksum included (DCC schema: ``ci`` maxLength 80; the annex: 72).
MAX_UVCI_LENGTH = 72
#: Characters of randomness in the opaque part (26 base32 characters = 130 bits).
OPAQUE_LENGTH = 26

_UVCI = re.compile(r"URN:UVCI:01:[A-Z]{2}:[A-Z0-9/:]+#[A-Z0-9/:]")


def luhn_mod_n(text: str) -> str:
    """The Luhn mod N check character of ``text`` over :data:`CODE_POINTS`."""
    factor = 2
    total = 0
    # Starting from the right; the rightmost character is doubled, as the check character
    # appended after it will take the factor 1.
    for ch in reversed(text):
        try:
            addend = factor * _VALUE[ch]
        except KeyError:
            raise InvalidInput(f"a UVCI may hold only A-Z, 0-9, '/' and ':'; got {ch!r}") from None
        factor = 1 if factor == 2 else 2
        total += addend // _N + addend % _N
    return CODE_POINTS[(_N - total % _N) % _N]


def new_uvci(country: str) -> str:
    """A fresh ``URN:UVCI:01:<country>:<opaque>#<check>`` (module docstring)."""
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise InvalidInput(f"the issuing country must be two letters A-Z, got {country[:10]!r}")
    opaque = base64.b32encode(secrets.token_bytes(17)).decode("ascii")[:OPAQUE_LENGTH]
    body = f"URN:UVCI:01:{country}:{opaque}"
    return f"{body}#{luhn_mod_n(body)}"


def is_valid_uvci(uvci: str) -> bool:
    """Whether ``uvci`` is a version-01 UVCI with the ``URN:UVCI:`` prefix and a correct
    checksum (the form NatID issues and accepts for revocation)."""
    if not isinstance(uvci, str) or len(uvci) > MAX_UVCI_LENGTH or not _UVCI.fullmatch(uvci):
        return False
    body, check = uvci.rsplit("#", 1)
    return luhn_mod_n(body) == check
