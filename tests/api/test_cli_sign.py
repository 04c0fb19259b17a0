"""``natid sign pdf``, ``natid sign validate`` and ``natid seal`` on a real data directory.

The commands are ``api.cli.sign.app`` and ``api.cli.sign.seal_command``, invoked directly until
the lead mounts them as ``natid sign`` and ``natid seal``. One initialised directory (with a
civil servant holding a gov-sign certificate and a company holding an e-seal, both with
server-side keys) is shared by the module: making the hierarchy's keys costs seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from cryptography import x509
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from api.cli.main import app as main_app
from api.cli.sign import app as sign_app
from api.cli.sign import seal_command
from api.context import build_context
from ca.profiles import ProfileName
from ca.store import serial_hex
from core.settings import load_settings
from tests._env import without_natid_settings
from tests.signing._pdf import make_pdf

runner = CliRunner()
seal_app = typer.Typer()
seal_app.command()(seal_command)


@dataclass(frozen=True)
class DataDir:
    path: Path
    servant_id: str
    person_without_cert: str
    company_id: str


def natid_sign(*args: str, data: Path) -> tuple[int, str, str]:
    result = runner.invoke(sign_app, [*args, "--data-dir", str(data)])
    return result.exit_code, result.stdout, result.stderr


def natid_seal(*args: str, data: Path) -> tuple[int, str, str]:
    result = runner.invoke(seal_app, [*args, "--data-dir", str(data)])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module", autouse=True)
def _no_natid_env() -> Iterator[None]:
    with without_natid_settings():
        yield


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    path = tmp_path_factory.mktemp("natid") / "var"
    result = runner.invoke(main_app, ["init", "--no-demo", "--data-dir", str(path)])
    assert result.exit_code == 0, result.stdout + result.stderr
    ctx = build_context(load_settings(data_dir=path))
    try:
        register = ctx.register
        people = []
        for number in ("411000001", "411000002"):
            person = register.add_person(
                {"national_id": number, "name_km": "សុខ ដារ៉ា", "name_latin": "Sok Dara",
                 "birthdate": "1990-04-17"}
            )  # fmt: skip
            register.record_proofing(
                person.id, method="in_person", level="high", evidence="national_id_card",
                office="Phnom Penh",
            )  # fmt: skip
            people.append(person.id)
        ministry = register.add_entity(
            {"register_no": "MIN-411", "name_km": "ក្រសួងសុខាភិបាល", "name_en": "Ministry of Health",
             "kind": "ministry"}
        )  # fmt: skip
        servant = register.add_servant(
            {"person_id": people[0], "ministry_id": ministry.id, "unit": "Cabinet",
             "title": "Director", "title_km": "ប្រធាន"}
        )  # fmt: skip
        company = register.add_entity(
            {"register_no": "CO-411", "name_km": "ក្រុមហ៊ុន ស្រូវ កំពត",
             "name_en": "Kampot Rice Co., Ltd.", "kind": "company"}
        )  # fmt: skip
        ca = ctx.ca()
        ca.issue_with_server_key(ProfileName.GOV_SIGN, servant.id, actor="test")
        ca.issue_with_server_key(ProfileName.ESEAL, company.id, actor="test")
    finally:
        ctx.close()
    return DataDir(path, servant.id, people[1], company.id)


def test_sign_pdf_then_validate_passes(data_dir: DataDir, tmp_path: Path) -> None:
    src, out = tmp_path / "memo.pdf", tmp_path / "memo-signed.pdf"
    src.write_bytes(make_pdf())

    code, stdout, err = natid_sign(
        "pdf", "--in", str(src), "--out", str(out), "--signer", data_dir.servant_id,
        "--level", "B-LT", "--visible", "--reason", "Approved", data=data_dir.path,
    )  # fmt: skip
    assert code == 0, err
    assert "with certificate" in stdout and out.is_file()

    code, stdout, err = natid_sign("validate", str(out), data=data_dir.path)
    assert code == 0, stdout + err
    assert "TOTAL-PASSED" in stdout and "PAdES level:   B-LT" in stdout

    code, stdout, _ = natid_sign("validate", str(out), "--json", data=data_dir.path)
    report = json.loads(stdout)
    assert report["ok"] is True
    assert report["signatures"][0]["pades_level"] == "B-LT"


def test_sign_without_certificate_writes_nothing(data_dir: DataDir, tmp_path: Path) -> None:
    src, out = tmp_path / "memo.pdf", tmp_path / "memo-signed.pdf"
    src.write_bytes(make_pdf())

    code, _stdout, err = natid_sign(
        "pdf", "--in", str(src), "--out", str(out), "--signer", data_dir.person_without_cert,
        data=data_dir.path,
    )  # fmt: skip

    assert code == 1
    assert "no valid signing certificate" in err and "[no_signing_certificate]" in err
    assert not out.exists() and list(tmp_path.iterdir()) == [src]


def test_broken_pdf_is_refused_and_nothing_written(data_dir: DataDir, tmp_path: Path) -> None:
    src, out = tmp_path / "broken.pdf", tmp_path / "out.pdf"
    src.write_bytes(b"%PDF-1.7\nnot really\n")

    code, _stdout, err = natid_sign(
        "pdf", "--in", str(src), "--out", str(out), "--signer", data_dir.servant_id,
        data=data_dir.path,
    )  # fmt: skip

    assert code == 1 and "[invalid_pdf]" in err
    assert not out.exists()


def test_validate_exits_1_for_a_tampered_file(data_dir: DataDir, tmp_path: Path) -> None:
    src, out = tmp_path / "memo.pdf", tmp_path / "signed.pdf"
    src.write_bytes(make_pdf(text="Pay 100 USD"))
    assert natid_sign(
        "pdf", "--in", str(src), "--out", str(out), "--signer", data_dir.servant_id,
        "--level", "B-B", data=data_dir.path,
    )[0] == 0  # fmt: skip
    out.write_bytes(out.read_bytes().replace(b"Pay 100 USD", b"Pay 900 USD"))

    code, stdout, _err = natid_sign("validate", str(out), data=data_dir.path)

    assert code == 1
    assert "TOTAL-FAILED / HASH_FAILURE" in stdout


def test_validating_a_revoked_signer_writes_no_id_number_or_traceback_on_stderr(
    data_dir: DataDir, tmp_path: Path
) -> None:
    # A second gov-sign certificate for the servant, revoked after signing (the module's other
    # tests keep using the first). Validation runs as a real process: the CLI configures no
    # logging, so whatever a library logs lands on stderr.
    pem, src, out = tmp_path / "cert.pem", tmp_path / "memo.pdf", tmp_path / "signed.pdf"
    issued = runner.invoke(main_app, [
        "ca", "issue", "--profile", "gov-sign", "--subject", data_dir.servant_id, "--server-key",
        "--out", str(pem), "--data-dir", str(data_dir.path),
    ])  # fmt: skip
    assert issued.exit_code == 0, issued.stderr
    cert = x509.load_pem_x509_certificate(pem.read_bytes())
    serial = serial_hex(cert.serial_number)
    id_number = str(cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value)
    src.write_bytes(make_pdf())
    assert natid_sign(
        "pdf", "--in", str(src), "--out", str(out), "--signer", serial, "--level", "B-T",
        data=data_dir.path,
    )[0] == 0  # fmt: skip
    # Revocation times are whole seconds: revoked in the time-stamp's own second, the signer
    # counts as revoked before it (REVOKED_NO_POE). The real clock runs here, so wait for the next.
    time.sleep(1.1 - time.time() % 1)
    revoked = runner.invoke(main_app, [
        "ca", "revoke", serial, "--reason", "keyCompromise", "--data-dir", str(data_dir.path),
    ])  # fmt: skip
    assert revoked.exit_code == 0, revoked.stderr
    natid = Path(sys.executable).with_name("natid")

    def validate(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [natid, "sign", "validate", str(out), *flags, "--data-dir", str(data_dir.path)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    online, offline = validate(), validate("--offline")

    assert online.returncode == 0, online.stdout + online.stderr
    assert "revocation:    revoked since" in online.stdout
    # Offline, a B-T file carries no revocation data: the status is unknown, never good.
    assert offline.returncode == 1, offline.stdout + offline.stderr
    assert "INDETERMINATE / TRY_LATER" in offline.stdout
    assert "revocation:    unknown" in offline.stdout
    for run in (online, offline):
        assert id_number.rsplit("-", 1)[-1] not in run.stderr
        assert "Traceback" not in run.stderr
        assert run.stderr == ""


def test_seal_directory_reports_the_failed_file_and_seals_the_rest(
    data_dir: DataDir, tmp_path: Path
) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    (src / "licence-1.pdf").write_bytes(make_pdf(text="Licence 1"))
    (src / "licence-2.pdf").write_bytes(b"%PDF-1.4\ntruncated")
    (src / "licence-3.pdf").write_bytes(make_pdf(text="Licence 3"))
    (src / "notes.txt").write_text("not a pdf, not taken")

    code, stdout, err = natid_seal(
        "--entity", data_dir.company_id, "--in", str(src), "--out", str(out), "--level", "B-T",
        data=data_dir.path,
    )  # fmt: skip

    assert code == 1
    assert "[1/3] sealed licence-1.pdf" in stdout
    assert "[2/3] FAILED licence-2.pdf" in stdout
    assert "2 sealed, 1 failed" in stdout
    assert "licence-2.pdf" in err and "[invalid_pdf]" in err
    assert sorted(p.name for p in out.iterdir()) == ["licence-1.pdf", "licence-3.pdf"]
    code, stdout, _ = natid_sign("validate", str(out / "licence-3.pdf"), data=data_dir.path)
    assert code == 0 and "Kampot Rice" in stdout


def test_seal_for_entity_without_eseal_says_how_to_get_one(
    data_dir: DataDir, tmp_path: Path
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.pdf").write_bytes(make_pdf())

    code, _stdout, err = natid_seal(
        "--entity", data_dir.servant_id, "--in", str(tmp_path / "in"), "--out",
        str(tmp_path / "out"), data=data_dir.path,
    )  # fmt: skip

    assert code == 1
    assert "natid ca issue --profile eseal" in err
