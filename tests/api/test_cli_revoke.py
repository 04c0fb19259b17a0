"""``natid ca revoke / hold / resume / revoke-subject / revoke-where / crl`` on a real data
directory, on SQLite and on PostgreSQL, checked with openssl.

The CA commands are the sub-app ``api.cli.ca.app``, invoked directly (as in test_cli_ca).
One initialised data directory per database serves the whole module (making the hierarchy's
keys costs seconds); each test issues its own certificates.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from api.cli.ca import app as ca_app
from api.cli.main import app as main_app
from api.context import build_context
from core.db import make_engine
from core.settings import load_settings
from tests._env import without_natid_settings
from tests.ca._issuance import ec_key, make_csr
from tests.conftest import _reset_to_migrated, require_command

# Every command builds the application context (about a second each): CI runs these.
pytestmark = pytest.mark.slow

runner = CliRunner()


@dataclass
class CliDir:
    path: Path
    env: dict[str, str] = field(default_factory=dict)
    persons: list[str] = field(default_factory=list)

    def ca(self, *args: str) -> tuple[int, str, str]:
        result = runner.invoke(ca_app, [*args, "--data-dir", str(self.path)], env=self.env)
        return result.exit_code, result.stdout, result.stderr

    def issue(self, tmp_path: Path, *, subject: int = 0, p384: bool = False) -> str:
        """Issue a citizen-auth certificate from a CSR; return its serial."""
        key = ec.generate_private_key(ec.SECP384R1()) if p384 else ec_key()
        csr = tmp_path / f"req-{os.urandom(4).hex()}.pem"
        csr.write_bytes(make_csr(key))
        out = tmp_path / f"{csr.stem}.crt"
        code, stdout, err = self.ca(
            "issue", "-p", "citizen-auth", "-s", self.persons[subject], "--csr", str(csr),
            "--out", str(out),
        )  # fmt: skip
        assert code == 0, err
        return stdout.strip()

    def status(self, serial: str) -> str:
        code, out, err = self.ca("show", serial, "--json")
        assert code == 0, err
        return str(json.loads(out)["status"])


@pytest.fixture(scope="module", autouse=True)
def _no_natid_env() -> Iterator[None]:
    with without_natid_settings():
        yield


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def cli(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> CliDir:
    path = tmp_path_factory.mktemp("natid-revoke") / "var"
    data = CliDir(path)
    overrides: dict[str, object] = {"data_dir": path}
    if request.param == "postgresql":
        url, seeded = request.getfixturevalue("_postgres_db")
        engine = make_engine(url)
        _reset_to_migrated(engine, seeded)
        engine.dispose()
        data.env["NATID_DATABASE_URL"] = url
        overrides["database_url"] = url
    result = runner.invoke(main_app, ["init", "--no-demo", "--data-dir", str(path)], env=data.env)
    assert result.exit_code == 0, result.output
    ctx = build_context(load_settings(**overrides))
    try:
        for number in ("312000001", "312000002", "312000003"):
            person = ctx.register.add_person(
                {"national_id": number, "name_km": "សុខ ដារ៉ា", "name_latin": "Sok Dara",
                 "birthdate": "1990-04-17"}
            )  # fmt: skip
            ctx.register.record_proofing(
                person.id, method="in_person", level="high", evidence="national_id_card",
                office="Phnom Penh",
            )  # fmt: skip
            data.persons.append(person.id)
    finally:
        ctx.close()
    return data


def _colons(serial: str) -> str:
    return ":".join(serial[i : i + 2] for i in range(0, len(serial), 2)).lower()


def test_revoke_hold_resume_from_the_command_line(cli: CliDir, tmp_path: Path) -> None:
    serial = cli.issue(tmp_path)
    code, out, err = cli.ca("revoke", _colons(serial), "--reason", "keycompromise")
    assert code == 0, err
    assert out.startswith(f"{serial} revoked (keyCompromise) at ")
    assert cli.status(serial) == "revoked"

    code, out, err = cli.ca("revoke", serial, "--reason", "superseded")
    assert code == 1
    assert out == ""
    [line] = err.strip().splitlines()
    assert "revocation is final" in line
    assert line.endswith("[revocation_conflict]")

    other = cli.issue(tmp_path)
    code, out, _ = cli.ca("hold", other, "--json")
    assert code == 0
    assert json.loads(out)["status"] == "on_hold"
    code, out, _ = cli.ca("resume", other)
    assert (code, out.strip()) == (0, f"{other} good (hold released)")
    code, _, err = cli.ca("resume", other)
    assert code == 1
    assert "is good (not on hold)" in err


def test_bad_reasons_serials_and_dates_exit_1_with_one_line(cli: CliDir, tmp_path: Path) -> None:
    serial = cli.issue(tmp_path)
    code, out, err = cli.ca("revoke", serial, "--reason", "stolen")
    assert (code, out) == (1, "")
    [line] = err.strip().splitlines()
    assert line.startswith("error: unknown revocation reason 'stolen'; valid reasons")
    for name in ("keyCompromise", "cessationOfOperation", "certificateHold", "aACompromise"):
        assert name in line
    assert "removeFromCRL" not in line

    code, _, err = cli.ca("revoke", serial, "--reason", "removeFromCRL")
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    code, _, err = cli.ca("revoke", "zz:top", "--reason", "keyCompromise")
    assert code == 1
    [line] = err.strip().splitlines()
    assert "not hex as `openssl x509 -serial` prints it" in line
    code, _, err = cli.ca("revoke", "0BADC0DE", "--reason", "keyCompromise")
    assert code == 1
    assert err.strip().splitlines() == [
        "error: no certificate with serial number 0BADC0DE [certificate_not_found]"
    ]
    code, _, err = cli.ca(
        "revoke", serial, "--reason", "keyCompromise", "--invalidity-date", "2026-11-01T08:00"
    )
    assert code == 1
    assert "needs a time zone" in err
    assert cli.status(serial) == "good"


def test_revoke_where_lists_asks_and_revokes_exactly_the_matching_ones(
    cli: CliDir, tmp_path: Path
) -> None:
    weak = {cli.issue(tmp_path, subject=1, p384=True) for _ in range(2)}
    fine = cli.issue(tmp_path, subject=1)
    args = ("revoke-where", "--algorithm", "ec-p384", "--profile", "citizen-auth")

    code, out, err = cli.ca(*args, "--reason", "keyCompromise", "--dry-run", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["dry_run"] is True
    assert weak <= set(report["serials"])
    assert fine not in report["serials"]
    assert all(cli.status(s) == "good" for s in weak)

    # Not a terminal and no --yes: refused, nothing revoked.
    code, out, err = cli.ca(*args, "--reason", "keyCompromise")
    assert code == 1
    assert "without --yes" in err
    assert all(cli.status(s) == "good" for s in weak)

    code, out, err = cli.ca(*args, "--reason", "keyCompromise", "--yes")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == f"{len(report['serials'])} certificates revoked"
    assert weak <= {line.strip() for line in lines[1:]}
    assert all(cli.status(s) == "revoked" for s in weak)
    assert cli.status(fine) == "good"

    code, _, err = cli.ca("revoke-where", "--reason", "keyCompromise", "--yes")
    assert code == 1
    assert "empty query would revoke everything" in err


def test_revoke_subject_needs_yes_and_takes_every_certificate(cli: CliDir, tmp_path: Path) -> None:
    mine = [cli.issue(tmp_path, subject=2) for _ in range(2)]
    code, _, err = cli.ca("revoke-subject", cli.persons[2], "--reason", "affiliationChanged")
    assert code == 1
    assert "without --yes" in err
    code, out, err = cli.ca(
        "revoke-subject", cli.persons[2], "--reason", "affiliationChanged", "--yes", "--json"
    )
    assert code == 0, err
    assert set(json.loads(out)["serials"]) == set(mine)
    assert {cli.status(s) for s in mine} == {"revoked"}


def test_crl_command_writes_what_openssl_reads(cli: CliDir, tmp_path: Path) -> None:
    openssl = require_command("openssl")
    serial = cli.issue(tmp_path)
    assert cli.ca("revoke", serial, "--reason", "cessationOfOperation")[0] == 0

    target = tmp_path / "citizen-delta.crl"
    code, out, err = cli.ca("crl", "citizen", "--delta", "--out", str(target))
    assert code == 0, err
    assert out.startswith("delta CRL ")
    text = subprocess.run(
        [openssl, "crl", "-inform", "DER", "-in", str(target), "-noout", "-text"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert f"Serial Number: {serial}" in text
    assert "Cessation Of Operation" in text
    assert "Delta CRL Indicator" in text

    code, out, _ = cli.ca("crl", "citizen", "--pem")
    assert code == 0
    full = x509.load_pem_x509_crl(out.encode())
    assert full.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number >= 1
    code, _, err = cli.ca("crl", "mars")
    assert code == 1
    assert "no CA named 'mars'" in err
