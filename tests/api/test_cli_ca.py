"""``natid ca ...`` on a real data directory: init, issue, list, show, renew, bulk-issue.

``natid init`` (the main app) makes the data directory; the CA commands are the sub-app
``api.cli.ca.app``, invoked directly until the lead mounts it as ``natid ca``. Most tests
share one initialised directory (making the hierarchy's keys costs seconds); the ones about
initialisation itself get their own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from api.cli.ca import app as ca_app
from api.cli.main import app as main_app
from api.context import build_context
from core.settings import load_settings
from tests._env import without_natid_settings
from tests.ca._issuance import ec_key, make_csr

runner = CliRunner()


@dataclass(frozen=True)
class DataDir:
    path: Path
    person_id: str
    other_person_id: str
    company_id: str


def natid(*args: str, data: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(main_app, [*args, "--data-dir", str(data)], env=env)
    return result.exit_code, result.stdout, result.stderr


def natid_ca(*args: str, data: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(ca_app, [*args, "--data-dir", str(data)], env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module", autouse=True)
def _no_natid_env() -> Iterator[None]:
    with without_natid_settings():
        yield


def add_subjects(data: Path, database_url: str | None = None) -> tuple[str, str, str]:
    """Two proven persons and a company, added the way the RA would (test set-up)."""
    overrides: dict[str, object] = {"data_dir": data}
    if database_url is not None:
        overrides["database_url"] = database_url
    ctx = build_context(load_settings(**overrides))
    try:
        ids = []
        for number in ("311000001", "311000002"):
            person = ctx.register.add_person(
                {"national_id": number, "name_km": "សុខ ដារ៉ា", "name_latin": "Sok Dara",
                 "birthdate": "1990-04-17"}
            )  # fmt: skip
            ctx.register.record_proofing(
                person.id, method="in_person", level="high", evidence="national_id_card",
                office="Phnom Penh",
            )  # fmt: skip
            ids.append(person.id)
        company = ctx.register.add_entity(
            {"register_no": "CO-311", "name_km": "ក្រុមហ៊ុន ស្រូវ កំពត",
             "name_en": "Kampot Rice Co., Ltd.", "kind": "company"}
        )  # fmt: skip
        return ids[0], ids[1], company.id
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    path = tmp_path_factory.mktemp("natid") / "var"
    code, out, err = natid("init", "--no-demo", data=path)
    assert code == 0, out + err
    code, out, err = natid_ca("init", data=path)
    assert code == 0, out + err
    return DataDir(path, *add_subjects(path))


def test_ca_init_creates_the_hierarchy_once(tmp_path: Path) -> None:
    data = tmp_path / "var"
    # An empty, migrated database without a hierarchy (`natid init` would create one).
    assert natid("db", "upgrade", data=data)[0] == 0
    code, out, err = natid_ca("init", data=data)
    assert code == 0, err
    assert "CA hierarchy created" in out
    for name in ("root", "citizen", "entity", "government", "health"):
        assert f"  {name} " in out
    keys_before = natid("keys", "list", "--json", data=data)[1]

    code, out, err = natid_ca("init", data=data)
    assert code == 0, err
    assert "loaded (it already existed)" in out
    assert natid("keys", "list", "--json", data=data)[1] == keys_before
    # `natid init` finds the hierarchy too and creates no CA key; it adds only the OpenID
    # provider's keys (token signing key and pairwise-subject salt), once.
    code, out, _err = natid("init", "--no-demo", data=data)
    assert code == 0
    assert "certificate authorities: root, citizen, entity, government, health" in out
    before = {k["label"] for k in json.loads(keys_before)}
    after_init = natid("keys", "list", "--json", data=data)[1]
    added = {k["label"] for k in json.loads(after_init)} - before
    assert added and all(label.startswith("idp-") for label in added), added
    assert natid("init", "--no-demo", data=data)[0] == 0
    assert natid("keys", "list", "--json", data=data)[1] == after_init


def test_issuing_before_ca_init_says_what_to_run(tmp_path: Path) -> None:
    data = tmp_path / "var"
    assert natid("db", "upgrade", data=data)[0] == 0
    person_id, _other, _company = add_subjects(data)
    csr = tmp_path / "req.pem"
    csr.write_bytes(make_csr(ec_key()))
    code, out, err = natid_ca(
        "issue", "--profile", "citizen-auth", "--subject", person_id, "--csr", str(csr), data=data
    )
    assert code == 1
    assert out == ""
    assert err.strip().splitlines() == [
        "error: the CA hierarchy does not exist yet; run `natid ca init` (or `natid init`) "
        "[hierarchy_not_initialised]"
    ]


def test_issue_from_csr_prints_the_pem_certificate(data_dir: DataDir, tmp_path: Path) -> None:
    key = ec_key()
    csr = tmp_path / "req.pem"
    csr.write_bytes(make_csr(key))
    code, out, err = natid_ca(
        "issue", "-p", "citizen-auth", "-s", data_dir.person_id, "--csr", str(csr),
        data=data_dir.path,
    )  # fmt: skip
    assert code == 0, err
    cert = x509.load_pem_x509_certificate(out.encode())
    assert cert.public_key() == key.public_key()
    serial = f"{cert.serial_number:X}".zfill(40)

    code, shown, _ = natid_ca("show", serial.lower(), "--pem", data=data_dir.path)
    assert code == 0
    assert shown == out
    code, listed, _ = natid_ca(
        "list", "--subject", data_dir.person_id, "--json", data=data_dir.path
    )
    assert code == 0
    [record] = [r for r in json.loads(listed) if r["serial"] == serial]
    assert record["profile"] == "citizen-auth"
    assert record["issuer"] == "citizen"
    assert record["status"] == "good"


def test_issue_out_writes_the_file_and_prints_the_serial(data_dir: DataDir, tmp_path: Path) -> None:
    target = tmp_path / "seal.pem"
    code, out, err = natid_ca(
        "issue", "-p", "eseal", "-s", data_dir.company_id, "--server-key", "--out", str(target),
        data=data_dir.path,
    )  # fmt: skip
    assert code == 0, err
    cert = x509.load_pem_x509_certificate(target.read_bytes())
    assert out.strip() == f"{cert.serial_number:X}".zfill(40)
    assert "key label: subj-" in err
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)


def test_list_table_shows_no_subject_names_or_id_numbers(data_dir: DataDir) -> None:
    code, out, _ = natid_ca("list", "--limit", "0", data=data_dir.path)
    assert code == 0
    assert out.splitlines()[0].split() == [
        "SERIAL", "PROFILE", "ISSUER", "STATUS", "NOT", "AFTER", "SUBJECT", "ID",
    ]  # fmt: skip
    assert "311000001" not in out
    assert "Sok" not in out
    assert "root-ca" in out


def test_renew_from_the_command_line(data_dir: DataDir, tmp_path: Path) -> None:
    csr = tmp_path / "req.pem"
    csr.write_bytes(make_csr(ec_key()))
    code, out, _ = natid_ca(
        "issue", "-p", "citizen-sign", "-s", data_dir.other_person_id, "--csr", str(csr),
        "--out", str(tmp_path / "c.pem"), data=data_dir.path,
    )  # fmt: skip
    assert code == 0
    old = out.strip()
    code, out, err = natid_ca("renew", old, data=data_dir.path)
    assert code == 0, err
    renewed = x509.load_pem_x509_certificate(out.encode())
    code, shown, _ = natid_ca("show", old, "--json", data=data_dir.path)
    assert json.loads(shown)["replaced_by"] == f"{renewed.serial_number:X}".zfill(40)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--csr", "GARBAGE", "-p", "citizen-auth"], "neither PEM nor DER"),
        (["--csr", "REQ", "--server-key", "-p", "citizen-auth"], "either --csr FILE or"),
        (["--server-key", "-p", "no-such"], "unknown certificate profile"),
        (["--csr", "MISSING", "-p", "citizen-auth"], "cannot read"),
        (["--server-key", "-p", "root-ca"], "only with the CA hierarchy"),
    ],
    ids=["garbage-csr", "two-key-sources", "unknown-profile", "missing-file", "root-profile"],
)
def test_bad_input_gives_one_line_and_a_non_zero_exit(
    data_dir: DataDir, tmp_path: Path, args: list[str], expected: str
) -> None:
    files = {"GARBAGE": b"\x00\x01 not a request", "REQ": make_csr(ec_key())}
    for placeholder, content in files.items():
        (tmp_path / placeholder).write_bytes(content)
    argv = [str(tmp_path / a) if a in {*files, "MISSING"} else a for a in args]
    code, out, err = natid_ca("issue", "-s", data_dir.person_id, *argv, data=data_dir.path)
    assert code != 0
    assert out == ""
    [message] = err.strip().splitlines()
    assert message.startswith("error: ")
    assert expected in message


def test_show_unknown_serial(data_dir: DataDir) -> None:
    code, _out, err = natid_ca("show", "0BADC0DE", data=data_dir.path)
    assert code == 1
    assert "no certificate with serial number 0BADC0DE [certificate_not_found]" in err


def test_bulk_issue_reports_failures_by_line_and_exits_1(data_dir: DataDir, tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"

    def write_requests() -> None:
        eseal = {"profile": "eseal", "subject": data_dir.company_id, "server_key": True}
        auth = {"profile": "citizen-auth", "subject": data_dir.person_id}
        auth["csr"] = make_csr(ec_key()).decode()
        requests.write_text("\n".join([json.dumps(eseal), "not json", json.dumps(auth)]) + "\n")

    write_requests()
    code, out, err = natid_ca("bulk-issue", str(requests), data=data_dir.path)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("line 1: issued ")
    assert lines[1] == "line 2: failed: not JSON (each line must be one JSON object)"
    assert lines[2].startswith("line 3: issued ")
    assert lines[3] == "issued 2 certificates; 1 lines failed"
    assert "line 2: not JSON" in err

    write_requests()  # fresh keys: a key is never certified twice
    code, out, _ = natid_ca("bulk-issue", str(requests), "--json", data=data_dir.path)
    report = json.loads(out)
    assert code == 1
    assert [i["line"] for i in report["issued"]] == [1, 3]
    assert report["failed"] == [
        {"line": 2, "code": "invalid_bulk_request",
         "reason": "not JSON (each line must be one JSON object)"}
    ]  # fmt: skip


def test_cli_runs_on_the_configured_database(tmp_path: Path, db_url: str) -> None:
    """The commands use NATID_DATABASE_URL like every other command (SQLite and PostgreSQL)."""
    data = tmp_path / "var"
    env = {"NATID_DATABASE_URL": db_url}
    assert natid("init", "--no-demo", data=data, env=env)[0] == 0
    assert natid_ca("init", data=data, env=env)[0] == 0
    _person, _other, company = add_subjects(data, db_url)
    code, out, err = natid_ca(
        "issue", "-p", "eseal", "-s", company, "--server-key", "-o", str(tmp_path / "s.pem"),
        data=data, env=env,
    )  # fmt: skip
    assert code == 0, err
    code, listed, _ = natid_ca("list", "--subject", company, "--json", data=data, env=env)
    assert [r["serial"] for r in json.loads(listed)] == [out.strip()]


def test_bulk_issue_on_a_terminal_shows_a_progress_bar(
    data_dir: DataDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import api.cli.ca

    monkeypatch.setattr(api.cli.ca, "is_tty", lambda: True)
    requests = tmp_path / "requests.jsonl"
    eseal = {"profile": "eseal", "subject": data_dir.company_id, "server_key": True}
    requests.write_text(json.dumps(eseal) + "\n\n" + json.dumps(eseal) + "\n")
    code, out, err = natid_ca("bulk-issue", str(requests), data=data_dir.path)
    assert code == 0, err
    assert "issuing" in out
    assert "2/2" in out
    assert "0 failed" in out
    assert out.rstrip().endswith("issued 2 certificates; 0 lines failed")
