"""``natid serve``'s HTTP/1.1 protocol: uvicorn's httptools protocol, one socket write per response.

uvicorn writes a response's status line and headers as soon as the application starts the
response, and its body as a second write when the body comes; each ``transport.write`` on an
idle connection is a ``send`` system call of its own, and on a loopback or LAN socket the kernel
does the receiver's TCP work inside that call too. A complete login is three responses, so two
of its six calls carry nothing but headers. Measured on the development machine (a pinned
loopback socket), the second call cost ~7 µs of the sender's CPU per response, about 1 % of a
login (docs/benchmarks.md, "Eighth round").

:class:`OneWriteHttpToolsProtocol` is uvicorn's ``HttpToolsProtocol`` unchanged except for the
transport it hands to its request cycles: :class:`HeldHeaders` keeps back a write that is a
response's header block (it starts ``HTTP/1.1`` and ends with the blank line) and sends it with
the next write, which is normally the body written right after it, in the same step of the same
task. Decisions:

1. **Order and bytes are never changed**: whatever is held is written before anything written
   after it, and the bytes on the wire are exactly uvicorn's (tests/api/test_http_protocol.py
   compares them with the unwrapped protocol's, for a plain, a streamed and a failed response).
2. **Nothing waits**: a held block is also written at the end of the event loop's current
   iteration (``call_soon``), so a streamed response whose body comes later, or a
   ``100 Continue`` while the client waits to send its body, goes out as promptly as before.
   Closing the transport writes it first; aborting drops it, as aborting drops unsent data.
3. **Only the header block is held.** Bodies, chunks and every other write go straight to the
   transport as before, so flow control (``pause_writing``) sees the same buffer it always did.
   A body longer than :data:`JOIN_AT_MOST` (64 KiB) is written after the held block instead of
   joined to it, so a large document is not copied for the sake of one system call.
4. **uvicorn's own classes do the HTTP.** Parsing, the ASGI cycle, keep-alive, pipelining and
   errors are uvicorn's code; this module only wraps the transport in ``connection_made``.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["JOIN_AT_MOST", "HeldHeaders", "OneWriteHttpToolsProtocol"]

_STATUS_PREFIX = b"HTTP/1.1 "
_END_OF_HEADERS = b"\r\n\r\n"
#: A write longer than this goes out after the held block, not joined to it: joining copies it.
JOIN_AT_MOST = 64 * 1024


class HeldHeaders(asyncio.Transport):
    """A transport that sends a response's header block together with the write after it."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    # --- writing -----------------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if len(data) <= JOIN_AT_MOST:
                self._transport.write(held + bytes(data))
                return
            # A large body (a signed PDF): two writes, as uvicorn makes them, not a copy.
            self._transport.write(held)
            self._transport.write(data)
        elif data[:9] == _STATUS_PREFIX and data[-4:] == _END_OF_HEADERS:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def writelines(self, list_of_data: Any) -> None:
        self.flush()
        self._transport.writelines(list_of_data)

    def flush(self) -> None:
        """Write the held header block now, if any (and the transport is still open)."""
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    # --- closing -----------------------------------------------------------------------------

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    # --- everything else is the transport's ---------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a :class:`HeldHeaders` transport."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport has the methods of asyncio.Transport without subclassing it.
        super().connection_made(HeldHeaders(cast(asyncio.Transport, transport), self.loop))
