"""Complete logins over HTTP: NatID's OpenID provider against node-oidc-provider, same run.

    PYTHONPATH=. python bench/bench_oidc.py [--seconds S] [--rounds R] [--concurrency C]
        [--identities K] [--warmup S] [--quick] [--no-pin]

Issue 4, "Benchmarks": "Complete logins per second with an existing session (authorize, code,
token, userinfo) and token-endpoint p99, side by side with node-oidc-provider (npm
``oidc-provider``, its development setup with an in-memory adapter) on the same machine, same
load generator, same run. Goal: more than node-oidc-provider's throughput at a lower p99."

1. NatID: a fresh data directory (SQLite, WAL) with the CA hierarchy and the provider's signing
   key, one client (``client_secret_basic``, pairwise subjects, the default) and one register
   person with an active password account per identity (step 5; Argon2id at the default
   parameters). ``natid serve`` (uvicorn, 1 worker) with ``NATID_LOG_LEVEL=WARNING``.
2. node-oidc-provider: ``bench/oidc/provider.mjs``, the library's development setup (in-memory
   adapter, devInteractions, one static client with the same redirect URI; see that file),
   pinned version in ``bench/oidc/package-lock.json`` (``npm ci`` runs when it is missing).
3. Both servers run for the whole benchmark, pinned with ``taskset`` to the first CPU; the load
   generator (this process) to the second (``--no-pin`` to share).
4. Login phase, not timed: each identity logs in once through the provider's own pages,
   driven as a browser without JavaScript would (follow redirects, fill the login form with the
   user's identifier and password, allow the consent form with every box ticked), and its code
   is exchanged once, so a broken flow fails here with the failing request named.
5. Timed loop, the same code for both providers, one keep-alive HTTP/1.1 connection per virtual
   user (raw asyncio protocol on uvloop). Each virtual user takes turns, login by login, with
   ``--identities`` signed-in people (4 by default; the session cookies from step 4), so that
   C virtual users are C x K people, each logging in to the site again and again, as no real
   person does but less often than one identity per connection would. This matters for
   node-oidc-provider: its in-memory adapter keeps, per grant (one per person and client), an
   index of every token and code issued under it and still live (an access token lives an
   hour), and rescans the whole index on every token or code it stores. With one identity per
   connection a grant gained ~40 tokens a second, and node-oidc-provider's CPU per login rose
   round after round (1.43 -> 1.88 ms over six rounds; ``setGrantMembers`` from 4 % to 13 %
   of its samples), a cost of the benchmark's repetition that flattered NatID in long runs
   (docs/benchmarks.md, "Ninth round"). The adapter's LRU holds 1,000 entries, so the people
   must stay few enough to keep their sessions in it. GET authorize
   (``scope=openid profile``, PKCE S256, fresh state and nonce) -> redirects followed on the
   provider until the one to the redirect URI, whose ``code`` is taken (the callback itself is
   never fetched; ``state`` and ``iss`` checked) -> POST token (``client_secret_basic``) ->
   GET userinfo with the access token. A complete login counts when all three answered 200.
   Each token request's latency is recorded (sent -> whole response read).
6. Rounds alternate between the providers (node-oidc-provider first in each round); each
   provider is warmed up first (``--warmup`` seconds, not counted; 10 by default: with 2,
   node-oidc-provider's first round still ran before its JIT had settled, at ~15-25 % fewer
   logins per second and twice the token p99 of its later rounds, which flattered NatID's
   ratio; docs/benchmarks.md, "Eighth round"). The table gives every round and the totals; the
   ratio is NatID / node-oidc-provider in logins per second.

Also printed: each server's CPU time per complete login (all its threads; less disturbed by
other jobs than the rate), and the load generator's own CPU use (near 100 % means the
generator, not the server, limited the rate).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
NODE_DIR = HERE / "oidc"
NATID = Path(sys.executable).with_name("natid")
REDIRECT_URI = "http://127.0.0.1:9/cb"  # never fetched
PASSWORD = "river mango lantern bench"
NATID_LABEL = "NatID"
NODE_LABEL = "node-oidc-provider"


@dataclass(frozen=True, slots=True)
class Provider:
    """One OpenID provider under test, as the load generator sees it."""

    label: str
    issuer: str
    client_id: str
    client_secret: str
    users: tuple[tuple[str, str], ...]  # (login identifier, password) per virtual user
    group: int  # the server's process group, for its CPU time


@dataclass(slots=True)
class Tally:
    logins: int = 0
    token_latencies: list[float] = field(default_factory=list)
    login_latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.first_errors) < 3 and what not in self.first_errors:
            self.first_errors.append(what)


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    round: int
    seconds: float
    logins: int
    token_p50_ms: float
    token_p99_ms: float
    login_p50_ms: float
    server_cpu_ms: float  # per complete login
    generator_cpu: float  # fraction of one CPU
    errors: int
    first_errors: tuple[str, ...] = ()


# --- NatID set-up --------------------------------------------------------------------------------


def make_natid(data: Path, base_url: str, users: int) -> tuple[str, str, list[tuple[str, str]]]:
    """A fresh data directory: hierarchy, signing key, one client, ``users`` accounts."""
    from api.context import build_context
    from core.settings import load_settings

    settings = load_settings(data_dir=data, public_base_url=base_url)
    ctx = build_context(settings)
    try:
        ctx.ca().ensure_hierarchy(actor="bench")
        core = ctx.idp_core()
        core.signing_keys.ensure_active(actor="bench")
        registered = core.clients.add(
            name="NatID benchmark relying party",
            redirect_uris=[REDIRECT_URI],
            auth_method="client_secret_basic",
            actor="bench",
        )
        assert registered.client_secret is not None
        accounts = ctx.idp_accounts()
        logins = []
        for n in range(users):
            national_id = f"{700000000 + n:09d}"
            person = ctx.register.add_person(
                {
                    "national_id": national_id, "name_km": "សុខ ដារា", "name_latin": "Sok Dara",
                    "birthdate": "1990-04-17", "sex": "F", "email": f"bench{n}@example.com",
                    "address": "No. 12, Street 271, Phnom Penh, Cambodia",
                    "phone": f"+8551234{n:04d}",
                },
                actor="bench",
            )  # fmt: skip
            account = accounts.create(person.id, actor="bench")
            accounts.set_password(account.id, PASSWORD, actor="bench", activate=True)
            logins.append((national_id, PASSWORD))
        return registered.client.client_id, registered.client_secret, logins
    finally:
        ctx.close()


# --- servers -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    return cmd if cpu is None else ["taskset", "-c", str(cpu), *cmd]


@contextlib.contextmanager
def running(
    cmd: list[str], env: dict[str, str], issuer: str, log_file: Path, cwd: Path
) -> Iterator[int]:
    """Run a server in its own process group until discovery answers; yields the group id."""
    with log_file.open("wb") as log:
        proc = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, process_group=0
        )
    try:
        deadline = time.monotonic() + 120
        url = issuer + "/.well-known/openid-configuration"
        while True:
            if proc.poll() is not None:
                tail = log_file.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{tail}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer 200 within 120 s")
            time.sleep(0.3)
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
            continue
        if int(fields[2]) == group:
            total += int(fields[11]) + int(fields[12])
    return total / tick


@contextlib.contextmanager
def profiled(pid: int, out: Path | None, seconds: float) -> Iterator[None]:
    """py-spy (non-blocking sampling) on ``pid`` for ``seconds`` while the block runs."""
    if out is None:
        yield
        return
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    spy = subprocess.Popen(
        [exe, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--format", "raw",
         "--rate", "250", "--duration", str(max(1, int(seconds))), "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        spy.wait(timeout=60)


def ensure_node_modules() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise SystemExit(
            "node and npm are needed for the node-oidc-provider baseline (Debian: nodejs, npm)"
        )
    if not (NODE_DIR / "node_modules" / "oidc-provider").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR, check=True
        )


# --- login phase: the provider's own pages, as a browser without JavaScript ----------------------


class _Forms(HTMLParser):
    """Every form of a page: action, method, fields (name, type, value, checked), buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get"),
                               "fields": [], "buttons": []})  # fmt: skip
        elif self.forms and tag in {"input", "button", "select", "textarea"} and a.get("name"):
            kind = a.get("type", "submit" if tag == "button" else "text").lower()
            if kind == "submit":
                self.forms[-1]["buttons"].append((a["name"], a.get("value", "")))
            else:
                self.forms[-1]["fields"].append((a["name"], kind, a.get("value", ""), a))


def fill(page: str, identifier: str, password: str) -> tuple[str, str, list[tuple[str, str]]]:
    """The form to submit on a login or consent page and its data (consent: allow all)."""
    parser = _Forms()
    parser.feed(page)
    for form in parser.forms:
        names = {f[0] for f in form["fields"]} | {b[0] for b in form["buttons"]}
        if not names & {"password", "decision", "prompt"}:
            continue  # a language switch, a logout link
        data: list[tuple[str, str]] = []
        for name, kind, value, _attrs in form["fields"]:
            if name == "password":
                data.append((name, password))
            elif name in {"identifier", "login"}:
                data.append((name, identifier))
            elif kind in {"checkbox", "radio"}:
                if kind == "checkbox" or name != "decision":
                    data.append((name, value or "on"))
            else:
                data.append((name, value))
        if "decision" in names and not any(n == "decision" for n, _ in data):
            data.append(("decision", "allow"))
        elif form["buttons"] and "decision" not in names:
            data.append(form["buttons"][0])
        return form["method"].upper(), form["action"], data
    raise RuntimeError(f"no login or consent form on the page: {page[:300]!r}")


def authorize_query(client_id: str) -> tuple[dict[str, str], str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
        "scope": "openid profile", "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": challenge.rstrip(b"=").decode(), "code_challenge_method": "S256",
    }  # fmt: skip
    return params, verifier


def browser_login(
    op: Provider, endpoints: dict[str, str], identifier: str, password: str
) -> dict[str, str]:
    """Log one user in through the pages; exchange the code once; return the cookies."""
    params, verifier = authorize_query(op.client_id)
    url = endpoints["authorization_endpoint"] + "?" + urlencode(params)
    with httpx.Client(follow_redirects=False, timeout=30) as client:
        response = client.get(url)
        for _step in range(20):
            location = response.headers.get("location")
            if response.is_redirect and location is not None:
                url = urljoin(str(response.url), location)
                if url.startswith(REDIRECT_URI):
                    break
                response = client.get(url)
            elif response.status_code == 200 and "html" in response.headers.get("content-type", ""):
                method, action, data = fill(response.text, identifier, password)
                target = urljoin(str(response.url), action or str(response.url))
                response = client.request(method, target, data=dict_multi(data))
            else:
                raise RuntimeError(f"{op.label} login: {failure(response)}")
        else:
            raise RuntimeError(f"{op.label} login: more than 20 steps, last {response.url}")
        query = parse_qs(urlsplit(url).query)
        if "code" not in query:
            raise RuntimeError(f"{op.label} login ended at the client without a code: {url}")
        token = client.post(
            endpoints["token_endpoint"],
            data={"grant_type": "authorization_code", "code": query["code"][0],
                  "redirect_uri": REDIRECT_URI, "code_verifier": verifier},
            auth=(op.client_id, op.client_secret),
        )  # fmt: skip
        if token.status_code != 200:
            raise RuntimeError(f"{op.label} token after login: {failure(token)}")
        userinfo = client.get(
            endpoints["userinfo_endpoint"],
            headers={"Authorization": "Bearer " + token.json()["access_token"]},
        )
        if userinfo.status_code != 200:
            raise RuntimeError(f"{op.label} userinfo after login: {failure(userinfo)}")
        return {c.name: c.value or "" for c in client.cookies.jar if c.path == "/"}


def dict_multi(data: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in data:
        out.setdefault(name, []).append(value)
    return out


def failure(response: httpx.Response) -> str:
    return (
        f"{response.request.method} {response.request.url} -> {response.status_code} "
        f"{response.headers.get('location', '')} {response.text[:300]!r}"
    )


# --- timed loop: raw HTTP/1.1 over asyncio -------------------------------------------------------

_LENGTH = re.compile(rb"(?im)^content-length:\s*(\d+)")
_CHUNKED = re.compile(rb"(?im)^transfer-encoding:\s*chunked")


class _Conn(asyncio.Protocol):
    """One keep-alive client connection, one request in flight; bodies by length or chunks."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[bytes, bytes]] | None = None
        self.transport: Any = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is not None and not self.waiter.done():
            done = self._parse()
            if done is not None:
                self.waiter.set_result(done)

    def _parse(self) -> tuple[bytes, bytes] | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buffer[:end])
        start = end + 4
        match = _LENGTH.search(head)
        if match is not None:
            stop = start + int(match.group(1))
            if len(self.buffer) < stop:
                return None
            body = bytes(self.buffer[start:stop])
        elif _CHUNKED.search(head):
            chunks, pos = [], start
            while True:
                line_end = self.buffer.find(b"\r\n", pos)
                if line_end < 0:
                    return None
                size = int(bytes(self.buffer[pos:line_end]).split(b";")[0], 16)
                if len(self.buffer) < line_end + 2 + size + 2:
                    return None
                chunks.append(bytes(self.buffer[line_end + 2 : line_end + 2 + size]))
                pos = line_end + 2 + size + 2
                if size == 0:
                    break
            body, stop = b"".join(chunks), pos
        else:
            body, stop = b"", start  # 204/304, or a redirect without a body
        del self.buffer[:stop]
        return head, body

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("closed"))


class Session:
    """One virtual user: a connection to the provider and the signed-in identities (their
    cookies) it takes turns with, one complete login each (module docstring, step 5)."""

    def __init__(self, host: str, port: int, identities: Sequence[dict[str, str]]) -> None:
        if not identities:
            raise ValueError("a virtual user needs at least one identity")
        self.host, self.port = host, port
        self.identities = [dict(cookies) for cookies in identities]
        self.cookies = self.identities[0]
        self._turn = 0
        self.conn: _Conn | None = None

    def next_identity(self) -> None:
        """The next identity's cookies for the next login (set-cookie updates them in place)."""
        self.cookies = self.identities[self._turn % len(self.identities)]
        self._turn += 1

    async def request(
        self, method: str, target: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        if self.conn is None or self.conn.closed:
            _t, self.conn = await asyncio.get_running_loop().create_connection(
                _Conn, self.host, self.port
            )
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        conn = self.conn
        conn.waiter = asyncio.get_running_loop().create_future()
        conn.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head, payload = await conn.waiter
        status = int(head[9:12])
        out: dict[str, str] = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "set-cookie":
                self._cookie(value)
            else:
                out[name] = value
        if out.get("connection", "").lower() == "close":
            conn.transport.close()
        return status, out, payload

    def _cookie(self, header: str) -> None:
        pair, *attributes = header.split(";")
        name, _, value = pair.strip().partition("=")
        attrs = {a.strip().lower() for a in attributes}
        if not value or "max-age=0" in attrs or any("1970" in a for a in attrs):
            self.cookies.pop(name, None)
        elif not any(a.startswith("path=") and a != "path=/" for a in attrs):
            self.cookies[name] = value

    def close(self) -> None:
        if self.conn is not None and not self.conn.closed:
            self.conn.transport.close()


async def login_once(s: Session, op: Provider, paths: dict[str, str], tally: Tally) -> bool:
    """One complete login: authorize -> code -> token -> userinfo. False on any failure."""
    started = time.perf_counter()
    s.next_identity()
    params, verifier = authorize_query(op.client_id)
    status, headers, body = await s.request("GET", paths["authorize"] + "?" + urlencode(params), {})
    for _hop in range(5):
        location = headers.get("location", "")
        if status not in {302, 303} or location.startswith(REDIRECT_URI):
            break
        status, headers, body = await s.request("GET", urlsplit(location).path + "?" +
                                                urlsplit(location).query, {})  # fmt: skip
    location = headers.get("location", "")
    query = parse_qs(urlsplit(location).query)
    if not location.startswith(REDIRECT_URI) or "code" not in query:
        tally.error(f"authorize: {status} {location[:200]} {body[:200]!r}")
        return False
    if query.get("state") != [params["state"]] or query.get("iss") != [op.issuer]:
        tally.error(f"authorize: state or iss wrong in {location[:200]}")
        return False
    form = urlencode(
        {"grant_type": "authorization_code", "code": query["code"][0],
         "redirect_uri": REDIRECT_URI, "code_verifier": verifier}
    ).encode()  # fmt: skip
    t0 = time.perf_counter()
    status, _headers, body = await s.request(
        "POST", paths["token"], {"Authorization": paths["basic"],
                                 "Content-Type": "application/x-www-form-urlencoded"}, form,
    )  # fmt: skip
    tally.token_latencies.append(time.perf_counter() - t0)
    if status != 200:
        tally.error(f"token: {status} {body[:300]!r}")
        return False
    access_token = json.loads(body)["access_token"]
    status, _headers, body = await s.request(
        "GET", paths["userinfo"], {"Authorization": "Bearer " + access_token}
    )
    if status != 200 or b'"sub"' not in body:
        tally.error(f"userinfo: {status} {body[:300]!r}")
        return False
    tally.logins += 1
    tally.login_latencies.append(time.perf_counter() - started)
    return True


async def virtual_user(
    s: Session, op: Provider, paths: dict[str, str], until: float, tally: Tally
) -> None:
    failures_in_a_row = 0
    while time.perf_counter() < until and failures_in_a_row < 20:
        try:
            ok = await login_once(s, op, paths, tally)
        except (ConnectionError, OSError) as exc:
            tally.error(f"connection: {exc!r}")
            s.conn, ok = None, False
        failures_in_a_row = 0 if ok else failures_in_a_row + 1
    s.close()


def measure(
    op: Provider,
    paths: dict[str, str],
    cookies: list[dict[str, str]],
    seconds: float,
    round_no: int,
    connections: int,
) -> Row:
    host, port = urlsplit(op.issuer).hostname or "", urlsplit(op.issuer).port or 80
    tally = Tally()

    async def run() -> None:
        until = time.perf_counter() + seconds
        # Identity i takes turns on connection i % connections.
        sessions = [Session(host, port, cookies[n::connections]) for n in range(connections)]
        await asyncio.gather(*(virtual_user(s, op, paths, until, tally) for s in sessions))

    cpu_before, gen_before = group_cpu_seconds(op.group), time.process_time()
    started = time.perf_counter()
    _run(run())
    elapsed = time.perf_counter() - started
    server_cpu = group_cpu_seconds(op.group) - cpu_before
    generator = (time.process_time() - gen_before) / elapsed
    return Row(
        op.label, round_no, elapsed, tally.logins,
        pct(tally.token_latencies, 0.50), pct(tally.token_latencies, 0.99),
        pct(tally.login_latencies, 0.50),
        server_cpu / tally.logins * 1000 if tally.logins else float("nan"),
        generator, tally.errors, tuple(tally.first_errors),
    )  # fmt: skip


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


def _run(coroutine: Any) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        asyncio.run(coroutine)
    else:
        uvloop.run(coroutine)


def endpoint_paths(op: Provider) -> tuple[dict[str, str], dict[str, str]]:
    """Discovery's endpoints (absolute) and the paths the raw client requests."""
    meta = httpx.get(op.issuer + "/.well-known/openid-configuration", timeout=10).json()
    endpoints = {k: meta[k] for k in ("authorization_endpoint", "token_endpoint",
                                      "userinfo_endpoint")}  # fmt: skip
    for value in endpoints.values():
        if not value.startswith(op.issuer + "/"):
            raise RuntimeError(f"{op.label}: endpoint {value} is not on {op.issuer}")
    basic = base64.b64encode(f"{op.client_id}:{op.client_secret}".encode()).decode()
    paths = {
        "authorize": urlsplit(endpoints["authorization_endpoint"]).path,
        "token": urlsplit(endpoints["token_endpoint"]).path,
        "userinfo": urlsplit(endpoints["userinfo_endpoint"]).path,
        "basic": "Basic " + basic,
    }
    return endpoints, paths


# --- the run -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8, help="timed seconds per row")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, alternating providers")
    parser.add_argument("--concurrency", type=int, default=16, help="virtual users (connections)")
    parser.add_argument(
        "--identities", type=int, default=4, help="signed-in people per virtual user, in turn"
    )
    parser.add_argument("--warmup", type=float, default=10, help="untimed seconds before round 1")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2 s, 1 round, 4 connections x 2 people"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        metavar="FILE",
        help="profile NatID's server with py-spy during its first round (collapsed stacks)",
    )
    parser.add_argument(
        "--only", choices=["node", "natid"], default=None, help="one provider (for debugging)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.rounds, args.concurrency, args.warmup = 2, 1, 4, 0.5
        args.identities = 2
    if args.concurrency < 1 or args.identities < 1:
        parser.error("--concurrency and --identities must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cpus = sorted(os.sched_getaffinity(0))
    pin = not args.no_pin and len(cpus) >= 2 and shutil.which("taskset") is not None
    server_cpu, client_cpu = (cpus[0], cpus[1]) if pin else (None, None)
    ensure_node_modules()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "var"
        port, node_port = free_port(), free_port()
        base = f"http://127.0.0.1:{port}"
        t0 = time.perf_counter()
        people = args.concurrency * args.identities
        client_id, secret, users = make_natid(data, base, people)
        setup_s = time.perf_counter() - t0
        env = {k: v for k, v in os.environ.items() if not k.startswith("NATID_")}
        env |= {"NATID_DATA_DIR": str(data), "NATID_PUBLIC_BASE_URL": base,
                "NATID_LOG_LEVEL": "WARNING"}  # fmt: skip
        node_secret = secrets.token_urlsafe(32)
        node_cmd = ["node", str(NODE_DIR / "provider.mjs"), f"--port={node_port}",
                    f"--redirect-uri={REDIRECT_URI}", "--client-id=bench-client",
                    f"--client-secret={node_secret}"]  # fmt: skip
        natid_cmd = [str(NATID), "serve", "--port", str(port), "--workers", "1"]
        node_env = dict(os.environ)
        with contextlib.ExitStack() as stack:
            ops = []
            if args.only in {None, "node"}:
                node_group = stack.enter_context(running(
                    pinned(node_cmd, server_cpu), node_env, f"http://127.0.0.1:{node_port}",
                    Path(tmp) / "node.log", NODE_DIR))  # fmt: skip
                node_users = tuple((f"user{n}", "any password") for n in range(people))
                ops.append(Provider(NODE_LABEL, f"http://127.0.0.1:{node_port}", "bench-client",
                                    node_secret, node_users, node_group))  # fmt: skip
            if args.only in {None, "natid"}:
                natid_group = stack.enter_context(running(
                    pinned(natid_cmd, server_cpu), env, base, Path(tmp) / "natid.log",
                    REPO))  # fmt: skip
                ops.append(Provider(NATID_LABEL, base, client_id, secret, tuple(users),
                                    natid_group))  # fmt: skip
            prepared = []
            for op in ops:
                endpoints, paths = endpoint_paths(op)
                cookies = [browser_login(op, endpoints, u, p) for u, p in op.users]
                prepared.append((op, paths, cookies))
            if client_cpu is not None:
                os.sched_setaffinity(0, {client_cpu})
            for op, paths, cookies in prepared:
                if args.warmup > 0:
                    measure(op, paths, cookies, args.warmup, 0, args.concurrency)
            for round_no in range(1, args.rounds + 1):
                for op, paths, cookies in prepared:
                    spy = args.py_spy if op.label == NATID_LABEL and round_no == 1 else None
                    with profiled(op.group, spy, args.seconds):
                        rows.append(
                            measure(op, paths, cookies, args.seconds, round_no, args.concurrency)
                        )
    report(args, rows, setup_s, pin, server_cpu, client_cpu)


def report(
    args: argparse.Namespace,
    rows: list[Row],
    setup_s: float,
    pin: bool,
    server_cpu: int | None,
    client_cpu: int | None,
) -> None:
    where = (
        f"both servers pinned to CPU {server_cpu}, the load generator to CPU {client_cpu}"
        if pin
        else "servers and load generator share every CPU"
    )
    print(
        f"{args.concurrency} virtual users, one keep-alive connection each, taking turns with "
        f"{args.identities} people each ({args.concurrency * args.identities} people, each with "
        f"an existing session and consent); {args.rounds} rounds of {args.seconds:g} s per "
        f"provider, alternating; NatID `natid serve` (1 worker, SQLite) vs node-oidc-provider "
        f"(development setup, in-memory adapter); {where}; NatID set-up {setup_s:.0f} s.\n"
    )
    print("| provider | round | complete logins/s | token p50 ms | token p99 ms | login p50 ms "
          "| server CPU ms per login | generator CPU | errors |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r.label} | {r.round} | {r.logins / r.seconds:,.0f} | {r.token_p50_ms:.2f} "
            f"| {r.token_p99_ms:.2f} | {r.login_p50_ms:.2f} | {r.server_cpu_ms:.2f} "
            f"| {r.generator_cpu:.0%} | {r.errors} |"
        )
    for r in rows:
        if r.first_errors:
            print(f"\n{r.label}, round {r.round}: {r.errors} failed logins; first failures: "
                  + " | ".join(r.first_errors))  # fmt: skip
    rates = {
        label: [r.logins / r.seconds for r in rows if r.label == label]
        for label in (NODE_LABEL, NATID_LABEL)
    }
    p99 = {
        label: [r.token_p99_ms for r in rows if r.label == label]
        for label in (NODE_LABEL, NATID_LABEL)
    }
    if not rates[NODE_LABEL] or not rates[NATID_LABEL]:
        return
    node_rate, natid_rate = (statistics.median(rates[k]) for k in (NODE_LABEL, NATID_LABEL))
    node_p99, natid_p99 = (statistics.median(p99[k]) for k in (NODE_LABEL, NATID_LABEL))
    ratios = [n / o for n, o in zip(rates[NATID_LABEL], rates[NODE_LABEL], strict=True) if o]
    failed = sum(r.errors for r in rows)
    if failed:
        verdict = f"not comparable, {failed} logins failed"
    else:
        met = natid_rate > node_rate and natid_p99 < node_p99
        verdict = "met" if met else "not met"
    print(
        f"\nMedian of the rounds: node-oidc-provider {node_rate:,.0f} logins/s, token p99 "
        f"{node_p99:.2f} ms; NatID {natid_rate:,.0f} logins/s, token p99 {natid_p99:.2f} ms. "
        f"**NatID / node-oidc-provider: {natid_rate / node_rate:.2f}** (rounds: "
        f"{', '.join(f'{x:.2f}' for x in ratios)}). Goal (more logins/s at a lower token p99): "
        f"{verdict}."
    )


if __name__ == "__main__":
    main()
