"""The authorization endpoint's 303 responses: the prebuilt ``_see_other`` sends exactly what
``RedirectResponse(url, status_code=303, headers=_NO_STORE)`` sent (status, headers in order,
body), for every kind of location, and stays a mutable Starlette response."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import pytest
from fastapi.responses import RedirectResponse, Response

from api.routers.oidc_authorize import _NO_STORE, _see_other

LOCATIONS = [
    "https://portal.moh.gov.kh/cb?code=abc&state=xyz&iss=https%3A%2F%2Fid.gov.kh",
    "/login?pending=abc%2Fdef",
    "/consent?pending=" + "x" * 64,
    "https://portal.moh.gov.kh/ខ្មែរ?q=é ü",
    "https://portal.moh.gov.kh/cb#frag?x=1",
    'https://[::1]:8443/a b/c"d<e>f{g}h|i\\j^k`l',
    "com.example.app:/cb?x=%zz&y=%41",
    "",
]


async def _sent(response: Response) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        messages.append(dict(message))

    scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
    await response(scope, receive, send)
    return messages


@pytest.mark.parametrize("location", LOCATIONS)
def test_see_other_is_the_former_redirect_response(location: str) -> None:
    former = RedirectResponse(location, status_code=303, headers=_NO_STORE)
    ours = _see_other(location)
    assert isinstance(ours, RedirectResponse)
    assert ours.status_code == former.status_code == 303
    assert ours.body == former.body == b""
    assert ours.raw_headers == former.raw_headers
    assert ours.headers.items() == former.headers.items()
    assert ours.background is former.background is None
    assert asyncio.run(_sent(ours)) == asyncio.run(_sent(former))


def test_see_other_headers_can_still_be_changed() -> None:
    response = _see_other("/login?pending=p")
    response.headers["X-Extra"] = "1"
    response.set_cookie("c", "v")
    del response.headers["pragma"]
    assert response.headers["x-extra"] == "1"
    assert "pragma" not in response.headers
    assert response.headers["location"] == "/login?pending=p"
    # Each response has its own header list.
    assert "x-extra" not in _see_other("/login?pending=p").headers


def test_unencodable_location_fails_as_before() -> None:
    location = "https://a.example/\ud800"
    with pytest.raises(UnicodeEncodeError):
        RedirectResponse(location, status_code=303, headers=_NO_STORE)
    with pytest.raises(UnicodeEncodeError):
        _see_other(location)


QUERIES = [
    b"",
    b"&",
    b"a",
    b"a=",
    b"=b",
    b"a=1&a=2&&b",
    b"response_type=code&client_id=c&redirect_uri=https%3A%2F%2Fportal.moh.gov.kh%2Fcb"
    b"&scope=openid+profile&state=a%20b%2Bc&nonce=n&code_challenge=x&code_challenge_method=S256",
    b"state=%E1%9E%81%E1%9F%92&x=%ZZ&y=%C3&z=\xe9",
    b"a=1;b=2",
    b"claims=%7B%22id_token%22%3A%7B%22acr%22%3Anull%7D%7D",
]


@pytest.mark.parametrize("query", QUERIES)
def test_query_items_are_starlettes(query: bytes) -> None:
    from starlette.requests import Request

    from api.routers.oidc_authorize import _query_items

    request = Request({"type": "http", "query_string": query, "headers": []})
    expected = Request({"type": "http", "query_string": query, "headers": []})
    assert _query_items(request) == expected.query_params.multi_items()
