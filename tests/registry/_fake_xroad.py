"""A fake civil register behind an X-Road security server, for the adapter's contract tests.

It serves the services of :mod:`registry.xroad_wire` from an :class:`EmbeddedRegister` over
HTTPS on localhost with mutual TLS (the client must present a certificate of the test CA),
and checks the X-Road headers of PR-REST §4.3 the way a security server does: a request
without ``X-Road-Client``, ``X-Road-Id`` or ``X-Road-UserId``, or from another client, is
refused with an X-Road error body (PR-REST §4.4). Answers echo the request's ``X-Road-Id``.

Knobs for the failure tests: ``hold`` (answers wait until the event is set, for timeouts),
``fail_next`` (that many 503s), ``wrong_id`` (echo another id).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from registry import xroad_wire as wire
from registry.errors import SubjectNotFound
from registry.service import EmbeddedRegister

CLIENT = "KH/GOV/NATID/idp"
SERVICE = "KH/GOV/MOI/civil-register/population"


@dataclass(frozen=True)
class XRoadPki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_cert: Path
    other_key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def make_pki(directory: Path, *, now: dt.datetime) -> XRoadPki:
    """A test CA, the security server's certificate (127.0.0.1), NatID's client certificate,
    and a client certificate from an unrelated CA."""

    def issue(
        subject: str,
        key: ec.EllipticCurvePrivateKey,
        issuer: x509.Name,
        issuer_key: ec.EllipticCurvePrivateKey,
        *,
        ca: bool = False,
        server: bool = False,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(subject))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            ).add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
        else:
            usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                critical=False,
            )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
        return builder.sign(issuer_key, hashes.SHA256())

    paths: dict[str, Path] = {}
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = issue("Test X-Road CA", ca_key, _name("Test X-Road CA"), ca_key, ca=True)
    other_ca_key = ec.generate_private_key(ec.SECP256R1())
    for label, subject, signer, signer_key, server in (
        ("server", "security-server", ca_cert.subject, ca_key, True),
        ("client", "natid-idp", ca_cert.subject, ca_key, False),
        ("other", "intruder", _name("Other CA"), other_ca_key, False),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = issue(subject, key, signer, signer_key, server=server)
        paths[f"{label}_cert"] = directory / f"{label}.pem"
        paths[f"{label}_key"] = directory / f"{label}.key"
        paths[f"{label}_cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(paths[f"{label}_key"], key)
    ca_path = directory / "ca.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return XRoadPki(ca=ca_path, **paths)


@dataclass
class FakeRegisterServer:
    register: EmbeddedRegister
    url: str = ""
    hold: threading.Event | None = None
    fail_next: int = 0
    wrong_id: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: the test output is no place for access logs."""

    def _send(self, status: int, body: object, request_id: str | None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        if request_id is not None:
            self.send_header("X-Road-Id", request_id)
        self.end_headers()
        self.wfile.write(raw)

    def _error(self, status: int, kind: str, message: str, request_id: str | None) -> None:
        self._send(
            status, {"type": kind, "message": message, "detail": str(uuid.uuid4())}, request_id
        )

    def do_GET(self) -> None:
        self._handle(None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            body = None
        self._handle(body)

    def _handle(self, body: object) -> None:
        fake = self.server.fake
        client = self.headers.get("X-Road-Client")
        request_id = self.headers.get("X-Road-Id")
        user = self.headers.get("X-Road-UserId")
        with fake.lock:
            fake.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "client": client,
                    "id": request_id,
                    "user": user,
                    "body": body,
                }
            )
            failing = fake.fail_next > 0
            fake.fail_next -= 1 if failing else 0
        if fake.hold is not None:
            fake.hold.wait(10)
        try:
            uuid.UUID(request_id or "")
        except ValueError:
            self._error(400, "Client.InvalidRequest", "X-Road-Id: expected a UUID", None)
            return
        echo = str(uuid.uuid4()) if fake.wrong_id else request_id
        if client is None or not user:
            self._error(400, "Client.InvalidRequest", "missing X-Road headers", echo)
            return
        if client != CLIENT:
            self._error(403, "Server.ServerProxy.AccessDenied", "client not allowed", echo)
            return
        if failing:
            self._error(503, "Server.ServerProxy.ServiceFailed", "register down", echo)
            return
        path = unquote(self.path)
        subsystem = "/r1/" + SERVICE.rsplit("/", 1)[0]
        if self.command == "GET" and path == f"{subsystem}/listMethods":
            self._send(200, {"service": [{"service_code": "population"}]}, echo)
            return
        prefix = f"/r1/{SERVICE}/"
        if not path.startswith(prefix):
            self._error(404, "Server.ServerProxy.UnknownService", "unknown service", echo)
            return
        try:
            answer = self._route(path.removeprefix(prefix).split("/"), body)
        except SubjectNotFound:
            self._error(404, "Server.ServiceFailed.NotFound", "no such subject", echo)
            return
        if answer is None:
            self._error(404, "Server.ServiceFailed.NotFound", "no such subject", echo)
            return
        self._send(200, answer, echo)

    def _route(self, parts: list[str], body: object) -> object:
        register = self.server.fake.register
        match self.command, parts:
            case "POST", ["persons", "search"]:
                number = body.get("national_id") if isinstance(body, dict) else None
                found = register.find_person_by_national_id(str(number))
                return wire.encode_person(found) if found is not None else None
            case "GET", ["persons", key]:
                return wire.encode_person(register.get_person(key))
            case "GET", ["persons", key, "servants"]:
                servants = register.servants_of_person(key)
                return {"servants": [wire.encode_servant(s) for s in servants]}
            case "GET", ["persons", key, "proofing", "current"]:
                return wire.encode_proofing(register.current_proofing(key))
            case "GET", ["entities", key]:
                return wire.encode_entity(register.get_entity(key))
            case "GET", ["servants", key]:
                return wire.encode_servant(register.get_servant(key))
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeRegisterServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A refused TLS handshake (a client without a certificate) is expected here."""


@contextmanager
def serve(register: EmbeddedRegister, pki: XRoadPki) -> Iterator[FakeRegisterServer]:
    """Run the fake on an ephemeral port of 127.0.0.1 until the block ends."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(pki.server_cert), str(pki.server_key))
    context.load_verify_locations(cafile=str(pki.ca))
    context.verify_mode = ssl.CERT_REQUIRED
    server = _Server(("127.0.0.1", 0), _Handler)
    # The handshake runs in the handler's thread (on first read), not in the accept loop.
    server.socket = context.wrap_socket(
        server.socket, server_side=True, do_handshake_on_connect=False
    )
    fake = FakeRegisterServer(register, url=f"https://127.0.0.1:{server.server_address[1]}")
    server.fake = fake
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        if fake.hold is not None:
            fake.hold.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module", name="pki")
def pki_fixture(tmp_path_factory: pytest.TempPathFactory) -> XRoadPki:
    """The test PKI; its validity is real time, as TLS checks certificates against the OS clock."""
    return make_pki(tmp_path_factory.mktemp("xroad-pki"), now=dt.datetime.now(dt.UTC))


@pytest.fixture(name="fake")
def fake_fixture(register: EmbeddedRegister, pki: XRoadPki) -> Iterator[FakeRegisterServer]:
    with serve(register, pki) as server:
        yield server
