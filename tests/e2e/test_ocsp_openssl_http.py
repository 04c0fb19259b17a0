"""``openssl ocsp`` against a running NatID server: good, then revoked after ``natid ca revoke``.

The relying party's view of issue 3 ("openssl ocsp -issuer ... -cert ... -url ... reports
good, then revoked after natid ca revoke"): a real server on a free port with a fresh data
directory, a citizen-auth certificate issued through the CLI from an openssl CSR, and
``openssl ocsp`` asking the URL that certificate names in AIA OCSP - with a nonce (signed for
the request) and with ``-no_nonce`` (the pre-signed, cached path). The revocation is made by
``natid ca revoke`` in another process, so the server's in-process cache is never told: the
next request must still say ``revoked``, with the reason.

The server is ``natid serve`` once the OCSP router is wired into ``api.app``; until then the
same application factory plus the router, under uvicorn (see :func:`app_with_ocsp`).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID
from fastapi import FastAPI

from tests._env import environ_without_natid
from tests._serving import free_port
from tests.conftest import require_command

pytestmark = pytest.mark.slow

NATID = Path(sys.executable).with_name("natid")
REPO = Path(__file__).resolve().parents[2]


def app_with_ocsp() -> FastAPI:
    """``natid serve``'s application factory, with the OCSP router if it is not wired yet."""
    from api.app import create_app_from_env
    from api.routers import ocsp

    app = create_app_from_env()
    if not any(getattr(r, "path", "").startswith("/pki/ocsp/") for r in app.routes):
        app.include_router(ocsp.router)
    return app


def _ocsp_wired() -> bool:
    import api.app

    return hasattr(api.app, "ocsp")


def _env(data: Path, port: int) -> dict[str, str]:
    env = environ_without_natid()
    env["NATID_DATA_DIR"] = str(data)
    env["NATID_PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    env["NATID_LOG_LEVEL"] = "WARNING"
    return env


def natid(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(NATID), *args], env=env, capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, f"natid {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    env = _env(tmp_path / "var", port)
    natid("init", env=env)
    if _ocsp_wired():
        cmd = [str(NATID), "serve", "--port", str(port)]
    else:
        cmd = [sys.executable, "-m", "uvicorn", "--factory", f"{__name__}:app_with_ocsp",
               "--port", str(port), "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise AssertionError(f"the server exited with {proc.returncode}: {out[-2000:]}")
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server never became ready"
            time.sleep(0.25)
        yield base, env
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _openssl_ocsp(
    openssl: str, work: Path, url: str, *, nonce: bool
) -> subprocess.CompletedProcess[str]:
    args = [openssl, "ocsp", "-issuer", str(work / "citizen.pem"), "-cert", str(work / "cert.pem"),
            "-url", url, "-CAfile", str(work / "chain.pem"), "-resp_text"]  # fmt: skip
    if not nonce:
        args.append("-no_nonce")
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)


def test_openssl_ocsp_good_then_revoked_after_natid_ca_revoke(
    server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    openssl = require_command("openssl")
    base, env = server
    work = tmp_path / "rp"
    work.mkdir()
    # A citizen of the demo register gets a certificate from an openssl CSR, via the CLI.
    person = json.loads(natid("registry", "list", "persons", "--json", "--limit", "1", env=env))
    subprocess.run(
        [openssl, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(work / "my.key"), "-subj", "/CN=ignored",
         "-out", str(work / "my.csr")],
        check=True, capture_output=True,
    )  # fmt: skip
    serial = natid(
        "ca", "issue", "--profile", "citizen-auth", "--subject", person[0]["id"],
        "--csr", str(work / "my.csr"), "--out", str(work / "cert.pem"), env=env,
    ).strip()  # fmt: skip
    cert = x509.load_pem_x509_certificate((work / "cert.pem").read_bytes())
    aia = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    url = next(d.access_location.value for d in aia if d.access_method == AuthorityInformationAccessOID.OCSP)  # fmt: skip  # noqa: E501
    assert url == f"{base}/pki/ocsp/citizen"
    # The relying party fetches the CA certificates from the URLs NatID serves.
    pems = {}
    for name in ("citizen", "root"):
        der = httpx.get(f"{base}/pki/ca/{name}.crt", timeout=10).content
        pems[name] = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
    (work / "citizen.pem").write_bytes(pems["citizen"])
    (work / "chain.pem").write_bytes(pems["root"] + pems["citizen"])

    for nonce in (True, False):
        result = _openssl_ocsp(openssl, work, url, nonce=nonce)
        out = result.stdout + result.stderr
        assert result.returncode == 0, out
        assert "Response verify OK" in out
        assert f"{work / 'cert.pem'}: good" in out
        assert ("WARNING: no nonce in response" not in out) and (("OCSP Nonce" in out) is nonce), (
            out
        )

    natid("ca", "revoke", serial, "--reason", "keyCompromise", env=env)

    for nonce in (False, True):  # the cached path first: it must not serve the old "good"
        result = _openssl_ocsp(openssl, work, url, nonce=nonce)
        out = result.stdout + result.stderr
        assert result.returncode == 0, out
        assert "Response verify OK" in out
        assert f"{work / 'cert.pem'}: revoked" in out, out
        assert "Reason: keyCompromise" in out
