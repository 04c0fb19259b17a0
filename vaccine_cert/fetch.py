"""Fetching a published list (a foreign trust list) from a URL, bounded.

Kept apart from :mod:`vaccine_cert.trustlist` (STYLE.md: verification does no I/O; fetching
lives elsewhere): this module only gets bytes, the caller checks them against its anchor.

Decisions:

* HTTPS only (RFC 9110 §4.2.2), except for a loopback host (``localhost``, ``127.0.0.0/8``,
  ``::1``), which development and tests use. The anchor signature is what makes a list
  trustworthy, not TLS; HTTPS still keeps who fetches what private and stops a downgrade to
  an older, validly signed list being slipped in on the way.
* Timeouts (connect, read) and a size limit: the body is read in chunks and abandoned past
  ``max_bytes``, whatever ``Content-Length`` claims.
* No redirects to another scheme or host are followed blindly: httpx follows at most
  :data:`MAX_REDIRECTS`, and each hop is checked by the same HTTPS rule.
* Any failure is a :class:`~vaccine_cert.errors.TrustListUnavailable` that names the URL's
  host and the reason, never the body.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import httpx

from vaccine_cert.errors import TrustListUnavailable

__all__ = ["DEFAULT_TIMEOUT", "MAX_REDIRECTS", "fetch_list", "is_url"]

#: Seconds to connect, and between bytes received.
DEFAULT_TIMEOUT = 10.0
MAX_REDIRECTS = 3


def is_url(text: str) -> bool:
    """Whether ``text`` names an http(s) URL rather than a file."""
    return text.startswith(("https://", "http://"))


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        raise TrustListUnavailable(f"{url[:80]!r} has no host")
    if parts.scheme == "https" or (parts.scheme == "http" and _loopback(host)):
        return host
    raise TrustListUnavailable(
        f"a trust list is fetched over https (plain http only from this machine), got "
        f"{parts.scheme}://{host}"
    )


def fetch_list(url: str, *, max_bytes: int, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """GET ``url`` and return its body, at most ``max_bytes`` (module docstring)."""
    host = _check_url(url)

    def check_hop(request: httpx.Request) -> None:
        _check_url(str(request.url))

    try:
        with (
            httpx.Client(
                timeout=httpx.Timeout(timeout),
                follow_redirects=True,
                max_redirects=MAX_REDIRECTS,
                event_hooks={"request": [check_hop]},
            ) as client,
            client.stream("GET", url, headers={"Accept": "application/json"}) as response,
        ):
            if response.status_code != httpx.codes.OK:
                raise TrustListUnavailable(
                    f"{host} answered HTTP {response.status_code} for the trust list"
                )
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise TrustListUnavailable(
                        f"the trust list from {host} is larger than {max_bytes} bytes"
                    )
            return bytes(body)
    except httpx.HTTPError as exc:
        raise TrustListUnavailable(
            f"fetching the trust list from {host} failed ({type(exc).__name__})"
        ) from exc
