"""KYC attribute release: ``GET /kyc/v1/person`` against a plain JSON endpoint, same run.

    PYTHONPATH=. python bench/bench_kyc.py [--duration S] [--connections C] [--database-url URL]
        [--redis-url URL] [--no-pin] [--profile FILE]

Issue 6, "Benchmarks": KYC responses per second and p99 latency, beside a plain JSON endpoint
that reads the same attributes from the same database; goal: within 3x of it.

1. A data directory (SQLite in it unless ``--database-url``) with the development key store, a
   citizen proven in person (level high) with an active IdP account, a bank (register entity,
   FAPI 2.0 client with ``private_key_jwt``, KYC policy of six attributes, purpose
   ``account_opening``, rate limit 100,000/min so the limit never answers), and the citizen's
   consent. The bank's DPoP-bound access token is obtained in this process through POST /token
   (client assertion + DPoP proof), as a bank does.
2. The server: ``create_app`` (every NatID router and middleware, as ``natid serve``) plus one
   route defined here, ``GET /bench/plain-person?id=...``, that reads the same attributes
   through the same register (the person, and the proofing record behind the level) and
   answers JSON: no token, no policy, no consent, no signature, no access log. One uvicorn
   worker in a subprocess, pinned to the first CPU when there are two or more (``taskset``);
   the load generator is pinned to the second.
3. The KYC path per request: DPoP proof checks (signature, ``htu``/``htm``, ``ath``, server
   nonce, ``jti`` replay cache), the access token (JWT signature, grant lookup), scope and
   policy, consent, the register read, the ``verified_claims`` JWS signature, the access-log
   row and its audit entry. DPoP proofs are made by the client *before* the timed run (with
   the server's nonce, fetched first), so the client's signing does not count; proofs expire
   after 60 s (RFC 9449 §11.1 window), so runs are short.
4. Load generator: raw HTTP/1.1 keep-alive connections over asyncio in this process, C
   connections for D seconds each target, every connection sending its next request when the
   previous answer is in (saturation). Latency is from send to end of response.

``--profile FILE`` samples the server's threads (:class:`StackSampler`) and writes where the
time goes to FILE (a little slower; for finding the hot path, not for the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PLAIN_PATH = "/bench/plain-person"
KYC_PATH = "/kyc/v1/person"
SCOPES = ("openid", "kyc", "kyc:purpose:account_opening", "profile", "kyc:national_id_number")


# --- the server (run in a subprocess: ``bench_kyc.py --serve``) ---------------------------------


def serve(port: int, profile: str | None) -> None:
    """NatID's whole app plus the plain endpoint, on one uvicorn worker."""
    import uvicorn
    from fastapi import Query
    from fastapi.responses import JSONResponse

    from api.app import create_app
    from api.context import build_context
    from core.settings import load_settings

    ctx = build_context(load_settings(), migrate=False)
    app = create_app(ctx, close_context=True)

    @app.get(PLAIN_PATH)
    def plain_person(person_id: str = Query(alias="id")) -> JSONResponse:
        person = ctx.register.get_person(person_id)
        proofing = ctx.register.current_proofing(person_id)
        return JSONResponse(
            {
                "name": person.name_latin,
                "given_name": person.given_name_latin,
                "family_name": person.family_name_latin,
                "name#km": person.name_km,
                "birthdate": person.birthdate.isoformat(),
                "national_id_number": person.national_id,
                "assurance_level": proofing.level.value if proofing else None,
            }
        )

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    sampler = StackSampler(profile) if profile else None
    try:
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the SIGINT it handled
            server.run()
    finally:
        if sampler is not None:
            sampler.stop()


class StackSampler:
    """A sampling profiler over every thread (sync routes run in a thread pool, where cProfile
    started in the main thread sees nothing): every 2 ms, the stack of each busy thread; at
    the end, functions by the share of samples they were on the stack (inclusive) or on top."""

    def __init__(self, path: str, interval: float = 0.002) -> None:
        import collections
        import threading

        self.path = path
        self.inclusive: collections.Counter[str] = collections.Counter()
        self.top: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._me = -1  # the sampler's own thread, set when it starts
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        import threading

        self._me = threading.get_ident()
        idle = ("wait", "select", "_worker", "run_forever", "_run_once", "get", "poll")
        while not self._stop.wait(interval):
            for ident, frame in sys._current_frames().items():
                if ident == self._me or frame.f_code.co_name in idle:
                    continue
                seen: set[str] = set()
                self.top[_where(frame)] += 1
                walk: Any = frame
                while walk is not None:
                    seen.add(_where(walk))
                    walk = walk.f_back
                for name in seen:
                    self.inclusive[name] += 1
                self.samples += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        total = max(1, self.samples)
        lines = [f"{self.samples} samples of busy threads", "", "inclusive:"]
        lines += [f"{n / total:6.1%}  {k}" for k, n in self.inclusive.most_common(70)]
        lines += ["", "self (top of stack):"]
        lines += [f"{n / total:6.1%}  {k}" for k, n in self.top.most_common(40)]
        Path(self.path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _where(frame: Any) -> str:
    code = frame.f_code
    name = code.co_filename.replace(str(ROOT) + "/", "")
    return f"{name}:{code.co_firstlineno} {code.co_name}"


# --- set-up in this process ---------------------------------------------------------------------


@dataclass
class Fixture:
    person_id: str
    token: str
    key: Any  # tests.api.idp_token._rp.RPKey


def prepare(env: dict[str, str]) -> Fixture:
    """Citizen, bank, consent and a DPoP-bound token, made through the real code paths."""
    os.environ.update(env)
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.context import build_context
    from api.routers.kyc import kyc_service
    from core.settings import load_settings
    from idp.consents import Consents
    from kyc import ClientFacts
    from tests.api.idp_token._rp import DPoPSession, RegisteredRP, make_rp_key, mint_code
    from tests.api.idp_token._tokens import _post
    from tests.api.kyc.conftest import BANK_SCOPES
    from tests.idp._accounts import person_record

    ctx = build_context(load_settings())
    try:
        ctx.idp_core().signing_keys.ensure_active(actor="bench")
        now = ctx.clock.now()
        person = ctx.register.add_person(person_record())
        ctx.register.record_proofing(
            person.id,
            method="in_person",
            level="high",
            evidence="national_id_card",
            office="One Window Office, Phnom Penh",
            at=now - dt.timedelta(days=30),
        )
        account = ctx.idp_accounts().create(person.id, actor="bench", activate=True)
        entity = ctx.register.add_entity(
            {"register_no": "00012345", "name_km": "ធនាគារ អេស៊ីលីដា", "name_en": "ACLEDA Bank",
             "kind": "bank"}
        )  # fmt: skip
        key = make_rp_key("ES256")
        client = (
            ctx.idp_core()
            .clients.add(
                name="ACLEDA Bank",
                redirect_uris=["https://bank.example.kh/cb"],
                auth_method="private_key_jwt",
                jwks=key.jwks,
                fapi2=True,
                scopes=BANK_SCOPES,
            )
            .client
        )
        kyc_service(ctx).relying_parties.add(
            entity_id=entity.id,
            client=ClientFacts(client.client_id, fapi2=True),
            attributes="name,given_name,family_name,name#km,birthdate,national_id_number",
            purposes="account_opening",
            rate_limit="100000/min",
        )
        Consents(ctx.sessions, ledger=ctx.ledger).grant(
            account.id, client.client_id, SCOPES, (), at=now
        )
        rp = RegisteredRP(client, key=key)
        with TestClient(create_app(ctx)) as http:
            session = DPoPSession(http, key, ctx.idp_core().issuer, now)
            code, verifier = mint_code(
                ctx.idp_core(), rp, person.id, now, scopes=SCOPES, dpop_jkt=key.jkt
            )
            form = {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": client.redirect_uris[0],
                "code_verifier": verifier,
            }
            body = _post(http, ctx.idp_core(), ctx, rp, form, session)
        return Fixture(person.id, str(body["access_token"]), key)
    finally:
        ctx.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def server(env: dict[str, str], port: int, cpu: int | None, profile: str | None) -> Iterator[int]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", str(port)]
    if profile:
        cmd += ["--profile", profile]
    if cpu is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(cpu), *cmd]
    proc = subprocess.Popen(cmd, env={**os.environ, **env, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 240  # first import on a busy machine
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        yield proc.pid
    finally:
        proc.send_signal(2)  # SIGINT: uvicorn shuts down cleanly (and the profile is written)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


# --- load generator ---------------------------------------------------------------------------


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0
    server_cpu: float = 0.0  # CPU seconds the server process used during the run


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux /proc; 0 elsewhere). On a shared
    machine this, per response, is steadier than the wall-clock rate."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(pid: int, port: int, requests: list[bytes], connections: int, duration: float) -> Tally:
    before = cpu_seconds(pid)
    tally = load(port, requests, connections, duration)
    tally.server_cpu = cpu_seconds(pid) - before
    return tally


async def _connection(port: int, requests: Iterator[bytes], stop_at: float, tally: Tally) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < stop_at:
            try:
                raw = next(requests)
            except StopIteration:
                return
            sent = time.perf_counter()
            writer.write(raw)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            status = int(status_line.split()[1])
            if status == 200:
                tally.latencies.append(time.perf_counter() - sent)
            else:
                tally.errors[status] = tally.errors.get(status, 0) + 1
    finally:
        writer.close()


def load(port: int, requests: list[bytes], connections: int, duration: float) -> Tally:
    tally = Tally()
    source = iter(requests)

    async def run() -> None:
        stop_at = time.monotonic() + duration
        started = time.perf_counter()
        await asyncio.gather(
            *(_connection(port, source, stop_at, tally) for _ in range(connections))
        )
        tally.elapsed = time.perf_counter() - started

    asyncio.run(run())
    return tally


def request_bytes(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def kyc_requests(fx: Fixture, issuer: str, port: int, count: int) -> list[bytes]:
    from tests.api.idp_token._rp import dpop_proof

    url = issuer + KYC_PATH
    probe = httpx.get(
        f"http://127.0.0.1:{port}{KYC_PATH}",
        headers={
            "Authorization": f"DPoP {fx.token}",
            "DPoP": dpop_proof(
                fx.key, method="GET", url=url, at=dt.datetime.now(dt.UTC), access_token=fx.token
            ),
        },
    )
    nonce = probe.headers.get("DPoP-Nonce")
    if probe.status_code not in (200, 401) or nonce is None:
        raise RuntimeError(f"unexpected KYC probe answer {probe.status_code}: {probe.text[:200]}")
    now = dt.datetime.now(dt.UTC)
    return [
        request_bytes(
            KYC_PATH,
            {
                "Authorization": f"DPoP {fx.token}",
                "DPoP": dpop_proof(
                    fx.key, method="GET", url=url, at=now, nonce=nonce, access_token=fx.token
                ),
            },
        )
        for _ in range(count)
    ]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile", help="write where the server spends its time to this file")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--database-url", help="default: SQLite in a temporary data directory")
    parser.add_argument("--redis-url", help="default: the in-process cache")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--max-kyc-requests", type=int, default=20_000)
    args = parser.parse_args(argv)
    if args.serve is not None:
        serve(args.serve, args.profile)
        return
    if args.duration > 40:
        parser.error("--duration: at most 40 s (DPoP proofs are made beforehand and expire)")

    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    with tempfile.TemporaryDirectory(prefix="natid-bench-kyc-") as work:
        env = {
            "NATID_DATA_DIR": str(Path(work) / "var"),
            "NATID_PUBLIC_BASE_URL": issuer,
            "NATID_LOG_LEVEL": "WARNING",
        }
        if args.database_url:
            env["NATID_DATABASE_URL"] = args.database_url
        if args.redis_url:
            env["NATID_REDIS_URL"] = args.redis_url
        fx = prepare(env)
        if pin:
            os.sched_setaffinity(0, {1})
        with server(env, port, 0 if pin else None, args.profile) as pid:
            plain = [request_bytes(f"{PLAIN_PATH}?id={fx.person_id}", {})] * 1_000_000
            load(port, plain[:2000], args.connections, 2.0)  # warm-up
            plain_tally = timed(pid, port, plain, args.connections, args.duration)
            kyc_warm = kyc_requests(fx, issuer, port, 500)
            load(port, kyc_warm, args.connections, 2.0)
            kyc = kyc_requests(fx, issuer, port, args.max_kyc_requests)
            kyc_tally = timed(pid, port, kyc, args.connections, args.duration)
    report(args, plain_tally, kyc_tally, pin)


def report(args: argparse.Namespace, plain: Tally, kyc: Tally, pin: bool) -> None:
    def row(name: str, t: Tally) -> tuple[str, float, float, float, float]:
        done = len(t.latencies)
        rps = done / t.elapsed if t.elapsed else 0.0
        cpu_ms = t.server_cpu / done * 1000 if done else 0.0
        return name, rps, pct(t.latencies, 50), pct(t.latencies, 99), cpu_ms

    rows = [
        row("plain JSON (same attributes, same database)", plain),
        row("GET /kyc/v1/person", kyc),
    ]
    db = "PostgreSQL" if args.database_url else "SQLite"
    load1 = os.getloadavg()[0]
    print(
        f"{args.connections} connections, {args.duration:g} s per target, {db}, "
        f"{'server pinned to CPU 0, client to CPU 1' if pin else 'not pinned'}, "
        f"Python {sys.version.split()[0]}, load average {load1:.1f}\n"
    )
    print("| endpoint | responses/s | p50 ms | p99 ms | server CPU ms per response |")
    print("|---|---:|---:|---:|---:|")
    for name, rps, p50, p99, cpu_ms in rows:
        print(f"| {name} | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {cpu_ms:.2f} |")
    ratio = rows[0][1] / rows[1][1] if rows[1][1] else float("inf")
    cpu_ratio = rows[1][4] / rows[0][4] if rows[0][4] else float("inf")
    verdict = "meets" if ratio <= 3 else "misses"
    print(f"\nThroughput ratio plain/KYC: {ratio:.2f}x ({verdict} the goal of at most 3x).")
    print(f"Server CPU per response, KYC/plain: {cpu_ratio:.2f}x.")
    for name, t in (("plain", plain), ("KYC", kyc)):
        if t.errors:
            print(f"\n{name}: non-200 answers {json.dumps(t.errors)}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
