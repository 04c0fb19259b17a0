"""OCSP over HTTP: NatID's responder against ``openssl ocsp`` over the same 10,000 certificates.

    PYTHONPATH=. python bench/bench_ocsp_http.py [--certs N] [--duration S] [--connections C]
        [--rate-fraction F] [--no-pin] [--no-multi] [--generator python|wrk] [--no-ceiling]

Issue 3, "Benchmarks": responses per second and p50/p99 latency over HTTP, side by side with
``openssl ocsp`` as responder, same load generator, same run. Goal: at least ten times
``openssl ocsp``, p99 under 10 ms.

1. A data directory with the development hierarchy (``natid ca init``'s code) and N
   citizen-auth certificates of the ``citizen`` CA, signed with the CA key from the key
   backend and written straight into the NatID store (the issuance pipeline is measured by
   bench_issuance.py; this benchmark is about OCSP), so the route answers ``good``.
2. The same N certificates as an OpenSSL ``index.txt``, and a delegated responder certificate
   of the same CA for ``openssl ocsp`` (a P-256 key like NatID's responder, in a PEM file).
3. Load generator: one asyncio client in this process (raw HTTP/1.1 over sockets, uvloop when
   installed), the same for every target: C connections for D seconds, each cycling through one
   request per certificate - SHA-1 CertIDs, no nonce: the RFC 5019 pre-signed path. It keeps a
   connection alive while the server allows and reconnects when the server closes it. GET
   (RFC 6960 §A.1 base64 path) and POST are measured apart. NatID is warmed first (one request
   per certificate): its responses are pre-signed, as in production; ``openssl ocsp`` signs
   every response, which is its only mode. ``--generator wrk`` drives every target with
   ``wrk`` (C, one thread on the same CPU, a Lua script cycling through the same requests;
   saturation rows only, wrk has no fixed-rate mode). OpenSSL 3.0's responder spins forever on a
   connection closed before its request line (openssl/openssl#31129, #23934): wrk's start-up
   probe connection does that (the script resolves without probing) and so does the end of
   every wrk run, so with wrk ``openssl ocsp`` is restarted for each row.
4. Two kinds of row. *Saturation*: every connection sends its next request as soon as the
   previous answer is in; the rate is the most the server gives. *Fixed rate*: the same offered
   rate for both systems, ``--rate-fraction`` (default 0.8) of ``openssl ocsp``'s saturation
   rate in this run, spread over the connections; a request's latency counts from when it was
   due, not when it left, so a server that stalls is charged for the requests queued behind
   the stall (no coordinated omission, as wrk2). A p99 goal is only meaningful at a stated load.
5. Targets, one process each: ``natid serve`` (uvicorn, 1 worker, in-process cache) and
   ``openssl ocsp -port``, each pinned to the first CPU with ``taskset`` while the load
   generator is pinned to the second, so neither server competes with the generator
   (``--no-pin`` to share). Then two processes each, sharing every CPU with the generator:
   ``natid serve --workers 2`` (Redis cache) and ``openssl ocsp -multi 2`` (``--no-multi``
   skips them). And the ceiling of any Python server here (``--no-ceiling`` skips it): a raw
   uvloop ``asyncio.Protocol`` that parses nothing and answers every request with one fixed
   NatID response and its headers; no responder written in Python can be faster.

``openssl ocsp`` serves one request per connection and closes it (HTTP/1.0); the client then
reconnects, so its throughput includes a TCP handshake per request (latency is measured from
sending the request to the end of the response, as wrk does). That is how the tool works,
and is part of the comparison. ``openssl ocsp`` answers GET only at its root (``/<base64>``),
so it is asked there; NatID at the URL its certificates name.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
NATID = Path(sys.executable).with_name("natid")
REDIS_URL = os.environ.get("NATID_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")

#: wrk script: one request per certificate in turn, from the files write_requests makes.
WRK_SCRIPT = r"""
local method, path, file = os.getenv("OCSP_METHOD"), os.getenv("OCSP_PATH"), os.getenv("OCSP_FILE")
local reqs, i = {}, 0
-- wrk.resolve opens and closes a probe connection, on which openssl ocsp 3.0 then hangs.
function wrk.resolve(host, service) wrk.addrs = wrk.lookup(host, service) end
function init(args)  -- not at load time: wrk.init has set the Host header by now
  for line in io.lines(file) do
    if method == "GET" then
      reqs[#reqs + 1] = wrk.format("GET", path .. line)
    else
      local der = line:gsub("..", function(h) return string.char(tonumber(h, 16)) end)
      local headers = {["Content-Type"] = "application/ocsp-request"}
      reqs[#reqs + 1] = wrk.format("POST", path, headers, der)
    end
  end
end
function request() i = i % #reqs + 1; return reqs[i] end
"""

#: The Python ceiling: answers every HTTP/1.1 request with the bytes of the file in argv[2].
CEILING_SERVER = r"""
import asyncio, re, sys, uvloop
RESPONSE = open(sys.argv[2], "rb").read()
LENGTH = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")
class Fixed(asyncio.Protocol):
    def connection_made(self, transport): self.transport, self.buffer = transport, b""
    def data_received(self, data):
        buffer, answers = self.buffer + data, 0
        while (end := buffer.find(b"\r\n\r\n")) >= 0:
            length = LENGTH.search(buffer, 0, end + 2)
            total = end + 4 + (int(length.group(1)) if length else 0)
            if len(buffer) < total:
                break
            buffer, answers = buffer[total:], answers + 1
        self.buffer = buffer
        if answers:
            self.transport.write(RESPONSE * answers)
async def main():
    server = await asyncio.get_running_loop().create_server(Fixed, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()
uvloop.run(main())
"""


@dataclass(frozen=True, slots=True)
class Row:
    target: str
    method: str
    mode: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    #: Server CPU time per response (all its processes), in microseconds.
    cpu_us: float


# --- set-up -------------------------------------------------------------------------------------


def make_certificates(
    data: Path, count: int, base_url: str, database_url: str | None = None
) -> tuple[list[int], Path]:
    """The hierarchy and ``count`` citizen certificates in the NatID store; OpenSSL files."""
    from api.context import build_context
    from ca.hierarchy import ca_key_label
    from ca.names import NaturalPersonSubject, natural_person_name, service_name
    from ca.profiles import ProfileName, get_profile
    from ca.store import CertificateStore
    from ca.urls import PkiUrls
    from ca.x509build import build_certificate, new_serial
    from core.settings import load_settings

    settings = load_settings(data_dir=data, public_base_url=base_url, database_url=database_url)
    ctx = build_context(settings)
    try:
        hierarchy = ctx.ca().ensure_hierarchy(actor="bench")
        ca_cert = hierarchy.cas["citizen"]
        ca_key = ctx.keys.load(ca_key_label("citizen"))
        profile = get_profile(ProfileName.CITIZEN_AUTH)
        urls = PkiUrls(base_url)
        now = ctx.clock.now()
        not_before, not_after = profile.validity_window(at=now)
        store = CertificateStore(ctx.sessions)
        serials, index = [], []
        with store.write() as session:
            for n in range(count):
                key = ec.generate_private_key(ec.SECP256R1())
                person = NaturalPersonSubject(
                    given_name_km="ដារ៉ា", family_name_km="សុខ", given_name_latin="DARA",
                    family_name_latin="SOK", national_id=f"000{n:06d}",
                )  # fmt: skip
                cert = build_certificate(
                    profile, subject=natural_person_name(person), public_key=key.public_key(),
                    issuer_cert=ca_cert, issuer_key=ca_key, serial=new_serial(),
                    not_before=not_before, not_after=not_after, urls=urls, ca_name="citizen",
                )  # fmt: skip
                issued = store.add_certificate(
                    session, cert, issuer="citizen", profile=profile.name,
                    subject_id=f"bench-{n}", spki_sha256=f"{n:064x}", key_algorithm="ec-p256",
                    key_label=None, issued_at=now, requested_by="bench",
                )  # fmt: skip
                serials.append(cert.serial_number)
                expiry = cert.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
                index.append(f"V\t{expiry}\t\t{issued.serial_hex}\tunknown\t/CN=bench {n}\n")
        # OpenSSL's side: the same CA, the same certificates, its own delegated responder.
        work = data / "openssl"
        work.mkdir()
        (work / "index.txt").write_text("".join(index))
        (work / "index.txt.attr").write_text("unique_subject = no\n")
        (work / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        responder_key = ec.generate_private_key(ec.SECP256R1())
        rprofile = get_profile(ProfileName.OCSP_RESPONDER)
        rstart, rend = rprofile.validity_window(at=now)
        responder = build_certificate(
            rprofile, subject=service_name("openssl ocsp bench responder", organisation="Bench"),
            public_key=responder_key.public_key(), issuer_cert=ca_cert, issuer_key=ca_key,
            serial=new_serial(), not_before=rstart, not_after=rend, urls=urls, ca_name="citizen",
        )  # fmt: skip
        (work / "ocsp.pem").write_bytes(responder.public_bytes(serialization.Encoding.PEM))
        (work / "ocsp.key").write_bytes(
            responder_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        write_requests(work, ca_cert, serials)
    finally:
        ctx.close()
    return serials, work


def write_requests(work: Path, issuer: x509.Certificate, serials: list[int]) -> None:
    """One request per certificate: hex DER lines (POST) and base64 GET paths."""
    from asn1crypto import ocsp as asn1_ocsp  # type: ignore[import-untyped]
    from asn1crypto import x509 as asn1_x509

    cert = asn1_x509.Certificate.load(issuer.public_bytes(serialization.Encoding.DER))
    posts, gets = [], []
    for serial in serials:
        req_cert = {
            "hash_algorithm": {"algorithm": "sha1"},
            "issuer_name_hash": cert.subject.sha1,
            "issuer_key_hash": cert.public_key.sha1,
            "serial_number": serial,
        }
        tbs = {"request_list": [{"req_cert": req_cert}]}
        der = bytes(asn1_ocsp.OCSPRequest({"tbs_request": tbs}).dump())
        posts.append(der.hex() + "\n")
        gets.append(quote(base64.b64encode(der).decode(), safe="") + "\n")
    (work / "post.txt").write_text("".join(posts))
    (work / "get.txt").write_text("".join(gets))


# --- servers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, work: Path, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Until ``url`` answers ``good`` to a real OCSP request.

    Not a bare TCP connect: ``openssl ocsp`` (3.0) waits forever on a connection that closes
    without a request, and then serves nobody.
    """
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            check_good(url, work)
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
        else:
            return


@contextlib.contextmanager
def running(cmd: list[str], env: dict[str, str], url: str, work: Path) -> Iterator[int]:
    """Run a server in its own process group until the block ends; yields the group id."""
    log_file = work / "server.log"
    with log_file.open("wb") as log:
        proc = subprocess.Popen(
            cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, process_group=0
        )
    try:
        try:
            wait_ready(url, work, proc)
        except RuntimeError:
            print(" ".join(cmd), log_file.read_text()[-3000:], file=sys.stderr)
            raise
        time.sleep(1.0)  # every worker up
        yield proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def group_cpu_seconds(group: int) -> float:
    """User + system CPU time of every live process in a process group (Linux ``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        # After the command: state ppid pgrp ... utime (14th field overall) stime (15th).
        if int(fields[2]) == group:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def check_good(url: str, work: Path) -> None:
    der = bytes.fromhex((work / "post.txt").read_text().split("\n", 1)[0])
    r = httpx.post(
        url, content=der, headers={"Content-Type": "application/ocsp-request"}, timeout=10
    )
    response = ocsp.load_der_ocsp_response(r.content)
    if response.certificate_status is not ocsp.OCSPCertStatus.GOOD:
        raise RuntimeError(f"{url} did not answer good")


def warm(url: str, work: Path, passes: int) -> None:
    """One request per certificate (several passes when workers do not share a cache)."""
    bodies = [bytes.fromhex(h) for h in (work / "post.txt").read_text().split()]
    headers = {"Content-Type": "application/ocsp-request"}
    for _ in range(passes):
        with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as client:
            for body in bodies:
                client.post(url, content=body, headers=headers)


# --- load ---------------------------------------------------------------------------------------

_CONTENT_LENGTH = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")
_CLOSE = re.compile(rb"(?i)\r\nconnection:\s*close")


class _Client(asyncio.Protocol):
    """One HTTP/1.1 client connection: one request in flight, the response read by length."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[bytes] | None = None
        self.transport: Any = None  # asyncio's or uvloop's transport
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[: end + 2])
        match = _CONTENT_LENGTH.search(head)
        if match is None:
            waiter.set_exception(ConnectionError("no Content-Length"))
            return
        total = end + 4 + int(match.group(1))
        if len(self.buffer) >= total:
            del self.buffer[:total]
            waiter.set_result(head)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("closed"))


@dataclass(slots=True)
class _Tally:
    latencies: list[float]
    errors: int = 0


async def _connection(
    host: str,
    port: int,
    requests: list[bytes],
    start: int,
    until: float,
    interval: float | None,
    tally: _Tally,
) -> None:
    """Keep-alive while the server allows, reconnect when it closes (openssl: every request).

    Closed loop (``interval`` None): the next request leaves when the response is in. Fixed
    rate: request k is due at ``k * interval``; its latency counts from when it was due, so a
    stalled server is charged for the requests that waited (no coordinated omission, as wrk2).
    """
    loop = asyncio.get_running_loop()
    client: _Client | None = None
    i = start
    due = time.perf_counter()
    while True:
        if interval is not None:
            due += interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        now = time.perf_counter()
        if now >= until:
            break
        sent_at = due if interval is not None else now
        try:
            if client is None or client.closed:
                _transport, client = await loop.create_connection(_Client, host, port)
            assert client.transport is not None
            client.waiter = loop.create_future()
            client.transport.write(requests[i % len(requests)])
            i += 1
            head = await client.waiter
        except (ConnectionError, OSError):
            tally.errors += 1
            if client is not None and client.transport is not None:
                client.transport.close()
            client = None
            continue
        tally.latencies.append(time.perf_counter() - sent_at)
        if head[9:12] != b"200":
            tally.errors += 1
        if not head.startswith(b"HTTP/1.1") or _CLOSE.search(head):
            assert client.transport is not None
            client.transport.close()
            client = None
    if client is not None and client.transport is not None:
        client.transport.close()


def http_requests(method: str, url: str, work: Path) -> list[bytes]:
    host_port, path = url.split("/", 3)[2], "/" + url.split("/", 3)[3].rstrip("/")
    if method == "GET":
        return [
            f"GET {path.rstrip('/')}/{line} HTTP/1.1\r\nHost: {host_port}\r\n\r\n".encode()
            for line in (work / "get.txt").read_text().split()
        ]
    requests = []
    for line in (work / "post.txt").read_text().split():
        body = bytes.fromhex(line)
        requests.append(
            f"POST {path} HTTP/1.1\r\nHost: {host_port}\r\n"
            f"Content-Type: application/ocsp-request\r\nContent-Length: {len(body)}\r\n\r\n"
            .encode() + body
        )  # fmt: skip
    return requests


def load(
    target: str,
    method: str,
    url: str,
    work: Path,
    args: argparse.Namespace,
    group: int,
    rate: float = 0,
) -> Row:
    """``args.connections`` connections for ``args.duration`` s; closed loop or ``rate``/s."""
    host, port = url.split("/", 3)[2].rsplit(":", 1)
    requests = http_requests(method, url, work)
    tally = _Tally([])
    interval = args.connections / rate if rate else None

    async def run() -> None:
        until = time.perf_counter() + args.duration
        step = len(requests) // args.connections
        await asyncio.gather(
            *(_connection(host, int(port), requests, c * step, until, interval, tally)
              for c in range(args.connections))
        )  # fmt: skip

    cpu_before = group_cpu_seconds(group)
    started = time.perf_counter()
    _run(run())
    elapsed = time.perf_counter() - started
    cpu = group_cpu_seconds(group) - cpu_before
    latencies = sorted(tally.latencies)

    def pct(p: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

    mode = f"{rate:,.0f}/s offered" if rate else f"saturation, {args.connections} conn."
    done = len(latencies)
    cpu_us = cpu / done * 1e6 if done else float("nan")
    return Row(target, method, mode, done / elapsed, pct(0.50), pct(0.99), tally.errors, cpu_us)


_WRK_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_WRK_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def load_wrk(target: str, method: str, url: str, work: Path, args: argparse.Namespace,
             group: int) -> Row:  # fmt: skip
    """Saturation with ``wrk`` (one thread, this process's CPU): the same requests as load()."""
    script = work / "ocsp.lua"
    script.write_text(WRK_SCRIPT)
    base, path = url.split("/", 3)[:3], ("/" + url.split("/", 3)[3]).rstrip("/")
    env = os.environ | {
        "OCSP_METHOD": method,
        "OCSP_PATH": (path + "/") if method == "GET" else (path or "/"),
        "OCSP_FILE": str(work / ("get.txt" if method == "GET" else "post.txt")),
    }
    cmd = ["wrk", "-t1", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
           "-s", str(script), "/".join(base) + "/"]  # fmt: skip
    cpu_before = group_cpu_seconds(group)
    out = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=args.duration + 60, check=True
    ).stdout
    cpu = group_cpu_seconds(group) - cpu_before
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    pct = {p: float(v) * _WRK_UNIT_MS[u] for p, v, u in _WRK_LATENCY.findall(out)}
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    for kind in re.findall(r"Socket errors: (.*)", out):  # connect N, read N, write N, timeout N
        errors += sum(int(n) for n in re.findall(r"\d+", kind))
    mode = f"saturation, {args.connections} conn., wrk"
    cpu_us = cpu / done * 1e6 if done else float("nan")
    return Row(target, method, mode, rps, pct.get("50", float("nan")),
               pct.get("99", float("nan")), errors, cpu_us)  # fmt: skip


def saturate(target: str, method: str, url: str, work: Path, args: argparse.Namespace,
             group: int) -> Row:  # fmt: skip
    """A saturation row with the chosen load generator."""
    if args.generator == "wrk":
        return load_wrk(target, method, url, work, args, group)
    return load(target, method, url, work, args, group)


def save_fixed_response(url: str, work: Path) -> Path:
    """One NatID answer (status line, headers, body) for the ceiling server to repeat."""
    der = bytes.fromhex((work / "post.txt").read_text().split("\n", 1)[0])
    r = httpx.post(url, content=der, headers={"Content-Type": "application/ocsp-request"})
    skip = {"date", "server", "x-request-id"}
    head = "".join(f"{k}: {v}\r\n" for k, v in r.headers.items() if k.lower() not in skip)
    path = work / "fixed-response.http"
    path.write_bytes(f"HTTP/1.1 200 OK\r\n{head}\r\n".encode() + r.content)
    return path


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    """The load generator's event loop: uvloop when installed (for every target alike)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        asyncio.run(coroutine)
    else:
        uvloop.run(coroutine)


# --- the run ------------------------------------------------------------------------------------


def openssl_command(work: Path, port: int, multi: int) -> list[str]:
    openssl = shutil.which("openssl") or "openssl"
    cmd = [openssl, "ocsp", "-index", str(work / "index.txt"), "-port", str(port),
           "-rsigner", str(work / "ocsp.pem"), "-rkey", str(work / "ocsp.key"),
           "-CA", str(work / "ca.pem"), "-nmin", "720", "-ignore_err"]  # fmt: skip
    return cmd + (["-multi", str(multi)] if multi > 1 else [])


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    return cmd if cpu is None else ["taskset", "-c", str(cpu), *cmd]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certs", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per row")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--rate-fraction", type=float, default=0.8,
        help="fixed-rate rows offer this fraction of openssl ocsp's saturation rate",
    )  # fmt: skip
    parser.add_argument(
        "--no-pin", action="store_true",
        help="do not pin the single-process servers to CPU 0 and the load generator to CPU 1",
    )  # fmt: skip
    parser.add_argument("--no-multi", action="store_true", help="skip the 2-process rows")
    parser.add_argument(
        "--generator", choices=("python", "wrk"), default="python",
        help="load generator: the asyncio client (saturation and fixed-rate rows) or wrk"
        " (saturation rows only)",
    )  # fmt: skip
    parser.add_argument(
        "--no-ceiling", action="store_true", help="skip the fixed-response Python ceiling rows"
    )
    parser.add_argument(
        "--database-url", default=None,
        help="NatID's database (an empty one), e.g. postgresql+psycopg://postgres@127.0.0.1/bench;"
        " default: SQLite in the temporary data directory",
    )  # fmt: skip
    args = parser.parse_args()
    if args.generator == "wrk" and shutil.which("wrk") is None:
        parser.error("--generator wrk needs wrk on PATH (Debian: apt-get install wrk)")
    cpus = sorted(os.sched_getaffinity(0))
    pin = not args.no_pin and len(cpus) >= 2 and shutil.which("taskset") is not None
    server_cpu, client_cpu = (cpus[0], cpus[1]) if pin else (None, None)
    rows: list[Row] = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "var"
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        t0 = time.perf_counter()
        _serials, work = make_certificates(data, args.certs, base, args.database_url)
        setup_s = time.perf_counter() - t0
        env = {k: v for k, v in os.environ.items() if not k.startswith("NATID_")}
        env |= {"NATID_DATA_DIR": str(data), "NATID_PUBLIC_BASE_URL": base,
                "NATID_LOG_LEVEL": "WARNING"}  # fmt: skip
        if args.database_url:
            env["NATID_DATABASE_URL"] = args.database_url
        url = f"{base}/pki/ocsp/citizen"
        if client_cpu is not None:
            os.sched_setaffinity(0, {client_cpu})
        # 1. One process each, pinned: saturation, then both at a rate openssl sustains (the
        # fixed-rate rows need the asyncio generator). wrk leaves openssl ocsp hanging at the
        # end of each run (module docstring), so with wrk it is started afresh for every row.
        fixed_rate = args.generator == "python"
        offered: dict[str, float] = {}
        for methods in (("GET", "POST"),) if fixed_rate else (("GET",), ("POST",)):
            oport = free_port()
            ourl = f"http://127.0.0.1:{oport}/"
            cmd = pinned(openssl_command(work, oport, 1), server_cpu)
            with running(cmd, env, ourl, work) as group:
                for method in methods:
                    row = saturate("openssl ocsp", method, ourl, work, args, group)
                    rows.append(row)
                    if fixed_rate:
                        offered[method] = row.rps * args.rate_fraction
                        rows.append(load("openssl ocsp", method, ourl, work, args, group,
                                         offered[method]))  # fmt: skip
        natid = [str(NATID), "serve", "--port", str(port), "--workers", "1"]
        with running(pinned(natid, server_cpu), env, url, work) as group:
            warm(url, work, passes=1)
            fixed = save_fixed_response(url, work)
            for method in ("GET", "POST"):
                label = "NatID, 1 worker"
                rows.append(saturate(label, method, url, work, args, group))
                if fixed_rate:
                    rows.append(load(label, method, url, work, args, group, offered[method]))
        # The ceiling of any Python server on this core: fixed bytes, nothing parsed.
        if not args.no_ceiling:
            cport = free_port()
            curl = f"http://127.0.0.1:{cport}/pki/ocsp/citizen"
            cmd = pinned([sys.executable, "-c", CEILING_SERVER, str(cport), str(fixed)], server_cpu)
            with running(cmd, env, curl, work) as group:
                label = "ceiling: uvloop Protocol, fixed response"
                rows += [saturate(label, m, curl, work, args, group) for m in ("GET", "POST")]
        # 2. Two processes each, on both cores, which the load generator shares.
        if not args.no_multi:
            os.sched_setaffinity(0, set(cpus))
            run_env = env | {"NATID_REDIS_URL": REDIS_URL}
            natid2 = [str(NATID), "serve", "--port", str(port), "--workers", "2"]
            with running(natid2, run_env, url, work) as group:
                warm(url, work, passes=1)
                label = "NatID, 2 workers (Redis)"
                rows += [saturate(label, m, url, work, args, group) for m in ("GET", "POST")]
            for methods in (("GET", "POST"),) if fixed_rate else (("GET",), ("POST",)):
                oport = free_port()
                ourl = f"http://127.0.0.1:{oport}/"
                with running(openssl_command(work, oport, 2), env, ourl, work) as group:
                    label = "openssl ocsp -multi 2"
                    rows += [saturate(label, m, ourl, work, args, group) for m in methods]

    baseline = {
        (r.method, r.mode.startswith("saturation")): r.rps
        for r in rows
        if r.target == "openssl ocsp"
    }
    generator = "wrk, one thread" if args.generator == "wrk" else "one asyncio load generator"
    where = (
        f"single-process servers pinned to CPU {server_cpu}, load generator to CPU "
        f"{client_cpu}; the 2-process rows share both CPUs with the generator"
        if pin
        else "servers and load generator share every CPU"
    )
    print(
        f"{args.certs:,} citizen certificates (set-up {setup_s:.0f} s); {generator}, "
        f"{args.connections} connections, {args.duration} s per row; SHA-1 CertID, "
        f"no nonce (RFC 5019 pre-signed path); {where}; load average before / after "
        f"{load_before[0]:.1f} / {os.getloadavg()[0]:.1f}.\n"
    )
    print(
        "| responder | method | load | responses/s | p50 ms | p99 ms | / openssl ocsp "
        "| server CPU µs per response | errors |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        saturation = r.mode.startswith("saturation")
        base_rps = baseline.get((r.method, saturation))
        ratio = f"{r.rps / base_rps:.2f}" if base_rps and saturation else ""
        print(
            f"| {r.target} | {r.method} | {r.mode} | {r.rps:,.0f} | {r.p50_ms:.2f} "
            f"| {r.p99_ms:.2f} | {ratio} | {r.cpu_us:.0f} | {r.errors} |"
        )


if __name__ == "__main__":
    main()
