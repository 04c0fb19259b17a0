"""api/user_agents.py: the name the sessions page gives a device, from real browsers' headers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.user_agents import BROWSERS, PLATFORMS, Device, parse_user_agent

#: Headers real browsers send (one per browser and platform people in Cambodia use most).
REAL = [
    (
        "Mozilla/5.0 (Linux; Android 14; SM-A155F) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.6778.104 Mobile Safari/537.36",
        Device("Chrome", "Android"),
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        Device("Safari", "iPhone"),
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.6 Mobile/15E148 Safari/604.1",
        Device("Safari", "iPad"),
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
        Device("Firefox", "Windows"),
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.70",
        Device("Edge", "Windows"),
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/18.1 Safari/605.1.15",
        Device("Safari", "Mac"),
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        Device("Chrome", "Mac"),
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
        Device("Chrome", "iPhone"),
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like "
        "Gecko) SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36",
        Device("Samsung Internet", "Android"),
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; TECNO KI5q) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Mobile Safari/537.36 OPR/85.0.2254.74536",
        Device("Opera", "Android"),
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; 23106RN0DA Build/UP1A.231005.007; wv) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.39 Mobile "
        "Safari/537.36 [FB_IAB/FB4A;FBAV/490.0.0.54.74;]",
        Device("Facebook", "Android"),
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/156.0.0.0 Safari/537.36",
        Device("Chrome", "Linux"),
    ),
    (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        Device("Chrome", "ChromeOS"),
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) FxiOS/133.0 Mobile/15E148 Safari/605.1.15",
        Device("Firefox", "iPhone"),
    ),
]


@pytest.mark.parametrize(
    ("header", "expected"), REAL, ids=[f"{d.browser} on {d.platform}" for _, d in REAL]
)
def test_real_browsers_get_the_name_people_know(header: str, expected: Device) -> None:
    assert parse_user_agent(header) == expected


@pytest.mark.parametrize("header", [None, "", "curl/8.5.0", "python-httpx/0.28.1", "testclient"])
def test_what_is_not_a_known_browser_has_no_name(header: str | None) -> None:
    assert parse_user_agent(header) == Device(None, None)


def test_webkit_on_android_without_a_browser_token_is_not_called_safari() -> None:
    # Safari runs on Apple's systems only; an unnamed WebKit view elsewhere stays unknown.
    header = (
        "Mozilla/5.0 (Linux; Android 9) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 "
        "Mobile Safari/534.30"
    )
    assert parse_user_agent(header) == Device(None, "Android")


@given(st.text(max_size=400))
def test_any_header_gives_a_known_name_or_none(header: str) -> None:
    device = parse_user_agent(header)
    assert device.browser is None or device.browser in BROWSERS
    assert device.platform is None or device.platform in PLATFORMS
