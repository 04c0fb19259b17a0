"""The application on a real socket, for tests that drive it with an outside client
(Chromium, pyHanko, openssl, a second process): a free port, and uvicorn in a thread."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

__all__ = ["Served", "free_port", "serve_app"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Served:
    url: str  #: ``http://127.0.0.1:<port>``
    server: uvicorn.Server


@contextlib.contextmanager
def serve_app(app: FastAPI, port: int | None = None) -> Iterator[Served]:
    """uvicorn serving ``app`` on 127.0.0.1 (``port``, or a free one) in a thread until the
    block ends; fails the test if it has not started within 30 s."""
    port = free_port() if port is None else port
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", server)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
