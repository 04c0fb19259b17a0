"""A running ``natid serve`` set up as a relying party's operator would: a citizen and clients.

:func:`running_provider` starts the real console script on a free port with a fresh data
directory (as ``tests/e2e/test_serve.py`` does), then, through the ``natid`` command line:

* ``natid registry list persons --json`` - a citizen of the demo register (``natid serve``
  loads it) with e-mail and address, and an identity-proofing record;
* ``natid idp user set-password --password-stdin`` and ``natid idp user enroll-totp`` (run
  interactively: the test reads the ``otpauth://`` URI it prints and answers the first code);
* ``natid idp client add`` - three relying parties: ``basic`` (client_secret_basic), ``post``
  (client_secret_post, another sector), ``fapi`` (``--fapi2``, private_key_jwt with an ES256
  key generated here), the first two with a back-channel logout URI on :class:`LogoutListener`.

Every command except ``enroll-totp`` runs in-process through the CLI's Typer app (the same
code as the console script; each subprocess would spend seconds importing NatID again).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
from joserfc.jwk import ECKey
from typer.testing import CliRunner

from api.cli.main import app as natid_cli
from tests._env import environ_without_natid
from tests._serving import free_port

READY_TIMEOUT = 240.0  # first start: migrations, CA hierarchy, demo register
PASSWORD = "monsoon lotus Kampot 2026 pepper"  # a test citizen's password


@dataclass
class LogoutListener:
    """A relying party's back-channel logout endpoint (OIDC Back-Channel Logout §2.5)."""

    port: int = field(default_factory=free_port)
    received: list[tuple[str, str]] = field(default_factory=list)  # (path, logout_token)
    _event: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/backchannel/{name}"

    def start(self) -> None:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("ascii", "replace")
                tokens = parse_qs(body).get("logout_token", [])
                ok = (
                    self.headers.get_content_type() == "application/x-www-form-urlencoded"
                    and len(tokens) == 1
                )
                if ok:
                    listener.received.append((urlsplit(self.path).path, tokens[0]))
                    listener._event.set()
                self.send_response(200 if ok else 400)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float = 15.0) -> list[tuple[str, str]]:
        """The logout tokens received, once ``count`` have arrived or ``timeout`` has passed."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            self._event.wait(0.1)
            self._event.clear()
        return list(self.received)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@dataclass(frozen=True)
class Citizen:
    person_id: str
    national_id: str = field(repr=False)
    password: str = field(repr=False)
    totp_secret: str = field(repr=False)
    record: dict[str, Any] = field(repr=False)  # as `natid registry list persons --json`


@dataclass
class Provider:
    issuer: str
    data_dir: Path
    env: dict[str, str]
    citizen: Citizen
    clients: dict[str, dict[str, Any]]
    fapi_key: ECKey
    dpop_key: ECKey
    logout: LogoutListener

    def log_tail(self, lines: int = 40) -> str:
        """The end of ``natid serve``'s output, for failure messages."""
        return _tail(self.data_dir.parent / "serve.log", lines)

    def node_config(self) -> dict[str, Any]:
        """What tests/node/rp/flows.mjs reads on standard input."""
        return {
            "issuer": self.issuer,
            "person": {
                "identifier": self.citizen.national_id,
                "password": self.citizen.password,
                "totp_secret": self.citizen.totp_secret,
            },
            "clients": {
                name: {
                    "client_id": c["client_id"],
                    "client_secret": c.get("client_secret"),
                    "redirect_uri": c["redirect_uris"][0],
                    "post_logout_redirect_uri": (c["post_logout_redirect_uris"] or [None])[0],
                    **(
                        {"private_jwk": self.fapi_key.as_dict(private=True)}
                        if name == "fapi"
                        else {}
                    ),
                }
                for name, c in self.clients.items()
            },
            "dpop_private_jwk": self.dpop_key.as_dict(private=True),
        }


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """Run one ``natid`` command in-process; return its standard output (fail on exit != 0)."""
    # The same settings as the server's: NATID_* variables of this process are removed (None).
    overrides: dict[str, str | None] = {k: None for k in os.environ if k.startswith("NATID_")}
    overrides.update(env)
    result = CliRunner().invoke(
        natid_cli, list(args), input=stdin, env=overrides, catch_exceptions=False
    )
    if result.exit_code != 0:
        raise AssertionError(
            f"natid {args[0]} {args[1]} failed ({result.exit_code}): {result.output}"
        )
    return result.stdout


def _enroll_totp(env: dict[str, str], data_dir: Path, person_id: str) -> str:
    """``natid idp user enroll-totp`` as an operator runs it: read the URI, type the code."""
    natid = Path(sys.executable).with_name("natid")
    proc = subprocess.Popen(
        [
            str(natid),
            "idp",
            "user",
            "enroll-totp",
            "--subject",
            person_id,
            "--data-dir",
            str(data_dir),
        ],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    uri = proc.stdout.readline().strip()
    if not uri.startswith("otpauth://totp/"):
        proc.kill()
        raise AssertionError(f"enroll-totp printed no otpauth URI: {proc.communicate()}")
    secret = parse_qs(urlsplit(uri).query)["secret"][0]
    out, err = proc.communicate(pyotp.TOTP(secret).now() + "\n", timeout=120)
    if proc.returncode != 0 or "TOTP enrolled" not in out:
        raise AssertionError(f"enroll-totp failed ({proc.returncode}): {out} {err}")
    return secret


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"natid serve exited with {proc.returncode}: {_tail(log)}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise AssertionError(
        f"natid serve never became ready within {READY_TIMEOUT}s; its log ends: {_tail(log)}"
    )


def _tail(log: Path, lines: int = 40, chars: int = 6000) -> str:
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])[-chars:]


def _add_client(env: dict[str, str], data_dir: Path, *args: str) -> dict[str, Any]:
    out = cli(env, "idp", "client", "add", *args, "--data-dir", str(data_dir))
    settings: dict[str, Any] = json.loads(out[out.index("{") :])
    return settings


def _setup(
    env: dict[str, str], data_dir: Path, work: Path, logout: LogoutListener
) -> tuple[Citizen, dict[str, dict[str, Any]], ECKey]:
    dd = ["--data-dir", str(data_dir)]
    # A person of the demo register: each has an identity-proofing record (remote video or in
    # person), without which no login reaches more than acr "low" (eIDAS: the level of a login
    # is capped by how the identity was proven). Choose one with an e-mail address (the demo
    # register has no phone numbers).
    people = json.loads(cli(env, "registry", "list", "persons", "--json", "--limit", "0", *dd))
    record = next(p for p in people if p["status"] == "active" and p["email"] and p["address"])
    person_id = record["id"]
    cli(
        env,
        "idp",
        "user",
        "set-password",
        "--subject",
        person_id,
        "--password-stdin",
        *dd,
        stdin=PASSWORD + "\n",
    )
    secret = _enroll_totp(env, data_dir, person_id)
    citizen = Citizen(person_id, record["national_id"], PASSWORD, secret, record)

    fapi_key = ECKey.generate_key(
        "P-256", parameters={"kid": "bank-2026", "alg": "ES256", "use": "sig"}
    )
    jwks_file = work / "bank-jwks.json"
    jwks_file.write_text(json.dumps({"keys": [fapi_key.as_dict(private=False)]}), encoding="utf-8")
    clients = {
        "basic": _add_client(
            env,
            data_dir,
            "--name",
            "Ministry of Interior portal",
            "--redirect-uri",
            "https://portal.interior.example/cb",
            "--auth-method",
            "client_secret_basic",
            "--post-logout-redirect-uri",
            "https://portal.interior.example/logged-out",
            "--backchannel-logout-uri",
            logout.url("basic"),
        ),
        "post": _add_client(
            env,
            data_dir,
            "--name",
            "Health services",
            "--redirect-uri",
            "https://services.health.example/cb",
            "--auth-method",
            "client_secret_post",
            "--backchannel-logout-uri",
            logout.url("post"),
        ),
        "fapi": _add_client(
            env,
            data_dir,
            "--name",
            "Bank of the Mekong",
            "--redirect-uri",
            "https://bank.example/cb",
            "--auth-method",
            "private_key_jwt",
            "--jwks",
            str(jwks_file),
            "--fapi2",
        ),
    }
    return citizen, clients, fapi_key


@contextmanager
def running_provider(work: Path) -> Iterator[Provider]:
    """``natid serve`` on a fresh data directory, with a citizen and three clients."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    data_dir = work / "var"
    env = environ_without_natid()
    env["NATID_PUBLIC_BASE_URL"] = issuer
    natid = Path(sys.executable).with_name("natid")
    log_path = work / "serve.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [str(natid), "serve", "--data-dir", str(data_dir), "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    logout = LogoutListener()
    logout.start()
    try:
        _wait_ready(f"{issuer}/readyz", proc, log_path)
        citizen, clients, fapi_key = _setup(env, data_dir, work, logout)
        dpop_key = ECKey.generate_key("P-256", parameters={"alg": "ES256"})
        yield Provider(issuer, data_dir, env, citizen, clients, fapi_key, dpop_key, logout)
    finally:
        logout.stop()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
