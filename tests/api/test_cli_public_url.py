"""The public base URL a data directory was set up with, from the command line.

The defect these tests stop: ``natid init`` and ``natid serve`` ran with
``NATID_PUBLIC_BASE_URL=A``, and a later ``natid ca revoke`` without the variable published a
CRL whose issuing distribution point named the default URL (``openssl verify -crl_check_all``:
"different CRL scope" for every certificate), and ``natid ca issue`` made a certificate naming
it for good. Now the URL is recorded with the hierarchy (core/installation.py): commands
without the variable use it, commands with another one refuse before writing anything, and
``natid ca set-public-url`` changes it on purpose, audited.

One data directory is initialised per module (the hierarchy's keys take seconds); each test
works on a copy of it (SQLite).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from typer.testing import CliRunner

from api.cli.main import app
from api.context import build_context
from core.installation import PUBLIC_URL_CHANGED, PUBLIC_URL_RECORDED, PublicUrlMismatch
from core.settings import load_settings
from tests._env import without_natid_settings
from tests.ca._issuance import ec_key, make_csr
from tests.conftest import require_command

runner = CliRunner()

A = "http://127.0.0.1:8401"
B = "http://localhost:8000"
MISMATCH = (
    f"error: NATID_PUBLIC_BASE_URL is {B}, but this installation was set up with {A} (its "
    f"certificates, CRLs and OpenID issuer name it): unset NATID_PUBLIC_BASE_URL to use {A}, "
    f"or change it on purpose with `natid ca set-public-url {B}` (certificates already issued "
    "keep their URLs) [public_url_mismatch]"
)


@pytest.fixture(scope="module", autouse=True)
def _no_natid_env() -> Iterator[None]:
    with without_natid_settings():
        yield


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A data directory initialised with ``NATID_PUBLIC_BASE_URL=A``, and one proofed person."""
    data = tmp_path_factory.mktemp("public-url") / "var"
    result = runner.invoke(
        app, ["init", "--no-demo", "--data-dir", str(data)], env={"NATID_PUBLIC_BASE_URL": A}
    )
    assert result.exit_code == 0, result.output
    assert f"public base URL: {A} (recorded; certificates name it)" in result.output
    ctx = build_context(load_settings(data_dir=data))
    try:
        assert ctx.settings.public_base_url == A  # no variable: the recorded one
        person = ctx.register.add_person(
            {"national_id": "312000101", "name_km": "សុខ ដារ៉ា", "name_latin": "Sok Dara",
             "birthdate": "1990-04-17"}
        )  # fmt: skip
        ctx.register.record_proofing(
            person.id, method="in_person", level="high", evidence="national_id_card",
            office="Phnom Penh",
        )  # fmt: skip
    finally:
        ctx.close()
    return data, person.id


@pytest.fixture
def data_dir(golden: tuple[Path, str], tmp_path: Path) -> Path:
    target = tmp_path / "var"
    shutil.copytree(golden[0], target)
    return target


def natid(data: Path, *args: str, url: str | None = None) -> tuple[int, str, str]:
    env = {"NATID_PUBLIC_BASE_URL": url} if url else {}
    result = runner.invoke(app, [*args, "--data-dir", str(data)], env=env)
    return result.exit_code, result.stdout, result.stderr


def issue(
    data: Path, subject: str, tmp_path: Path, *, url: str | None = None
) -> tuple[int, str, str]:
    csr = tmp_path / f"req-{os.urandom(4).hex()}.pem"
    csr.write_bytes(make_csr(ec_key()))
    return natid(data, "ca", "issue", "-p", "citizen-auth", "-s", subject, "--csr", str(csr),
                 url=url)  # fmt: skip


def named_urls(cert: x509.Certificate) -> set[str]:
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    return {n.value for p in points for n in p.full_name or ()} | {
        d.access_location.value for d in access
    }


def crl_scope(data: Path) -> str:
    code, out, err = natid(data, "ca", "crl", "citizen", "--pem")
    assert code == 0, err
    crl = x509.load_pem_x509_crl(out.encode())
    idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    [name] = idp.full_name or ()
    return str(name.value)


def ledger_events(data: Path) -> list[tuple[str, dict[str, object]]]:
    with sqlite3.connect(data / "natid.db") as db:
        rows = db.execute("SELECT event, data FROM audit_entries ORDER BY seq").fetchall()
    return [(event, json.loads(text)) for event, text in rows]


def test_issue_and_revoke_without_the_variable_name_the_recorded_url(
    golden: tuple[Path, str], data_dir: Path, tmp_path: Path
) -> None:
    code, out, err = issue(data_dir, golden[1], tmp_path)
    assert code == 0, err
    cert = x509.load_pem_x509_certificate(out.encode())
    assert named_urls(cert) == {
        f"{A}/pki/crl/citizen.crl", f"{A}/pki/ocsp/citizen", f"{A}/pki/ca/citizen.crt",
    }  # fmt: skip
    serial = f"{cert.serial_number:X}"
    code, _, err = natid(data_dir, "ca", "revoke", serial, "--reason", "keyCompromise")
    assert code == 0, err
    assert crl_scope(data_dir) == f"{A}/pki/crl/citizen.crl"

    # What an auditor runs: the CRL is in the certificate's scope, so openssl finds it revoked.
    openssl = require_command("openssl")
    ctx = build_context(load_settings(data_dir=data_dir))
    try:
        sub, root = ctx.ca().chain("citizen")
    finally:
        ctx.close()
    files = {}
    for name, obj in (("root.pem", root), ("sub.pem", sub), ("leaf.pem", cert)):
        files[name] = tmp_path / name
        files[name].write_bytes(obj.public_bytes(Encoding.PEM))
    crls = tmp_path / "crls.pem"
    crls.write_text(natid(data_dir, "ca", "crl", "root", "--pem")[1]
                    + natid(data_dir, "ca", "crl", "citizen", "--pem")[1])  # fmt: skip
    verify = subprocess.run(
        [openssl, "verify", "-x509_strict", "-crl_check_all", "-CAfile", str(files["root.pem"]),
         "-untrusted", str(files["sub.pem"]), "-CRLfile", str(crls), str(files["leaf.pem"])],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verify.returncode != 0
    assert "certificate revoked" in verify.stdout + verify.stderr
    assert "different CRL scope" not in verify.stdout + verify.stderr


def test_another_url_in_the_variable_is_refused_before_anything_is_written(
    golden: tuple[Path, str], data_dir: Path, tmp_path: Path
) -> None:
    code, out, err = issue(data_dir, golden[1], tmp_path)
    assert code == 0, err
    serial = f"{x509.load_pem_x509_certificate(out.encode()).serial_number:X}"
    before = ledger_events(data_dir)
    keys = sorted(p.name for p in (data_dir / "keys").iterdir())

    code, out, err = natid(data_dir, "ca", "issue", "-p", "citizen-auth", "-s", golden[1],
                           "--server-key", url=B)  # fmt: skip
    assert (code, out, err.strip()) == (1, "", MISMATCH)
    code, out, err = natid(data_dir, "ca", "revoke", serial, "--reason", "keyCompromise", url=B)
    assert (code, out, err.strip()) == (1, "", MISMATCH)

    # Nothing half-way: no certificate, no key, no revocation, no CRL, no audit entry.
    assert ledger_events(data_dir) == before
    assert sorted(p.name for p in (data_dir / "keys").iterdir()) == keys
    code, out, _ = natid(data_dir, "ca", "show", serial, "--json")
    assert json.loads(out)["status"] == "good"
    # The recorded URL with a trailing slash is the same URL.
    code, out, err = natid(data_dir, "ca", "public-url", url=A + "/")
    assert code == 0, err
    assert out.splitlines() == [f"recorded: {A}", f"NATID_PUBLIC_BASE_URL: {A}/", f"in use: {A}"]


def test_serve_with_another_url_is_refused_before_initialising(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    started: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **_kw: started.append(target))
    monkeypatch.setenv("NATID_DATA_DIR", "unset-by-monkeypatch")  # serve sets it for workers
    code, _, err = natid(data_dir, "serve", "--port", "8000", url=B)
    assert (code, err.strip()) == (1, MISMATCH)
    assert started == []


def test_serve_without_the_variable_uses_and_hands_on_the_recorded_url(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    started: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **_kw: started.append(target))
    # serve exports both for its workers; monkeypatch restores them afterwards.
    monkeypatch.setenv("NATID_DATA_DIR", "x")
    monkeypatch.setenv("NATID_PUBLIC_BASE_URL", "x")
    monkeypatch.delenv("NATID_PUBLIC_BASE_URL")
    code, _, err = natid(data_dir, "serve", "--port", "8402")
    assert code == 0, err
    assert started == ["api.app:create_app_from_env"]
    assert os.environ["NATID_PUBLIC_BASE_URL"] == A
    assert f"warning: the public base URL is {A}, but this server listens on port 8402" in err
    assert "`natid ca set-public-url http://localhost:8402`" in err


def test_set_public_url_is_deliberate_audited_and_used_from_then_on(
    golden: tuple[Path, str], data_dir: Path, tmp_path: Path
) -> None:
    code, out, err = natid(data_dir, "ca", "set-public-url", B)
    assert (code, out) == (1, "")
    assert (
        err.strip()
        == f"error: refusing to change the public base URL from {A} to {B} without --yes"
    )
    code, out, err = natid(data_dir, "ca", "set-public-url", B, "--yes", url="http://other:1")
    assert code == 2
    assert "NATID_PUBLIC_BASE_URL is http://other:1, not http://localhost:8000" in err
    code, _, err = natid(data_dir, "ca", "set-public-url", "ftp://pki.gov.kh", "--yes")
    assert code == 2
    assert "http(s)://host[:port][/path]" in err
    assert ledger_events(data_dir)[-1][0] != PUBLIC_URL_CHANGED

    code, out, err = natid(data_dir, "ca", "set-public-url", B + "/", "--yes", url=B)
    assert code == 0, err
    assert out.strip() == f"public base URL: {A} -> {B} (audit: installation.public_url.changed)"
    assert f"Certificates issued before, the CA certificates among them, keep naming {A}" in err
    assert f"The OpenID issuer becomes {B}" in err
    event, data = ledger_events(data_dir)[-1]
    assert (event, data) == (PUBLIC_URL_CHANGED, {"from": A, "to": B})
    code, out, _ = natid(data_dir, "ca", "set-public-url", B, "--yes")
    assert (code, out.strip()) == (0, f"the public base URL is {B} already; nothing changed")

    # From then on: with the variable, and without it.
    for url in (B, None):
        code, out, err = issue(data_dir, golden[1], tmp_path, url=url)
        assert code == 0, err
        cert = x509.load_pem_x509_certificate(out.encode())
        assert f"{B}/pki/crl/citizen.crl" in named_urls(cert)
    code, out, _ = natid(data_dir, "ca", "public-url", "--json", url=A)
    assert json.loads(out) == {"recorded": B, "configured": A, "in_use": A, "conflict": True}


def test_a_hierarchy_made_before_the_url_was_recorded_gets_it_from_its_certificates(
    data_dir: Path,
) -> None:
    with sqlite3.connect(data_dir / "natid.db") as db:
        db.execute("DELETE FROM installation_settings")
    code, _, err = natid(data_dir, "ca", "list", url=B)
    assert (code, err.strip()) == (1, MISMATCH)
    event, data = ledger_events(data_dir)[-1]
    assert (event, data) == (
        PUBLIC_URL_RECORDED, {"url": A, "source": "the issuing CA certificates"}
    )  # fmt: skip
    code, out, _ = natid(data_dir, "ca", "public-url")
    assert out.splitlines()[0] == f"recorded: {A}"
    assert [e for e, _ in ledger_events(data_dir)].count(PUBLIC_URL_RECORDED) == 1


def test_a_new_data_directory_records_the_url_of_its_first_hierarchy(tmp_path: Path) -> None:
    data = tmp_path / "var"
    # natid serve's default when nothing is recorded and the variable is unset: its own port.
    ctx = build_context(load_settings(data_dir=data), default_public_url="http://localhost:8402")
    try:
        assert ctx.settings.public_base_url == "http://localhost:8402"
        ctx.ca().ensure_hierarchy(actor="test")
    finally:
        ctx.close()
    ctx = build_context(load_settings(data_dir=data), default_public_url="http://localhost:9")
    try:
        assert ctx.settings.public_base_url == "http://localhost:8402"  # the record wins
        assert ctx.idp_core().issuer == "http://localhost:8402"  # the OpenID issuer follows it
    finally:
        ctx.close()
    with pytest.raises(PublicUrlMismatch):
        build_context(load_settings(data_dir=data, public_base_url="http://localhost:9"))
