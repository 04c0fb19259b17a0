"""Server CPU per HTTP response: uvicorn's httptools protocol against ``natid serve``'s.

    PYTHONPATH=. python bench/bench_http_writes.py [--requests N] [--rounds R]

``natid serve`` runs uvicorn's httptools protocol on a transport that sends a response's
headers with its body in one socket write (api/http_protocol.py); uvicorn's own protocol, the
baseline, sends them in two. Both serve the same small JSON response (the size and headers of a
``/userinfo`` answer) from a plain ASGI application in a uvicorn server pinned to the first
CPU; this process, pinned to the second, sends N keep-alive requests one after another on one
connection and reads each whole response. The figure is the server process's CPU time
(``/proc``) per response after a warm-up, in alternating rounds (the baseline first in even
rounds); the ratio is ``natid serve``'s protocol over uvicorn's.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SERVER = r"""
import sys

import uvicorn

from api.http_protocol import OneWriteHttpToolsProtocol

BODY = b'{"family_name":"Sok","given_name":"Dara","locale":"km","name":"Sok Dara"}' * 4
HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(BODY)).encode()),
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
    (b"x-request-id", b"0123456789abcdef0123456789abcdef"),
]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


protocol = OneWriteHttpToolsProtocol if sys.argv[2] == "natid" else "httptools"
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), http=protocol, log_config=None,
            access_log=False, lifespan="off")
"""
REQUEST = b"GET /userinfo HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer abc\r\n\r\n"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _connect(port: int, proc: subprocess.Popen[bytes]) -> socket.socket:
    deadline = time.monotonic() + 30
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port))
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start") from None
            time.sleep(0.1)


def _exchange(conn: socket.socket, expected: int) -> None:
    conn.sendall(REQUEST)
    got = 0
    while got < expected:
        chunk = conn.recv(65536)
        if not chunk:
            raise RuntimeError("the server closed the connection")
        got += len(chunk)


def one_round(kind: str, requests: int) -> tuple[float, float]:
    """(server CPU µs per response, responses per second) for ``kind`` (``natid``/``uvicorn``)."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, "-c", SERVER, str(port), kind], env=env
    )
    try:
        with _connect(port, proc) as conn:
            conn.sendall(REQUEST)
            first = conn.recv(65536)
            head, _, body = first.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += conn.recv(65536)
            size = len(head) + 4 + length
            for _ in range(2000):
                _exchange(conn, size)
            cpu0, t0 = _cpu_seconds(proc.pid), time.perf_counter()
            for _ in range(requests):
                _exchange(conn, size)
            cpu1, t1 = _cpu_seconds(proc.pid), time.perf_counter()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return (cpu1 - cpu0) / requests * 1e6, requests / (t1 - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    results: dict[str, list[tuple[float, float]]] = {"uvicorn": [], "natid": []}
    for n in range(args.rounds):
        for kind in ("uvicorn", "natid") if n % 2 == 0 else ("natid", "uvicorn"):
            results[kind].append(one_round(kind, args.requests))
    print(f"{args.requests} keep-alive requests per round, {args.rounds} rounds per protocol")
    print("| protocol | server CPU µs per response (rounds) | median | responses/s (median) |")
    print("|---|---|---:|---:|")
    labels = {"uvicorn": "uvicorn httptools (two writes)", "natid": "natid serve (one write)"}
    medians = {}
    for kind, rows in results.items():
        cpu = [round(r[0], 1) for r in rows]
        medians[kind] = statistics.median(cpu)
        rate = statistics.median(r[1] for r in rows)
        print(f"| {labels[kind]} | {', '.join(map(str, cpu))} | {medians[kind]:.1f} | {rate:.0f} |")
    ratio = medians["natid"] / medians["uvicorn"]
    print(f"natid serve / uvicorn, server CPU per response: {ratio:.2f}")


if __name__ == "__main__":
    main()
