"""Signed, dated cookie values for the demo site (:mod:`api.routers.demo_site`).

The demo portal keeps no state in a worker's memory: the login in progress and the logged-in
session travel in the browser as JSON authenticated with HMAC-SHA256 (RFC 2104) under the
site's own key, with an issue time that :meth:`SignedCookie.loads` checks against a lifetime.
An altered, expired or foreign value reads as no value at all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["CLOCK_SKEW_SECONDS", "SignedCookie"]

CLOCK_SKEW_SECONDS = 120


class SignedCookie:
    """A JSON value in a cookie, authenticated with HMAC-SHA256 and dated.

    Format: ``base64url(json) "." base64url(mac)``; the JSON carries ``iat`` (Unix seconds) and
    :meth:`loads` refuses anything older than ``max_age`` or not yet issued. A value made for
    one purpose (``label``) never verifies as another.
    """

    def __init__(self, key: bytes, *, label: str) -> None:
        if len(key) < 32:
            raise ValueError("the cookie key must have at least 32 bytes")
        self._key = key
        self._label = label.encode()

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, self._label + b"\x00" + body, hashlib.sha256).digest()

    def dumps(self, value: Mapping[str, Any], *, at: float) -> str:
        data = json.dumps({**value, "iat": int(at)}, ensure_ascii=False, separators=(",", ":"))
        body = base64.urlsafe_b64encode(data.encode()).rstrip(b"=")
        mac = base64.urlsafe_b64encode(self._mac(body)).rstrip(b"=")
        return (body + b"." + mac).decode("ascii")

    def loads(self, cookie: str | None, *, at: float, max_age: float) -> dict[str, Any] | None:
        """The value, or None when the cookie is missing, altered, expired or malformed."""
        if not cookie or len(cookie) > 8192 or not cookie.isascii():
            return None
        body, _, mac = cookie.encode("ascii").partition(b".")
        try:
            given = base64.urlsafe_b64decode(mac + b"=" * (-len(mac) % 4))
            if not hmac.compare_digest(given, self._mac(body)):
                return None
            value = json.loads(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
        except ValueError:
            return None
        if not isinstance(value, dict) or not isinstance(value.get("iat"), int):
            return None
        if not (at - max_age <= value["iat"] <= at + CLOCK_SKEW_SECONDS):
            return None
        return value
