"""``natid health ...`` on a real data directory: issue, verify (text, image, JSON lines, trust
files), revoke, batch, signers and trust lists.

The commands are the sub-app ``api.cli.health.app``, invoked directly until the lead mounts it
as ``natid health``. The tests share one initialised directory (making the CA's keys costs
seconds), so the module is marked slow.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.health import app as health_app
from api.cli.main import app as main_app
from api.context import build_context
from core.settings import load_settings
from tests.vaccine_cert._health import TEST, VACCINATION
from vaccine_cert import read_qr_texts

pytestmark = pytest.mark.slow
runner = CliRunner()


@dataclass(frozen=True)
class DataDir:
    path: Path
    holder_id: str


def health(*args: str, data: Path) -> tuple[int, str, str]:
    result = runner.invoke(health_app, [*args, "--data-dir", str(data)])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module", autouse=True)
def _no_natid_env() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for key in list(os.environ):
            if key.startswith("NATID_") and not key.startswith("NATID_TEST_"):
                patch.delenv(key)
        yield


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    path = tmp_path_factory.mktemp("natid") / "var"
    result = runner.invoke(main_app, ["init", "--no-demo", "--data-dir", str(path)])
    assert result.exit_code == 0, result.output
    ctx = build_context(load_settings(data_dir=path))
    try:
        ctx.register.add_entity(
            {"register_no": "DEMO-MIN-MOH", "name_km": "ក្រសួងសុខាភិបាល",
             "name_en": "Ministry of Health", "kind": "ministry"}
        )  # fmt: skip
        person = ctx.register.add_person(
            {"national_id": "000777001", "name_km": "កែវ សុភា", "name_latin": "Keo Sophea",
             "birthdate": "1979-12-30"}
        )  # fmt: skip
    finally:
        ctx.close()
    return DataDir(path, person.id)


def _issue(data_dir: DataDir, tmp_path: Path, record: Mapping[str, object], kind: str) -> str:
    record_file = tmp_path / f"{kind}.json"
    record_file.write_text(json.dumps(record))
    code, out, err = health(
        "issue", "--subject", data_dir.holder_id, "--kind", kind, "--json", str(record_file),
        data=data_dir.path,
    )  # fmt: skip
    assert code == 0, err
    return out.strip()


def test_issue_prints_only_the_payload_and_writes_qr_images(
    data_dir: DataDir, tmp_path: Path
) -> None:
    record = tmp_path / "dose.json"
    record.write_text(json.dumps(VACCINATION))
    png, svg = tmp_path / "qr.png", tmp_path / "qr.svg"
    code, out, err = health(
        "issue", "-s", data_dir.holder_id, "-k", "vaccination", "--json", str(record),
        "--png", str(png), "--svg", str(svg), data=data_dir.path,
    )  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("HC1:")
    assert "uvci: URN:UVCI:01:KH:" in err
    assert read_qr_texts(png.read_bytes()) == (lines[0],)
    assert svg.read_text().startswith("<?xml")

    code, out, _err = health("verify", "--payload", lines[0], "--json", data=data_dir.path)
    assert code == 0, out
    result = json.loads(out)
    assert result["valid"] is True
    assert result["checks"] == dict.fromkeys(
        ("decode", "signature", "expiry", "schema", "revocation"), "pass"
    )
    assert result["holder"]["fnt"] == "KEO"
    assert result["holder"]["dob"] == "1979-12-30"

    code, out, _err = health("verify", "--image", str(png), data=data_dir.path)
    assert code == 0
    assert out.startswith("VALID")
    assert "holder: Keo Sophea (KEO SOPHEA), born 1979-12-30" in out


def test_verify_with_a_trust_file_and_a_later_time_fails_the_expiry_check(
    data_dir: DataDir, tmp_path: Path
) -> None:
    payload = _issue(data_dir, tmp_path, TEST, "test")
    trust = tmp_path / "kh.json"
    assert health("trustlist", "export", "--out", str(trust), data=data_dir.path)[0] == 0
    elsewhere = tmp_path / "no-data"  # a border post without NatID's database
    code, out, _err = health(
        "verify", "--payload", payload, "--trust", str(trust), "--json", data=elsewhere
    )
    assert code == 0, out
    assert not elsewhere.exists()
    code, out, _err = health(
        "verify", "--payload", payload, "--trust", str(trust), "--at", "2030-01-01T00:00:00Z",
        "--json", data=elsewhere,
    )  # fmt: skip
    assert code == 1
    result = json.loads(out)
    assert result["checks"]["expiry"] == "fail"
    assert result["checks"]["revocation"] == "skipped"
    code, _out, err = health("verify", "--payload", payload, data=elsewhere)
    assert code == 1
    assert "no trusted signers" in err


def test_verify_jsonl_answers_each_line_in_order(data_dir: DataDir, tmp_path: Path) -> None:
    payload = _issue(data_dir, tmp_path, TEST, "test")
    exported = tmp_path / "kh.json"
    health("trustlist", "export", "--out", str(exported), data=data_dir.path)
    ders = [entry["rawData"] for entry in json.loads(exported.read_text())]
    lines = [
        {"payload": payload, "trust": ders},
        {"payload": "HC1:GARBAGE", "trust": ders},
        {"payload": payload, "trust": [], "at": "2099-01-01T00:00:00Z"},
        "not an object",
    ]
    batch = tmp_path / "in.jsonl"
    batch.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    code, out, _err = health("verify", "--jsonl", str(batch), data=tmp_path / "none")
    assert code == 1
    results = [json.loads(line) for line in out.splitlines()]
    assert [r["valid"] for r in results] == [True, False, False, False]
    assert results[1]["checks"]["decode"] == "fail"
    assert results[2]["checks"]["signature"] == "fail"
    assert results[3]["reasons"][0].startswith("input:")


def test_revoke_makes_verification_fail(data_dir: DataDir, tmp_path: Path) -> None:
    from vaccine_cert.hcert import decode_hc1

    payload = _issue(data_dir, tmp_path, VACCINATION, "vaccination")
    assert health("verify", "--payload", payload, data=data_dir.path)[0] == 0
    # The UVCI as the holder's certificate shows it.
    uvci = decode_hc1(payload).dcc["v"][0]["ci"]
    code, out, err = health("revoke", uvci, data=data_dir.path)
    assert code == 0, err
    assert out.startswith("revoked at ")
    code, out, _err = health("verify", "--payload", payload, "--json", data=data_dir.path)
    assert code == 1
    assert json.loads(out)["checks"]["revocation"] == "fail"
    code, _out, err = health("revoke", uvci, data=data_dir.path)
    assert code == 1
    assert "[health_certificate_already_revoked]" in err


def test_batch_issues_good_rows_and_lists_failures(data_dir: DataDir, tmp_path: Path) -> None:
    csv_file = tmp_path / "batch.csv"
    csv_file.write_text(
        "subject,kind,tg,tt,sc,tr\n"
        f"{data_dir.holder_id},test,840539006,LP6464-4,2026-10-31T08:00:00Z,260415000\n"
        f"{data_dir.holder_id},test,840539006,LP6464-4,2026-10-31T08:00:00Z,maybe\n"
    )
    out_dir = tmp_path / "issued"
    code, out, _err = health("batch", str(csv_file), "--out-dir", str(out_dir), data=data_dir.path)
    assert code == 1
    assert "line 2: URN:UVCI:01:KH:" in out
    assert "line 3: FAILED [dcc_record_invalid] t[0].tr" in out
    assert "1 issued, 1 failed" in out
    payload = (out_dir / "line-2.txt").read_text().strip()
    assert read_qr_texts((out_dir / "line-2.png").read_bytes()) == (payload,)
    assert not (out_dir / "line-3.txt").exists()


def test_trust_list_import_checks_the_anchor(data_dir: DataDir, tmp_path: Path) -> None:
    exported, anchor = tmp_path / "kh.json", tmp_path / "anchor.pem"
    assert health("trustlist", "export", "--out", str(exported), data=data_dir.path)[0] == 0
    assert health("trustlist", "anchor", "--out", str(anchor), data=data_dir.path)[0] == 0
    code, out, err = health(
        "trustlist", "import", str(exported), "--anchor", str(anchor), data=data_dir.path
    )
    assert code == 0, err
    assert "checked" in out
    entries = json.loads(exported.read_text())
    entries[0]["country"] = "FR"
    exported.write_text(json.dumps(entries))
    code, _out, err = health(
        "trustlist", "import", str(exported), "--anchor", str(anchor), data=data_dir.path
    )
    assert code == 1
    assert "[health_trust_list_rejected]" in err


def test_signer_ensure(data_dir: DataDir) -> None:
    code, out, err = health("signer", "ensure", "--algorithm", "rsa-3072", data=data_dir.path)
    assert code == 0, err
    kid = out.split(" kid ")[1].split()[0]
    assert len(base64.b64decode(kid)) == 8
    code, out, _err = health("signer", "list", data=data_dir.path)
    assert "rsa-3072" in out


def test_revoke_by_signature_hash_and_signed_revocation_lists(
    data_dir: DataDir, tmp_path: Path
) -> None:
    from vaccine_cert.hcert import decode_hc1
    from vaccine_cert.revocation import signature_hash

    payload = _issue(data_dir, tmp_path, VACCINATION, "vaccination")
    digest = signature_hash(decode_hc1(payload).cose.signature).hex()
    code, out, err = health("revoke", "--signature-hash", digest, data=data_dir.path)
    assert code == 0, err
    assert out.startswith("revoked SIGNATURE hash " + digest)
    code, out, _err = health("verify", "--payload", payload, "--json", data=data_dir.path)
    assert (code, json.loads(out)["checks"]["revocation"]) == (1, "fail")
    assert health("revoke", "--uci-hash", "00" * 16, data=data_dir.path)[0] == 1
    assert health("revoke", "X", "--uci-hash", "00" * 16, data=data_dir.path)[0] == 2

    # --revocations: the published list, checked against the data directory's anchor or
    # --anchor; the same list with its signature removed is refused with exit 1.
    ctx = build_context(load_settings(data_dir=data_dir.path))
    try:
        document = ctx.health().revocation_list()
    finally:
        ctx.close()
    signed, unsigned = tmp_path / "rl.json", tmp_path / "unsigned.json"
    signed.write_text(json.dumps(document))
    unsigned.write_text(json.dumps({k: v for k, v in document.items() if k != "signature"}))
    anchor = tmp_path / "anchor.pem"
    assert health("trustlist", "anchor", "--out", str(anchor), data=data_dir.path)[0] == 0
    trust = tmp_path / "trust.json"
    assert health("trustlist", "export", "--out", str(trust), data=data_dir.path)[0] == 0
    args = ("verify", "--payload", payload, "--trust", str(trust), "--json")
    code, out, err = health(*args, "--revocations", str(signed), "--anchor", str(anchor),
                            data=data_dir.path)  # fmt: skip
    assert (code, json.loads(out)["checks"]["revocation"]) == (1, "fail"), err
    code, out, err = health(*args, "--revocations", str(unsigned), data=data_dir.path)
    assert code == 1
    assert out == ""
    assert "revocation list" in err
    assert "[health_trust_list_rejected]" in err


def test_trust_list_import_from_a_url(data_dir: DataDir, tmp_path: Path) -> None:
    import http.server
    import threading

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.vaccine_cert.conftest import make_dsc
    from vaccine_cert.trustlist import export_trustlist

    anchor_key = ec.generate_private_key(ec.SECP256R1())
    dsc = make_dsc(ec.generate_private_key(ec.SECP256R1()), common_name="DE DSC")
    body = json.dumps(export_trustlist([dsc], country="DE", key=anchor_key)).encode()
    anchor = tmp_path / "de.pem"
    anchor.write_bytes(
        anchor_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    other = tmp_path / "other.pem"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/trustlist"
    try:
        code, _out, err = health("trustlist", "import", url, "--anchor", str(other),
                                 data=data_dir.path)  # fmt: skip
        assert code == 1
        assert "entry 0" in err
        code, out, err = health("trustlist", "import", url, "--anchor", str(anchor),
                                data=data_dir.path)  # fmt: skip
        assert code == 0, err
        assert out.strip() == "1 signers checked, 1 new"
    finally:
        server.shutdown()
        server.server_close()
    code, out, _err = health("trustlist", "export", "--all", data=data_dir.path)
    assert "DE" in [entry["country"] for entry in json.loads(out)]
    code, _out, err = health("trustlist", "import", "http://dcc.example/list", "--anchor",
                             str(anchor), data=data_dir.path)  # fmt: skip
    assert code == 1
    assert "https" in err
