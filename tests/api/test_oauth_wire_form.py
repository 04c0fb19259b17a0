"""``read_form``'s direct urlencoded parse gives what Starlette's ``request.form()`` gives:
the same fields in the same order, the same decoding (``+``, %-escapes, invalid UTF-8, raw
non-ASCII bytes), the same treatment of empty and ``=``-less fields and of repeated names, the
same errors for bodies past Starlette's limits, and the same ``invalid_request`` for other
content types. Starlette's own parser is the reference: each body goes through both."""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request

from api.oauth_wire import form_value, parse_client_credentials, read_form
from idp.errors import InvalidRequest

URLENCODED = "application/x-www-form-urlencoded"


def sync(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test body on a fresh event loop (the suite has no async plugin)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))  # type: ignore[arg-type]

    return run


def _request(body: bytes, content_type: str | None = URLENCODED, chunk: int = 0) -> Request:
    """A request whose body arrives in ``chunk``-byte messages (0: one message)."""
    headers: list[tuple[bytes, bytes]] = [(b"host", b"testserver")]
    if content_type is not None:
        headers.append((b"content-type", content_type.encode("latin-1")))
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)] if chunk else [body]
    pieces = pieces or [b""]
    messages = [
        {"type": "http.request", "body": piece, "more_body": n < len(pieces) - 1}
        for n, piece in enumerate(pieces)
    ]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        return {"type": "http.disconnect"}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/token",
        "headers": headers,
        "query_string": b"",
        "app": object(),  # as under an app: Starlette's parse errors become HTTPException
    }
    return Request(scope, receive)


async def _reference(body: bytes, content_type: str = URLENCODED, chunk: int = 0) -> Any:
    """What Starlette's ``request.form()`` makes of the body: items, or the error raised."""
    try:
        form = await _request(body, content_type, chunk).form()
    except HTTPException as exc:
        return ("error", exc.status_code, exc.detail)
    return form.multi_items()


async def _ours(body: bytes, content_type: str = URLENCODED) -> Any:
    try:
        form = await read_form(_request(body, content_type))
    except HTTPException as exc:
        return ("error", exc.status_code, exc.detail)
    return form.multi_items()


EDGE_BODIES = [
    b"",
    b"&",
    b"&&&",
    b"=",
    b"==",
    b"a",
    b"a=",
    b"=b",
    b"a=1",
    b"a=1&",
    b"&a=1",
    b"a=1&&b=2",
    b"a=1&&&b=2&&",
    b"a&b",
    b"a&b=2&c",
    b"a=1=2",
    b"a=1;b=2",
    b"a+b=c+d",
    b"a%2Bb=c%2bd",
    b"a=%20%20",
    b"a=%",
    b"a=%4",
    b"a=%zz",
    b"a=%C3%A9",
    b"a=%C3",
    b"a=%FF%FE",
    b"a=%E2%82",
    "a=é".encode(),
    "é=ü".encode("latin-1"),
    b"a=\xff\xfe",
    b"a=%00",
    b"code=abc&code=def",
    b"grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fportal.moh.gov.kh%2Fcb"
    b"&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    b"client_id=&client_secret=",
    b"scope=openid+profile%20email",
    b"a=1&A=2",
    b" a = 1 ",
    b"a=1\r\nb=2",
    b"%26=%3D&%3D=%26",
]


@pytest.mark.parametrize("body", EDGE_BODIES)
@sync
async def test_edge_bodies_parse_as_starlette_does(body: bytes) -> None:
    expected = await _reference(body)
    assert await _ours(body) == expected
    # Starlette's streaming parser gives the same when the body arrives in pieces.
    for chunk in (1, 2, 3):
        assert await _reference(body, chunk=chunk) == expected


@sync
async def test_random_bodies_parse_as_starlette_does() -> None:
    rng = random.Random(20261122)
    alphabet = [b"a", b"b", b"=", b"&", b"+", b"%", b"2", b"B", b"C", b"3", b"A", b"\xe9", b" "]
    for _ in range(1500):
        body = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        assert await _ours(body) == await _reference(body), body


@pytest.mark.parametrize(
    "content_type",
    [
        URLENCODED,
        "Application/X-WWW-Form-Urlencoded",
        "APPLICATION/X-WWW-FORM-URLENCODED",
        "application/x-www-form-urlencoded; charset=UTF-8",
        "application/x-www-form-urlencoded;charset=ISO-8859-1",
        "application/x-www-form-urlencoded ; charset=utf-8",
        " application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded\t",
        'application/x-www-form-urlencoded; a="x;y"',
    ],
)
@sync
async def test_content_type_spellings(content_type: str) -> None:
    body = b"a=1&b=%C3%A9&c"
    assert await _ours(body, content_type) == await _reference(body, content_type)


@pytest.mark.parametrize(
    "content_type",
    [None, "", "application/json", "multipart/form-data; boundary=x", "text/plain",
     "application/x-www-form-urlencodedx", "application/x-www-form"],
)  # fmt: skip
@sync
async def test_other_content_types_are_invalid_request(content_type: str | None) -> None:
    with pytest.raises(InvalidRequest, match="expected an application/x-www-form-urlencoded"):
        await read_form(_request(b"a=1", content_type))


@sync
async def test_too_many_fields_is_starlettes_error() -> None:
    for count in (999, 1000, 1001, 1500):
        body = b"&".join(b"f%d=%d" % (i, i) for i in range(count))
        expected = await _reference(body)
        assert await _ours(body) == expected
    assert expected[0] == "error" and expected[1] == 400
    assert "Too many fields" in expected[2]


@sync
async def test_empty_fields_do_not_count_but_ampersands_take_the_reference_path() -> None:
    # 1,200 '&' but few fields: below Starlette's limit; the reference path parses it.
    body = b"a=1" + b"&" * 1200 + b"b=2"
    assert await _ours(body) == await _reference(body) == [("a", "1"), ("b", "2")]


@sync
async def test_oversized_field_is_starlettes_error() -> None:
    limit = 1024 * 1024
    for size in (limit - 2, limit - 1, limit, limit + 1):
        body = b"a=" + b"x" * size
        assert await _ours(body) == await _reference(body)
    assert (await _ours(b"a=" + b"x" * (limit + 1)))[0] == "error"
    # Two fields just under the limit each: the body is over 1 MiB, both parse.
    body = b"a=" + b"x" * (limit - 8) + b"&b=" + b"y" * (limit - 8)
    assert await _ours(body) == await _reference(body)


@sync
async def test_parsed_once_and_shared_with_request_form() -> None:
    request = _request(b"a=1&b=2")
    first = await read_form(request)
    assert await read_form(request) is first
    assert await request.form() is first
    assert isinstance(first, FormData)


@sync
async def test_form_read_by_starlette_first_is_reused() -> None:
    request = _request(b"a=1")
    form = await request.form()
    assert await read_form(request) is form


@sync
async def test_consumed_stream_fails_as_before() -> None:
    request = _request(b"a=1")
    async for _ in request.stream():
        pass
    with pytest.raises(RuntimeError, match="Stream consumed"):
        await read_form(request)


@sync
async def test_repeated_and_blank_parameters_as_the_callers_see_them() -> None:
    form = await read_form(_request(b"code=a&code=b&redirect_uri=&client_id=c%20d"))
    with pytest.raises(InvalidRequest, match="the parameter code is repeated"):
        form_value(form, "code")
    assert form_value(form, "redirect_uri") is None
    assert form_value(form, "client_id") == "c d"
    with pytest.raises(InvalidRequest, match="the parameter client_secret is repeated"):
        parse_client_credentials(
            await read_form(_request(b"client_id=x&client_secret=1&client_secret=2")), None
        )


@sync
async def test_plain_bodies_take_the_direct_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparisons above compare two parsers: plain bodies do not reach Starlette's."""
    from urllib.parse import parse_qsl as original

    calls: list[str] = []

    def spy(qs: str, **kwargs: Any) -> list[tuple[str, str]]:
        calls.append(qs)
        return original(qs, **kwargs)

    monkeypatch.setattr("api.oauth_wire.parse_qsl", spy)

    async def refuse(*args: Any, **kwargs: Any) -> FormData:
        raise AssertionError("Starlette's parser was used")

    request = _request(b"a=1&b=%C3%A9")
    monkeypatch.setattr(request, "_get_form", refuse)
    assert (await read_form(request)).multi_items() == [("a", "1"), ("b", "é")]
    assert calls == ["a=1&b=%C3%A9"]
