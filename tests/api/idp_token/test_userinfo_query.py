"""A token in UserInfo's URI query is still refused however the query is written, now that the
query is only parsed when there is one (RFC 6750 §2.3)."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request

from api.routers import oidc_userinfo
from idp.errors import InvalidRequest, InvalidToken


def _request(query: bytes, authorization: bytes | None = b"Bearer tok") -> Request:
    headers = [(b"host", b"testserver")]
    if authorization is not None:
        headers.append((b"authorization", authorization))
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/userinfo",
            "query_string": query,
            "headers": headers,
        }
    )


@pytest.mark.parametrize(
    "query", [b"access_token=t", b"a=1&access_token=", b"access%5Ftoken=t", b"access_token"]
)
def test_token_in_query_refused(query: bytes) -> None:
    with pytest.raises(InvalidRequest, match="URI query"):
        asyncio.run(oidc_userinfo._presented_token(_request(query)))


@pytest.mark.parametrize("query", [b"", b"x=1", b"access=1"])
def test_other_queries_pass(query: bytes) -> None:
    assert asyncio.run(oidc_userinfo._presented_token(_request(query))) == ("bearer", "tok")
    with pytest.raises(InvalidToken):
        asyncio.run(oidc_userinfo._presented_token(_request(query, b"Basic x")))
