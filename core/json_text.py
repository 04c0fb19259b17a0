"""Compact JSON text for the login path: orjson where it gives what :mod:`json` gives.

A complete login encodes five small JSON objects (the ID token's and the access token's
payloads, the authorization code's record, the token response, the UserInfo claims kept for
``/userinfo``); with ``json.JSONEncoder`` each took ~2.6 µs, with orjson ~0.2 µs
(docs/benchmarks.md, "Nineteenth round").

:func:`compact_json` is ``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``
encoded as UTF-8, with the same rules for what may be encoded:

1. **Whatever orjson would encode differently goes to :mod:`json`.** orjson writes
   ``datetime`` and dataclass values and subclasses of ``str``, ``int``, ``dict`` and ``list``
   its own way; :mod:`json` refuses the first two (``TypeError``) and writes the subclasses as
   their base values. With orjson's passthrough options it refuses them all, and :mod:`json`
   then answers as it always did: a ``StrEnum`` value is written as its text, a ``datetime``
   still raises ``TypeError``. Integers beyond 64 bits and keys that are not strings go to
   :mod:`json` too, which writes them (the keys as text). Two kinds orjson has no
   passthrough for are written where :mod:`json` would refuse them: a ``uuid.UUID`` (as its
   text) and a plain ``Enum`` member (as its value); no object of the login path holds
   either.
2. **A float ``NaN`` or infinity is written as ``null``** (orjson's rule). :mod:`json` writes
   ``NaN`` / ``Infinity``, which is not JSON, or with ``allow_nan=False`` refuses them. The
   login's objects hold no floats at all (times are integers, claims text and booleans), and
   looking for one in every object would cost what orjson saves.
3. The text itself is the same JSON value; the bytes may differ in how a float is spelled
   (``1e+16`` against ``1e16``). Nothing here compares JSON bytes with another encoder's.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["compact_json"]

_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def compact_json(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON text (module docstring); raises ``TypeError`` for a
    value JSON has no form for, as :mod:`json` does."""
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except orjson.JSONEncodeError:
        # What orjson refuses, json decides, by its own rules (decision 1).
        return _JSON.encode(value).encode("utf-8")
