"""A TCP relay to a server that a test can make go away: :meth:`TcpProxy.vanish` closes every
relayed connection and stops listening, as a database server that shuts down or crashes does
(its clients read end-of-stream, and new connections are refused)."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
from collections.abc import Callable
from types import TracebackType

__all__ = ["TcpProxy"]


class TcpProxy:
    """Relays ``127.0.0.1:<port>`` to ``target`` in threads, until :meth:`vanish` or the end of
    the ``with`` block."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = os.pipe()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._gone = False

    def __enter__(self) -> TcpProxy:
        self._start(self._accept_loop)
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.vanish()
        for thread in list(self._threads):
            thread.join(timeout=10)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def vanish(self) -> None:
        """Close every relayed connection and the listening socket: connections already made
        read end-of-stream, new ones are refused."""
        with self._lock:
            if self._gone:
                return
            self._gone = True
            os.write(self._wake_w, b"x")
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        # The accept loop closes the listener once it has woken (closing it here could race
        # its select()).

    def _start(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        try:
            while True:
                ready, _, _ = select.select([self._listener.fileno(), self._wake_r], [], [])
                if self._wake_r in ready:
                    return
                client, _addr = self._listener.accept()
                upstream = socket.create_connection(self._target)
                with self._lock:
                    if self._gone:
                        client.close()
                        upstream.close()
                        return
                    self._sockets += [client, upstream]
                self._start(self._pump, client, upstream)
                self._start(self._pump, upstream, client)
        finally:
            self._listener.close()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass  # the other direction, or vanish(), closed the sockets
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
