"""OCSP interoperability: ``openssl ocsp`` as the client, offline and over HTTP; pkilint.

The requests come from ``openssl ocsp -reqout``; our responses are checked by ``openssl ocsp
-respin`` against the root (``-CAfile root.pem``, the issuing CA as an untrusted intermediate),
which verifies the delegated responder chain, the signature, the CertID, the times and - when
the request is given with ``-reqin`` - the nonce. The live test puts ``respond()`` behind a
tiny ``http.server`` so ``openssl ocsp -url`` talks to it over the wire (POST, RFC 6960 §A.1).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from ca.ocsp import CONTENT_TYPE, OCSPResponder, status_lookup_from
from ca.revocation import RevocationReason, RevocationStatus
from core.cache import InMemoryCache
from core.clock import FixedClock
from tests.ca._lint import errors
from tests.ca._pki import Pki, lint_ocsp_response, make_pki, now_utc, openssl, output, pem, write
from tests.conftest import require_command


@dataclass
class Files:
    root: Path
    ca: Path
    alice: Path
    bob: Path
    stranger: Path


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


@pytest.fixture(scope="module")
def files(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Files:
    d = tmp_path_factory.mktemp("ocsp-openssl")
    return Files(
        root=write(d / "root.pem", pem(pki.hierarchy.root)),
        ca=write(d / "ca.pem", pem(pki.ca_cert)),
        alice=write(d / "alice.pem", pem(pki.leaf("alice"))),
        bob=write(d / "bob.pem", pem(pki.leaf("bob"))),
        stranger=write(d / "stranger.pem", pem(pki.leaf("stranger"))),
    )


@dataclass
class Live:
    clock: FixedClock
    statuses: dict[int, RevocationStatus]
    responder: OCSPResponder


@pytest.fixture
def live(pki: Pki) -> Live:
    require_command("openssl")
    clock = FixedClock(now_utc())
    statuses = {
        pki.leaf("alice").serial_number: RevocationStatus.good(),
        pki.leaf("bob").serial_number: RevocationStatus.good(),
    }
    responder = OCSPResponder(
        pki.ca_cert,
        pki.responder_cert,
        pki.responder_key,
        clock=clock,
        status_of=status_lookup_from(statuses),
        cache=InMemoryCache(clock=clock),
    )
    return Live(clock, statuses, responder)


def ask(files: Files, tmp: Path, cert: Path, *extra: str) -> Path:
    """Have openssl write a request for ``cert`` (extra: -no_nonce, -sha256, ...)."""
    req = tmp / f"{cert.stem}.req.der"
    result = openssl("ocsp", "-issuer", files.ca, *extra, "-cert", cert, "-reqout", req)
    assert result.returncode == 0, output(result)
    return req


def check(files: Files, response: Path, cert: Path, *extra: str) -> str:
    """openssl's verdict on a response for ``cert`` (its own request has no nonce)."""
    result = openssl(
        "ocsp", "-respin", response, "-issuer", files.ca, *extra, "-cert", cert, "-no_nonce",
        "-CAfile", files.root, "-verify_other", files.ca,
    )  # fmt: skip
    text = output(result)
    assert result.returncode == 0, text
    assert "Response verify OK" in text
    return text


def answer(live: Live, req: Path) -> Path:
    path = req.with_suffix(".resp.der")
    path.write_bytes(live.responder.respond(req.read_bytes()))
    return path


def test_openssl_sees_good_then_revoked_with_reason_and_time(
    live: Live, files: Files, pki: Pki, tmp_path: Path
) -> None:
    req = ask(files, tmp_path, files.alice, "-no_nonce")
    assert f"{files.alice}: good" in check(files, answer(live, req), files.alice)

    revoked_at = live.clock.now() - dt.timedelta(minutes=1)
    live.statuses[pki.leaf("alice").serial_number] = RevocationStatus.revoked(
        revoked_at, RevocationReason.KEY_COMPROMISE
    )
    live.responder.on_status_change(pki.leaf("alice").serial_number)
    text = check(files, answer(live, req), files.alice)
    assert f"{files.alice}: revoked" in text
    assert "Reason: keyCompromise" in text
    assert f"Revocation Time: {revoked_at:%b %e %H:%M:%S %Y} GMT" in text


def test_openssl_sees_unknown_for_a_certificate_never_stored(
    live: Live, files: Files, tmp_path: Path
) -> None:
    req = ask(files, tmp_path, files.stranger, "-no_nonce")
    assert f"{files.stranger}: unknown" in check(files, answer(live, req), files.stranger)


def test_openssl_sha256_certid_is_answered(live: Live, files: Files, tmp_path: Path) -> None:
    req = ask(files, tmp_path, files.bob, "-no_nonce", "-sha256")
    text = check(files, answer(live, req), files.bob, "-sha256")
    assert f"{files.bob}: good" in text


def test_openssl_checks_our_nonce_echo(live: Live, files: Files, tmp_path: Path) -> None:
    req = ask(files, tmp_path, files.alice)  # openssl adds a random nonce by default
    resp = answer(live, req)
    verify = ("-CAfile", files.root, "-verify_other", files.ca)
    echoed = output(openssl("ocsp", "-reqin", req, "-respin", resp, *verify))
    assert "Response verify OK" in echoed
    assert "nonce" not in echoed.lower()  # neither "no nonce" nor "Nonce Verify error"
    # The check is real: a response to another request (another nonce) fails it.
    other = answer(live, ask(files, tmp_path, files.bob))
    assert "Nonce Verify error" in output(openssl("ocsp", "-reqin", req, "-respin", other, *verify))


def test_openssl_reads_malformed_request_for_garbage(live: Live, tmp_path: Path) -> None:
    resp = write(tmp_path / "garbage.resp.der", live.responder.respond(b"\x30\x03garbage"))
    text = output(openssl("ocsp", "-respin", resp, "-resp_text", "-noverify"))
    assert "Responder Error: malformedrequest (1)" in text


@pytest.mark.parametrize("label", ["good", "revoked", "unknown"])
def test_pkilint_finds_no_error_in_responses(live: Live, pki: Pki, label: str) -> None:
    alice = pki.leaf("alice")
    if label == "revoked":
        live.statuses[alice.serial_number] = RevocationStatus.revoked(
            live.clock.now(), RevocationReason.CESSATION_OF_OPERATION
        )
    if label == "unknown":
        live.statuses.clear()
    der = live.responder.respond(
        ocsp.OCSPRequestBuilder()
        .add_certificate(alice, pki.ca_cert, hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    response = ocsp.load_der_ocsp_response(der)
    assert response.certificate_status.name.lower() == label
    assert errors(lint_ocsp_response(der)) == []


# --- over HTTP -------------------------------------------------------------------------------


@pytest.fixture
def server(live: Live) -> Iterator[str]:
    responder = live.responder

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self._send(responder.respond(body))

        def do_GET(self) -> None:
            self._send(responder.respond_get(self.path.removeprefix("/ocsp/")))

        def _send(self, der: bytes) -> None:
            self.send_response(200)
            for name, value in responder.http_headers(der).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(der)))
            self.end_headers()
            self.wfile.write(der)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/ocsp"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_openssl_client_over_http_sees_good_then_revoked(
    live: Live, server: str, files: Files, pki: Pki
) -> None:
    def query() -> str:
        result = openssl(
            "ocsp", "-url", server, "-issuer", files.ca, "-cert", files.bob,
            "-CAfile", files.root, "-verify_other", files.ca, "-timeout", "20",
        )  # fmt: skip
        text = output(result)
        assert result.returncode == 0, text
        assert "Response verify OK" in text
        assert "nonce" not in text.lower()  # openssl sent a nonce and found it echoed
        return text

    assert f"{files.bob}: good" in query()
    bob = pki.leaf("bob").serial_number
    live.statuses[bob] = RevocationStatus.revoked(live.clock.now(), RevocationReason.SUPERSEDED)
    live.responder.on_status_change(bob)
    text = query()
    assert f"{files.bob}: revoked" in text
    assert "Reason: superseded" in text


def test_get_over_http_serves_the_presigned_response_with_cache_headers(
    live: Live, server: str, files: Files, tmp_path: Path
) -> None:
    req = ask(files, tmp_path, files.alice, "-no_nonce")
    url = f"{server}/{b64encode(req.read_bytes()).decode()}"
    with urllib.request.urlopen(url, timeout=20) as reply:
        body = reply.read()
        assert reply.headers["Content-Type"] == CONTENT_TYPE
        assert re.fullmatch(r"max-age=\d+, public, no-transform, must-revalidate",
                            reply.headers["Cache-Control"])  # fmt: skip
        assert reply.headers["ETag"]
    assert body == live.responder.respond(req.read_bytes())  # the same pre-signed bytes
    assert f"{files.alice}: good" in check(files, write(tmp_path / "get.der", body), files.alice)
