"""A relying party's own tools against a running `natid serve`: the CA issue's "done when".

Starts the real console script on a free port with a fresh data directory (as `make run` does),
issues a citizen certificate with the CLI from an openssl-made CSR, and then asks only stock
tools, over HTTP, at the URLs the certificate itself names:

* ``openssl ocsp`` reports ``good``, then ``revoked`` (with the reason) right after
  ``natid ca revoke`` ran in another process - no restart, no cache flush;
* ``curl`` fetches the CRL from the certificate's distribution point and ``openssl crl``
  parses it; after the revocation the new CRL lists the serial and ``openssl verify
  -crl_check`` refuses the certificate;
* ``openssl ts -query | curl --data-binary @- /tsa | openssl ts -verify`` passes.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

from tests._env import environ_without_natid
from tests._serving import free_port
from tests.conftest import require_command
from tests.e2e.test_serve import _wait_ready

pytestmark = pytest.mark.slow


class Server:
    def __init__(self, base: str, data_dir: Path, env: dict[str, str]) -> None:
        self.base = base
        self.data_dir = data_dir
        self.env = env

    def natid(self, *args: str, stdin: bytes | None = None) -> str:
        natid = Path(sys.executable).with_name("natid")
        proc = subprocess.run(
            [str(natid), *args, "--data-dir", str(self.data_dir)],
            input=stdin,
            capture_output=True,
            env=self.env,
            check=False,
            timeout=120,
        )
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc.stdout.decode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("interop")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = environ_without_natid()
    env["NATID_PUBLIC_BASE_URL"] = base
    natid = Path(sys.executable).with_name("natid")
    proc = subprocess.Popen(
        [str(natid), "serve", "--data-dir", str(tmp / "var"), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_ready(f"{base}/readyz", proc)
        yield Server(base, tmp / "var", env)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(list(args), input=stdin, capture_output=True, check=False, timeout=60)


def _url(cert: x509.Certificate, method: x509.ObjectIdentifier) -> str:
    aia = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    return str(next(d.access_location.value for d in aia if d.access_method == method))


def _crl_url(cert: x509.Certificate) -> str:
    cdp = cert.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    return str(cdp[0].full_name[0].value)


def test_openssl_ocsp_crl_and_ts_agree_before_and_after_revocation(
    server: Server, tmp_path: Path
) -> None:
    openssl = require_command("openssl")
    curl = require_command("curl")

    persons = json.loads(server.natid("registry", "list", "persons", "--json", "--limit", "5"))
    subject = persons[0]["id"]
    key, csr, pem = tmp_path / "my.key", tmp_path / "my.csr", tmp_path / "my.pem"
    assert _run(openssl, "ecparam", "-name", "prime256v1", "-genkey", "-noout",
                "-out", str(key)).returncode == 0  # fmt: skip
    assert _run(openssl, "req", "-new", "-key", str(key), "-subj", "/CN=ignored",
                "-out", str(csr)).returncode == 0  # fmt: skip
    serial = server.natid(
        "ca", "issue", "--profile", "citizen-auth", "--subject", subject,
        "--csr", str(csr), "--out", str(pem),
    ).strip()  # fmt: skip
    cert = x509.load_pem_x509_certificate(pem.read_bytes())
    assert f"{cert.serial_number:X}" == serial.replace(":", "").upper().lstrip("0")

    # The chain, fetched where the certificate says (AIA caIssuers), then the root's.
    issuer_der = tmp_path / "issuer.der"
    ca_url = _url(cert, AuthorityInformationAccessOID.CA_ISSUERS)
    assert ca_url.startswith(server.base)
    assert _run(curl, "-sf", "-o", str(issuer_der), ca_url).returncode == 0
    issuer = tmp_path / "issuer.pem"
    issuer_cert = x509.load_der_x509_certificate(issuer_der.read_bytes())
    issuer.write_bytes(issuer_cert.public_bytes(Encoding.PEM))
    root = tmp_path / "root.pem"
    root_der = _run(curl, "-sf", f"{server.base}/pki/ca/root.crt").stdout
    root.write_bytes(x509.load_der_x509_certificate(root_der).public_bytes(Encoding.PEM))
    chain = tmp_path / "chain.pem"
    chain.write_bytes(issuer.read_bytes() + root.read_bytes())

    ocsp_url = _url(cert, AuthorityInformationAccessOID.OCSP)

    def ocsp(*extra: str) -> str:
        r = _run(openssl, "ocsp", "-issuer", str(issuer), "-cert", str(pem), "-url", ocsp_url,
                 "-CAfile", str(chain), *extra)  # fmt: skip
        out = (r.stdout + r.stderr).decode()
        assert r.returncode == 0, out
        assert "Response verify OK" in out, out
        return out

    assert f"{pem}: good" in ocsp()
    assert f"{pem}: good" in ocsp("-no_nonce")

    crl_url = _crl_url(cert)
    crl_before = _run(curl, "-sf", "-D", "-", "-o", str(tmp_path / "before.crl"), crl_url)
    assert crl_before.returncode == 0
    assert b"application/pkix-crl" in crl_before.stdout
    text = _run(openssl, "crl", "-inform", "DER", "-in", str(tmp_path / "before.crl"),
                "-noout", "-text").stdout.decode()  # fmt: skip
    assert "X509v3 CRL Number" in text
    number_before = int(re.search(r"CRL Number:\s*\n?\s*(\d+)", text).group(1))  # type: ignore[union-attr]
    assert f"Serial Number: {serial}" not in text

    # Revoke from another process; the running server must show it on the next request.
    server.natid("ca", "revoke", serial, "--reason", "keyCompromise")
    for extra in ((), ("-no_nonce",)):
        out = ocsp(*extra)
        assert f"{pem}: revoked" in out, out
        assert "Reason: keyCompromise" in out, out

    assert _run(curl, "-sf", "-o", str(tmp_path / "after.crl"), crl_url).returncode == 0
    text = _run(openssl, "crl", "-inform", "DER", "-in", str(tmp_path / "after.crl"),
                "-noout", "-text").stdout.decode()  # fmt: skip
    number_after = int(re.search(r"CRL Number:\s*\n?\s*(\d+)", text).group(1))  # type: ignore[union-attr]
    assert number_after > number_before
    assert serial.replace(":", "").upper() in text.replace(":", "").upper()
    assert "Key Compromise" in text
    crl_pem = tmp_path / "after.pem"
    assert _run(openssl, "crl", "-inform", "DER", "-in", str(tmp_path / "after.crl"),
                "-out", str(crl_pem)).returncode == 0  # fmt: skip
    verify = _run(openssl, "verify", "-crl_check", "-CAfile", str(chain),
                  "-CRLfile", str(crl_pem), str(pem))  # fmt: skip
    assert verify.returncode != 0
    assert "certificate revoked" in (verify.stdout + verify.stderr).decode()


def test_openssl_ts_through_curl_verifies(server: Server, tmp_path: Path) -> None:
    openssl = require_command("openssl")
    curl = require_command("curl")
    doc = tmp_path / "memo.txt"
    doc.write_text("ក្រសួង memo 2026\n", encoding="utf-8")
    query = _run(openssl, "ts", "-query", "-data", str(doc), "-sha256", "-cert")
    assert query.returncode == 0
    reply = _run(curl, "-sf", "-H", "Content-Type: application/timestamp-query",
                 "--data-binary", "@-", f"{server.base}/tsa", stdin=query.stdout)  # fmt: skip
    assert reply.returncode == 0
    (tmp_path / "reply.tsr").write_bytes(reply.stdout)
    chain = tmp_path / "chain.pem"
    pems = []
    for name in ("government", "root"):
        der = _run(curl, "-sf", f"{server.base}/pki/ca/{name}.crt").stdout
        pems.append(x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM))
    chain.write_bytes(b"".join(pems))
    verify = _run(openssl, "ts", "-verify", "-data", str(doc), "-in", str(tmp_path / "reply.tsr"),
                  "-CAfile", str(chain))  # fmt: skip
    assert verify.returncode == 0, verify.stderr.decode()
    assert b"Verification: OK" in verify.stdout
