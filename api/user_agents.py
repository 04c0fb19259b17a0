"""A short, recognisable name for the browser behind a ``User-Agent`` header (RFC 9110 §10.1.5).

The sessions page lists where the citizen is logged in. The full header
(``Mozilla/5.0 (Linux; Android 14; ...) AppleWebKit/537.36 ... Chrome/131.0 Mobile Safari/537.36``)
means nothing to most people; "Chrome on Android" does. :func:`parse_user_agent` picks the
browser and the platform out of the header by the product tokens browsers are known to send,
most specific first (Edge, Opera and Samsung Internet also say ``Chrome``; Chrome also says
``Safari``; an iPhone also says ``Mac OS X``). Anything it does not recognise is None, and the
page says "Unknown browser": the header is whatever the client chose to send, so this is a
label for people, never a fact to decide anything on.

Substring tests only (no regular expressions), so any header, however long or odd, is read in
linear time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["BROWSERS", "PLATFORMS", "Device", "parse_user_agent"]

#: Browser name and the tokens that name it, in the order they are tried.
_BROWSER_TOKENS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("Facebook", ("FBAN/", "FBAV/", "FB_IAB/")),
    ("Edge", ("EdgA/", "EdgiOS/", "Edg/", "Edge/")),
    ("Opera", ("OPR/", "OPiOS/", "OPT/", "Opera")),
    ("Samsung Internet", ("SamsungBrowser/",)),
    ("UC Browser", ("UCBrowser/",)),
    ("Firefox", ("FxiOS/", "Firefox/")),
    ("Chrome", ("CriOS/", "HeadlessChrome/", "Chrome/", "Chromium/")),
)
#: Platform name and the tokens that name it, in the order they are tried.
_PLATFORM_TOKENS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("iPhone", ("iPhone", "iPod")),
    ("iPad", ("iPad",)),
    ("Android", ("Android",)),
    ("ChromeOS", ("CrOS",)),
    ("Windows", ("Windows",)),
    ("Mac", ("Macintosh", "Mac OS X")),
    ("Linux", ("Linux", "X11")),
)

#: Every browser name :func:`parse_user_agent` may return.
BROWSERS: Final = frozenset({name for name, _ in _BROWSER_TOKENS} | {"Safari"})
#: Every platform name :func:`parse_user_agent` may return.
PLATFORMS: Final = frozenset(name for name, _ in _PLATFORM_TOKENS)


@dataclass(frozen=True, slots=True)
class Device:
    """What a ``User-Agent`` header says about the browser; None where it says nothing known."""

    browser: str | None
    platform: str | None


def _first(header: str, table: tuple[tuple[str, tuple[str, ...]], ...]) -> str | None:
    for name, tokens in table:
        if any(token in header for token in tokens):
            return name
    return None


def parse_user_agent(header: str | None) -> Device:
    """The browser and platform ``header`` names (see the module docstring)."""
    if not header:
        return Device(None, None)
    browser = _first(header, _BROWSER_TOKENS)
    platform = _first(header, _PLATFORM_TOKENS)
    # Safari says only "Version/x Safari/y" (and "Mobile/" on iOS) on Apple's platforms; every
    # other WebKit and Blink browser also says "Safari/", so it is Safari only when nothing
    # else matched.
    apple = platform in {"iPhone", "iPad", "Mac"}
    webkit = "AppleWebKit/" in header and ("Version/" in header or "Mobile/" in header)
    if browser is None and apple and webkit:
        browser = "Safari"
    return Device(browser, platform)
