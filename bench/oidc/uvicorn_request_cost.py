"""CPU per request of ``natid serve``'s HTTP protocol with a do-nothing ASGI application.

    PYTHONPATH=. .venv/bin/python bench/oidc/uvicorn_request_cost.py [N]

In process and without sockets: request bytes like the benchmark's ``GET /authorize`` (a long
query and a session cookie) are fed to the protocol's ``data_received`` and the response is
written to a transport that only counts the writes. Measured, each as the CPU time of N
requests after 2,000 untimed, three times:

* ``natid serve``'s protocol (api/http_protocol.py: uvicorn's httptools protocol, one write
  per response) calling an ASGI application that answers a 303 with four headers, as
  ``/authorize`` does: uvicorn's own share of a request (parsing callbacks, the scope, the
  request cycle's task, ``send``'s header checks, keep-alive bookkeeping);
* the floor: httptools' parser with a protocol that writes a canned response from its
  ``on_message_complete`` callback (no ASGI, no task): what any HTTP/1.1 server written in
  Python on the same parser would still pay.

The difference is what replacing uvicorn could save per request at most; docs/benchmarks.md,
"Twentieth round", sets it against a login's CPU.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import httptools
import uvloop
from uvicorn.config import Config
from uvicorn.server import ServerState

from api.http_protocol import OneWriteHttpToolsProtocol

REQUEST = (
    b"GET /authorize?response_type=code&client_id=bench-client-0000000001"
    b"&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback&scope=openid+profile"
    b"&state=s0123456789abcdef0123&nonce=n0123456789abcdef0123"
    b"&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
    b" HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
    b"Cookie: natid_session=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG; natid_csrf=0123456789\r\n"
    b"\r\n"
)
HEADERS = [
    (
        b"location",
        b"http://127.0.0.1:9/callback?code=abcdefghijklmnopqrstuvwxyz0123456789&state=s0",
    ),
    (b"cache-control", b"no-store"),
    (b"x-request-id", b"0123456789abcdef0123456789abcdef"),
    (b"content-length", b"0"),
]
CANNED = (
    b"HTTP/1.1 303 See Other\r\n"
    + b"".join(name + b": " + value + b"\r\n" for name, value in HEADERS)
    + b"\r\n"
)


async def do_nothing(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 303, "headers": HEADERS})
    await send({"type": "http.response.body", "body": b""})


class CountingTransport(asyncio.Transport):
    """A transport that counts writes and sends nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.closing = False

    def write(self, data: Any) -> None:
        self.writes += 1

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class CannedProtocol(asyncio.Protocol):
    """httptools' parser, a canned response per request: the floor."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: CountingTransport | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.url = b""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_message_complete(self) -> None:
        assert self.transport is not None
        self.transport.write(CANNED)
        self.headers = []


async def _drive(protocol: Any, transport: CountingTransport, n: int) -> float:
    protocol.connection_made(transport)
    for _ in range(2000):
        protocol.data_received(REQUEST)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    writes = transport.writes
    started = time.process_time()
    for _ in range(n):
        protocol.data_received(REQUEST)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    elapsed = time.process_time() - started
    if transport.writes - writes != n:
        raise SystemExit(f"expected {n} responses, got {transport.writes - writes}")
    return elapsed / n * 1e6


async def uvicorn_cost(n: int) -> float:
    config = Config(
        app=do_nothing,
        http=OneWriteHttpToolsProtocol,
        access_log=False,
        log_config=None,
        proxy_headers=False,
    )
    config.load()
    protocol = OneWriteHttpToolsProtocol(
        config=config, server_state=ServerState(), app_state={}, _loop=asyncio.get_running_loop()
    )
    return await _drive(protocol, CountingTransport(), n)


async def floor_cost(n: int) -> float:
    return await _drive(CannedProtocol(), CountingTransport(), n)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    print(f"CPU per request, {n} requests after 2,000 untimed, three runs each (µs):")
    for name, run in (
        ("natid serve's protocol + ASGI", uvicorn_cost),
        ("httptools floor", floor_cost),
    ):
        figures = [uvloop.run(run(n)) for _ in range(3)]
        print(f"  {name:<30} " + ", ".join(f"{f:.1f}" for f in figures))


if __name__ == "__main__":
    main()
