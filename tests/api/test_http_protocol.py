"""``natid serve``'s HTTP protocol (api/http_protocol.py): one socket write per response, the
same bytes as uvicorn's own protocol, nothing held back longer than one event-loop iteration.

The protocols are driven as the event loop drives them (``connection_made``,
``data_received``) on a transport that records what it is asked to do; the same request then
goes to uvicorn's unwrapped ``HttpToolsProtocol`` and the bytes on the wire are compared. The
last test runs a real uvicorn server with ``natid serve``'s options on a socket.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from api.cli.main import uvicorn_options
from api.http_protocol import JOIN_AT_MOST, HeldHeaders, OneWriteHttpToolsProtocol
from tests._serving import free_port

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
GET = b"GET /thing HTTP/1.1\r\nhost: example.test\r\n\r\n"


class RecordingTransport(asyncio.Transport):
    """What the protocol asked of the socket: ("write", bytes) and ("close", b"") in order."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.calls.append(("write", bytes(data)))

    def close(self) -> None:
        self.closing = True
        self.calls.append(("close", b""))

    def abort(self) -> None:
        self.closing = True
        self.calls.append(("abort", b""))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0  # every write went out

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def writes(self) -> list[bytes]:
        return [data for what, data in self.calls if what == "write"]

    def wire(self) -> bytes:
        return b"".join(self.writes())


async def _drive(
    protocol_class: type[HttpToolsProtocol],
    app: ASGIApp,
    request: bytes = GET,
    *,
    until: Callable[[RecordingTransport], bool] | None = None,
    transport: RecordingTransport | None = None,
) -> RecordingTransport:
    """Feed ``request`` to a new connection and run the loop until the response is out."""
    config = uvicorn.Config(app, lifespan="off", log_config=None, proxy_headers=False)
    transport = transport or RecordingTransport()
    protocol = protocol_class(
        config=config, server_state=ServerState(), app_state={}, _loop=asyncio.get_running_loop()
    )
    protocol.connection_made(transport)
    protocol.data_received(request)
    done = until or (lambda t: t.closing or protocol.cycle.response_complete)
    deadline = time.monotonic() + 5
    while not done(transport) and time.monotonic() < deadline:
        await asyncio.sleep(0)
    for _ in range(3):  # any flush scheduled for the end of the iteration
        await asyncio.sleep(0)
    protocol.connection_lost(None)
    return transport


async def _plain(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = '{"sub":"ស"}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _streamed(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"first", "more_body": True})
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    await send({"type": "http.response.body", "body": b"second", "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _fails_after_start(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"9")]}
    )
    raise RuntimeError("the application failed after starting its response")


def test_a_response_is_one_write_of_the_bytes_uvicorn_sends_in_two() -> None:
    async def both() -> tuple[RecordingTransport, RecordingTransport]:
        return await _drive(OneWriteHttpToolsProtocol, _plain), await _drive(
            HttpToolsProtocol, _plain
        )

    ours, theirs = asyncio.run(both())
    assert len(theirs.writes()) == 2  # what this module is for: headers, then the body
    assert len(ours.writes()) == 1
    assert ours.wire() == theirs.wire()
    assert ours.wire().startswith(b"HTTP/1.1 200 OK\r\n")
    assert ours.wire().endswith('\r\n\r\n{"sub":"ស"}'.encode())


def test_keep_alive_requests_each_get_one_write() -> None:
    pipelined = GET + GET

    async def both() -> tuple[RecordingTransport, RecordingTransport]:
        def two(t: RecordingTransport) -> bool:
            return t.wire().count(b"HTTP/1.1 200 OK") == 2

        return (
            await _drive(OneWriteHttpToolsProtocol, _plain, pipelined, until=two),
            await _drive(HttpToolsProtocol, _plain, pipelined, until=two),
        )

    ours, theirs = asyncio.run(both())
    assert len(ours.writes()) == 2
    assert ours.wire() == theirs.wire()
    assert ours.wire().count(b"HTTP/1.1 200 OK") == 2


def test_a_streamed_response_sends_its_headers_with_the_first_chunk_and_the_rest_as_before() -> (
    None
):
    async def both() -> tuple[RecordingTransport, RecordingTransport]:
        return await _drive(OneWriteHttpToolsProtocol, _streamed), await _drive(
            HttpToolsProtocol, _streamed
        )

    ours, theirs = asyncio.run(both())
    assert ours.wire() == theirs.wire()
    first, *rest = ours.writes()
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert first.endswith(b"\r\n\r\n5\r\nfirst\r\n")
    assert rest == theirs.writes()[2:]  # later chunks: one write each, as uvicorn's


def test_headers_whose_body_comes_later_go_out_at_the_end_of_the_loop_iteration() -> None:
    transport = RecordingTransport()
    seen: list[list[bytes]] = []

    async def slow(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-a", b"1")]})
        seen.append(transport.writes())  # held: the body may follow in this same step
        await asyncio.sleep(0)
        seen.append(transport.writes())  # the next iteration: on the wire without the body
        await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b"late"})

    asyncio.run(_drive(OneWriteHttpToolsProtocol, slow, transport=transport))
    assert seen[0] == []
    (headers,) = seen[1]
    assert headers.startswith(b"HTTP/1.1 200 OK\r\n")
    assert headers.endswith(b"x-a: 1\r\ntransfer-encoding: chunked\r\n\r\n")
    assert transport.writes()[1:] == [b"4\r\nlate\r\n0\r\n\r\n"]


def test_a_failure_after_the_headers_writes_them_before_closing() -> None:
    async def both() -> tuple[RecordingTransport, RecordingTransport]:
        return await _drive(OneWriteHttpToolsProtocol, _fails_after_start), await _drive(
            HttpToolsProtocol, _fails_after_start
        )

    ours, theirs = asyncio.run(both())
    assert ours.calls == theirs.calls
    assert [what for what, _ in ours.calls][:2] == ["write", "close"]
    assert ours.calls[0][1].endswith(b"content-length: 9\r\n\r\n")


def test_a_large_body_follows_its_headers_without_being_copied_into_one_write() -> None:
    """A body over JOIN_AT_MOST (a signed PDF, say) goes out as uvicorn sends it: the headers,
    then the body object itself, in two writes; a body of exactly that size is joined."""
    large = b"%PDF-1.7\n" + b"x" * JOIN_AT_MOST

    def sized(body: bytes) -> ASGIApp:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/pdf"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})

        return app

    async def run() -> tuple[RecordingTransport, RecordingTransport, RecordingTransport]:
        return (
            await _drive(OneWriteHttpToolsProtocol, sized(large)),
            await _drive(HttpToolsProtocol, sized(large)),
            await _drive(OneWriteHttpToolsProtocol, sized(large[:JOIN_AT_MOST])),
        )

    ours, theirs, at_limit = asyncio.run(run())
    assert ours.writes() == theirs.writes()
    assert len(ours.writes()) == 2 and ours.writes()[1] == large
    assert len(at_limit.writes()) == 1
    assert at_limit.wire().endswith(b"\r\n\r\n" + large[:JOIN_AT_MOST])


def test_closing_writes_what_is_held_and_aborting_drops_it() -> None:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        inner = RecordingTransport()
        held = HeldHeaders(inner, loop)
        held.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        assert inner.calls == []
        assert held.get_write_buffer_size() == len(b"HTTP/1.1 204 No Content\r\n\r\n")
        held.close()
        assert inner.calls == [("write", b"HTTP/1.1 204 No Content\r\n\r\n"), ("close", b"")]

        other = RecordingTransport()
        dropped = HeldHeaders(other, loop)
        dropped.write(b"HTTP/1.1 200 OK\r\n\r\n")
        dropped.abort()
        await asyncio.sleep(0)  # the flush scheduled by the write finds nothing to send
        assert other.calls == [("abort", b"")]

        body_only = RecordingTransport()
        plain = HeldHeaders(body_only, loop)
        plain.write(b"not a header block")
        assert body_only.calls == [("write", b"not a header block")]

    asyncio.run(run())


def test_natid_serve_runs_uvicorn_with_this_protocol_on_a_real_socket() -> None:
    options = uvicorn_options("127.0.0.1", free_port(), 1)
    assert options["http"] is OneWriteHttpToolsProtocol
    options.pop("factory")
    options.pop("workers")
    config = uvicorn.Config(_plain, lifespan="off", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{options['port']}") as client:
            for _ in range(3):  # keep-alive: three responses on one connection
                response = client.get("/thing")
                assert response.status_code == 200
                assert response.json() == {"sub": "ស"}
                assert response.headers["cache-control"] == "no-store"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
