"""``natid health ...`` on a real data directory: issue, verify (text, image, JSON lines, trust
files), revoke, batch, signers and trust lists.

The commands are the sub-app ``api.cli.health.app``, invoked directly until the lead mounts it
as ``natid health``. The tests share one initialised directory (making the CA's keys costs
seconds), so the module is marked slow.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.health import app as health_app
from api.cli.main import app as main_app
from api.context import build_context
from core.settings import load_settings
from tests._env import without_natid_settings
from tests.vaccine_cert._health import TEST, VACCINATION
from vaccine_cert import read_qr_texts
from vaccine_cert.trustlist import anchor_fingerprint, load_anchor

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
    with without_natid_settings():
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
    # As an operator sets up health credentials: the anchor the lists are signed with, a signer.
    code, _out, err = health("signer", "ensure", data=path)
    assert code == 0, err
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
    trust, anchor = tmp_path / "kh.json", tmp_path / "anchor.pem"
    assert health("trustlist", "export", "--out", str(trust), data=data_dir.path)[0] == 0
    assert health("trustlist", "anchor", "--out", str(anchor), data=data_dir.path)[0] == 0
    elsewhere = tmp_path / "no-data"  # a border post without NatID's database
    trusted = ("--trust", str(trust), "--anchor", str(anchor))
    code, out, _err = health("verify", "--payload", payload, *trusted, "--json", data=elsewhere)
    assert code == 0, out
    assert not elsewhere.exists()
    code, out, _err = health(
        "verify", "--payload", payload, *trusted, "--at", "2030-01-01T00:00:00Z", "--json",
        data=elsewhere,
    )  # fmt: skip
    assert code == 1
    result = json.loads(out)
    assert result["checks"]["expiry"] == "fail"
    assert result["checks"]["revocation"] == "skipped"
    # Expired, but signed: the holder is the issuer's data, shown as such.
    code, out, _err = health(
        "verify", "--payload", payload, *trusted, "--at", "2030-01-01T00:00:00Z", data=elsewhere
    )
    assert code == 1
    signed = "holder: Keo Sophea (KEO SOPHEA), born 1979-12-30 (as signed; the credential is "
    assert signed + "NOT VALID)" in out.splitlines()
    code, _out, err = health("verify", "--payload", payload, data=elsewhere)
    assert code == 2
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


def test_batch_help_names_the_files_batch_writes(data_dir: DataDir, tmp_path: Path) -> None:
    """``--out-dir``'s help says which files appear, and exactly those appear (it once promised
    ``<line>.txt`` while the files were ``line-2.txt``)."""
    shown = runner.invoke(health_app, ["batch", "--help"], env={"COLUMNS": "200"}).stdout
    promised = sorted(set(re.findall(r"[\w-]*\bN\.(?:txt|png)\b", shown)))
    assert promised == ["line-N.png", "line-N.txt"], shown
    csv_file = tmp_path / "batch.csv"
    csv_file.write_text(
        "subject,kind,tg,tt,sc,tr\n"
        f"{data_dir.holder_id},test,840539006,LP6464-4,2026-10-31T08:00:00Z,260415000\n"
    )
    out_dir = tmp_path / "issued"
    code, out, err = health("batch", str(csv_file), "--out-dir", str(out_dir), data=data_dir.path)
    assert code == 0, out + err
    assert "line 2: URN:UVCI:01:KH:" in out
    assert sorted(p.name for p in out_dir.iterdir()) == [n.replace("N", "2") for n in promised]


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
    # The anchor the lists are signed with is named by the fingerprint operators compare.
    code, pem, err = health("trustlist", "anchor", data=data_dir.path)
    assert code == 0, err
    fingerprint = anchor_fingerprint(load_anchor(pem.encode()))
    assert out.splitlines()[0] == f"trust-list anchor sha256 {fingerprint}"
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
    # --anchor; the same list with its signature removed is refused with exit 2 (an error,
    # not a credential found NOT VALID).
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
    assert code == 2
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


# --- what a border officer relies on --------------------------------------------------------------


def _export_lists(data_dir: DataDir, tmp_path: Path) -> tuple[Path, Path]:
    trust, anchor = tmp_path / "kh.json", tmp_path / "anchor.pem"
    assert health("trustlist", "export", "--out", str(trust), data=data_dir.path)[0] == 0
    assert health("trustlist", "anchor", "--out", str(anchor), data=data_dir.path)[0] == 0
    return trust, anchor


def _altered(payload: str, **changes: str) -> str:
    """The credential with its DCC changed and its original signature."""
    import zlib

    import cbor2

    from vaccine_cert.base45 import b45decode, b45encode

    cose = cbor2.loads(zlib.decompress(b45decode(payload[4:])))
    protected, unprotected, body, signature = cose.value
    claims = cbor2.loads(body)
    claims[-260][1].update(changes)
    forged = cbor2.CBORTag(18, [protected, unprotected, cbor2.dumps(claims), signature])
    return "HC1:" + b45encode(zlib.compress(cbor2.dumps(forged), 9))


def test_trust_list_with_a_copied_entry_signature_is_refused(
    data_dir: DataDir, tmp_path: Path
) -> None:
    """The walk-through's forgery: NatID's exported trust list plus an entry holding a rogue
    self-signed certificate and a copy of entry 0's signature, and a credential the rogue key
    signed. ``verify --trust`` once trusted every entry of a list unchecked and said VALID;
    now a list's entries count only under the anchor, as ``trustlist import`` has them."""
    import datetime as dt

    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.vaccine_cert.conftest import make_dsc, sign_hc1, vaccination_dcc
    from vaccine_cert.trustlist import listed_entry

    trust, anchor = _export_lists(data_dir, tmp_path)
    entries = json.loads(trust.read_text())
    now = dt.datetime.now(dt.UTC)
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue = make_dsc(rogue_key, common_name="Rogue DSC", not_before=now - dt.timedelta(days=1),
                     not_after=now + dt.timedelta(days=300))  # fmt: skip
    rogue_entry = len(entries)  # after NatID's own signers' entries
    entries.append(listed_entry(rogue, country="KH", timestamp=entries[0]["timestamp"],
                                signature=entries[0]["signature"]))  # fmt: skip
    forged_list = tmp_path / "forged.json"
    forged_list.write_text(json.dumps(entries))
    dcc = vaccination_dcc(nam={"fn": "Bun", "fnt": "BUN", "gn": "Bora", "gnt": "BORA"})
    forged = sign_hc1(dcc, key=rogue_key, cert=rogue, iat=now - dt.timedelta(hours=1),
                      exp=now + dt.timedelta(days=100))  # fmt: skip
    elsewhere = tmp_path / "border-post"  # no data directory

    # With the anchor: the rogue entry's signature does not verify; nothing is verified.
    code, out, err = health("verify", "--payload", forged, "--trust", str(forged_list),
                            "--anchor", str(anchor), data=elsewhere)  # fmt: skip
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"error: {forged_list}: trust list entry {rogue_entry}: the signature does not verify "
        "under the anchor key [health_trust_list_rejected]"
    ]
    # Without an anchor, a trust list is not trusted unchecked: the officer is told to give one.
    code, out, err = health("verify", "--payload", forged, "--trust", str(forged_list),
                            data=elsewhere)  # fmt: skip
    assert (code, out) == (2, "")
    assert f"{forged_list} is a trust list" in err
    assert "give --anchor" in err
    # With a data directory, its own anchor checks the list.
    code, out, err = health("verify", "--payload", forged, "--trust", str(forged_list),
                            data=data_dir.path)  # fmt: skip
    assert (code, out) == (2, "")
    assert f"trust list entry {rogue_entry}: the signature does not verify" in err
    # The same for many credentials at once.
    batch = tmp_path / "in.jsonl"
    batch.write_text(json.dumps({"payload": forged}) + "\n")
    code, out, err = health("verify", "--jsonl", str(batch), "--trust", str(forged_list),
                            "--anchor", str(anchor), data=elsewhere)  # fmt: skip
    assert (code, out) == (2, "")
    assert f"trust list entry {rogue_entry}" in err
    # ``trustlist import`` refuses the same file with the same words.
    code, _out, err = health("trustlist", "import", str(forged_list), "--anchor", str(anchor),
                             data=data_dir.path)  # fmt: skip
    assert code == 1
    assert f"entry {rogue_entry}: the signature does not verify under the anchor key" in err
    # The genuine list under the same anchor still works at the border post.
    genuine = _issue(data_dir, tmp_path, TEST, "test")
    code, out, err = health("verify", "--payload", genuine, "--trust", str(trust), "--anchor",
                            str(anchor), data=elsewhere)  # fmt: skip
    assert code == 0, err
    assert out.startswith("VALID")


def test_holder_of_an_altered_credential_is_not_shown(data_dir: DataDir, tmp_path: Path) -> None:
    """A changed date of birth under the original signature: NOT VALID, and neither the name nor
    either date of birth is printed for the officer to compare with a passport."""
    altered = _altered(_issue(data_dir, tmp_path, TEST, "test"), dob="1990-01-01")
    code, out, _err = health("verify", "--payload", altered, data=data_dir.path)
    assert code == 1
    assert out.splitlines()[:3] == ["NOT VALID", "  decode: pass", "  signature: fail"]
    assert "holder: not shown, the signature did not verify (the data may be forged)" in out
    for personal in ("Keo", "KEO", "Sophea", "1990-01-01", "1979-12-30"):
        assert personal not in out
    code, out, _err = health("verify", "--payload", altered, "--json", data=data_dir.path)
    assert code == 1
    result = json.loads(out)
    assert result["holder"] is None
    assert [f["code"] for f in result["findings"]] == ["signature_invalid"]
    assert "1990-01-01" not in out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--payload", "{payload}", "--trust", "{trust}", "--anchor", "{bad_anchor}"],
         "the trust anchor is neither a PEM/DER public key nor a certificate"),
        (["--payload", "{payload}"], "no trusted signers"),
        (["--payload", "{payload}", "--trust", "{trust}"], "give --anchor"),
        (["--payload", "{payload}", "--trust", "{trust}", "--anchor", "{anchor}", "--revocations",
          "{missing}"], "cannot read the revocation list"),
        (["--image", "{missing}", "--trust", "{trust}", "--anchor", "{anchor}"],
         "cannot read the image"),
        (["--image", "{trust}", "--trust", "{trust}", "--anchor", "{anchor}"],
         "[qr_image_unreadable]"),
        (["--payload", "{payload}", "--trust", "{trust}", "--anchor", "{anchor}", "--at", "soon"],
         "--at must be an ISO 8601 time"),
        (["--payload", "{payload}", "--anchor", "{anchor}"],
         "--anchor checks the signatures of a trust list"),
        (["--payload", "{payload}", "--image", "{trust}"], "give exactly one of"),
    ],
    ids=["bad-anchor", "no-trust", "trust-list-without-anchor", "missing-revocations",
         "missing-image", "no-qr-code", "bad-at", "anchor-for-nothing", "two-inputs"],
)  # fmt: skip
def test_verify_errors_exit_2_and_not_valid_exits_1(
    data_dir: DataDir, tmp_path: Path, args: list[str], expected: str
) -> None:
    """A script tells "the credential is NOT VALID" (exit 1) from "nothing was verified"
    (exit 2: one error line), which both used to exit 1."""
    trust, anchor = _export_lists(data_dir, tmp_path)
    bad_anchor = tmp_path / "bad.pem"
    bad_anchor.write_text("not a key\n")
    payload = _issue(data_dir, tmp_path, TEST, "test")
    files = {"payload": payload, "trust": trust, "anchor": anchor, "bad_anchor": bad_anchor,
             "missing": tmp_path / "missing"}  # fmt: skip
    elsewhere = tmp_path / "border-post"
    code, out, err = health("verify", *(a.format(**files) for a in args), data=elsewhere)
    assert (code, out) == (2, ""), err
    assert len(err.splitlines()) == 1
    assert err.startswith("error: ")
    assert expected in err
    # The same credential, checked: VALID exits 0, NOT VALID 1.
    checked = ("verify", "--payload", payload, "--trust", str(trust), "--anchor", str(anchor))
    assert health(*checked, data=elsewhere)[0] == 0
    assert health(*checked, "--at", "2040-01-01T00:00:00Z", data=elsewhere)[0] == 1
    assert health("verify", "--payload", "HC1:NOT BASE45!", "--trust", str(trust), "--anchor",
                  str(anchor), data=elsewhere)[0] == 1  # fmt: skip


def test_verify_help_states_the_exit_codes_and_the_jsonl_format() -> None:
    shown = runner.invoke(health_app, ["verify", "--help"], env={"COLUMNS": "200"}).stdout
    flat = " ".join(shown.replace("│", " ").split())
    assert "Exit 0: VALID (with --jsonl: every line). Exit 1: NOT VALID. Exit 2:" in flat
    assert '{"payload": "HC1:...", "trust": ["<base64 DER certificate>", ...], "at":' in flat
    assert "(certificates trusted as given, not a trust list)" in flat


def test_jsonl_trust_of_the_wrong_type_is_named(data_dir: DataDir, tmp_path: Path) -> None:
    """``trust`` on a line is an array of base64 DER certificates; trust-list entries, a
    string or bad base64 get a reason that says so."""
    payload = _issue(data_dir, tmp_path, TEST, "test")
    trust, _anchor = _export_lists(data_dir, tmp_path)
    entries = json.loads(trust.read_text())
    lines = [
        {"payload": payload, "trust": [e["rawData"] for e in entries]},
        {"payload": payload, "trust": entries},
        {"payload": payload, "trust": entries[0]["rawData"]},
        {"payload": payload, "trust": ["bm90IGEgY2VydGlmaWNhdGU="]},
        {"payload": payload, "trust": [entries[0]["rawData"]], "at": "next week"},
    ]
    batch = tmp_path / "in.jsonl"
    batch.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    code, out, _err = health("verify", "--jsonl", str(batch), data=tmp_path / "none")
    assert code == 1
    results = [json.loads(line) for line in out.splitlines()]
    assert [r["valid"] for r in results] == [True, False, False, False, False]
    assert [r["reasons"][0] for r in results[1:]] == [
        "input: trust[0] is an object, not a base64 DER certificate (a signed trust list goes "
        "in --trust, with --anchor)",
        "input: trust must be an array of base64 DER certificates, got a string",
        "input: trust[0] is not a base64 DER certificate",
        "input: at must be an ISO 8601 time such as 2027-01-01T00:00:00Z",
    ]


def test_verify_shows_the_revocation_list_date_and_warns_when_it_is_old(
    data_dir: DataDir, tmp_path: Path
) -> None:
    """An old list passes every credential revoked since: its date is printed, and past
    STALE_AFTER (7 days, when the border page marks its lists old) a warning says so."""
    import datetime as dt

    payload = _issue(data_dir, tmp_path, TEST, "test")
    trust, anchor = _export_lists(data_dir, tmp_path)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ctx = build_context(load_settings(data_dir=data_dir.path))
    try:
        fresh = ctx.health().revocation_list(at=now - dt.timedelta(hours=3))
        old = ctx.health().revocation_list(at=now - dt.timedelta(days=10))
    finally:
        ctx.close()
    (tmp_path / "fresh.json").write_text(json.dumps(fresh))
    (tmp_path / "old.json").write_text(json.dumps(old))
    elsewhere = tmp_path / "border-post"
    args = ("verify", "--payload", payload, "--trust", str(trust), "--anchor", str(anchor))

    code, out, err = health(*args, "--revocations", str(tmp_path / "fresh.json"), data=elsewhere)
    assert code == 0, err
    made = (now - dt.timedelta(hours=3)).isoformat()
    assert f"  revocation list: issued {made}, 3 h old" in out.splitlines()
    assert err == ""

    code, out, err = health(*args, "--revocations", str(tmp_path / "old.json"), data=elsewhere)
    assert code == 0  # still VALID: the warning does not decide
    made = (now - dt.timedelta(days=10)).isoformat()
    assert f"  revocation list: issued {made}, 10 days old" in out.splitlines()
    assert err.splitlines() == [
        f"warning: the revocation list is 10 days old (issued {made}), older than 7 days: a "
        "credential revoked since then passes; get a current one (GET /health/revocations)"
    ]
    code, out, _err = health(*args, "--revocations", str(tmp_path / "old.json"), "--json",
                             data=elsewhere)  # fmt: skip
    listed = json.loads(out)["revocation_list"]
    assert (listed["source"], listed["issued_at"], listed["stale"]) == ("file", made, True)


def test_credential_of_a_revoked_signer_says_so(data_dir: DataDir, tmp_path: Path) -> None:
    """``natid ca revoke SERIAL --reason keyCompromise`` on a document signer: the credentials it
    signed fail with the date and the reason, not as a foreign or forged signer's. (Last in the
    module: it revokes the module's RSA signer; the next RSA issuance would make a new one.)"""
    record = tmp_path / "test.json"
    record.write_text(json.dumps(TEST))
    code, payload, err = health(
        "issue", "-s", data_dir.holder_id, "-k", "test", "--json", str(record), "--algorithm",
        "rsa-3072", data=data_dir.path,
    )  # fmt: skip
    assert code == 0, err
    trust, anchor = _export_lists(data_dir, tmp_path)  # from before the revocation
    signers = json.loads(health("signer", "list", "--json", data=data_dir.path)[1])
    (rsa_signer,) = [s for s in signers if s["algorithm"] == "rsa-3072"]
    revoke = ["ca", "revoke", rsa_signer["serial"], "--reason", "keyCompromise"]
    revoked = runner.invoke(main_app, [*revoke, "--data-dir", str(data_dir.path)])
    assert revoked.exit_code == 0, revoked.output

    code, out, _err = health("verify", "--payload", payload.strip(), data=data_dir.path)
    assert code == 1
    (reason,) = [line for line in out.splitlines() if line.startswith("  - signature: ")]
    assert re.fullmatch(
        r"  - signature: the signer's certificate \(kid [A-Za-z0-9+/=]{12}\) was revoked on "
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00 \(keyCompromise\); the credentials it signed "
        r"are no longer valid",
        reason,
    ), reason
    assert "no trusted signer" not in out
    assert "holder: not shown, its signer's certificate is revoked" in out
    code, out, _err = health("verify", "--payload", payload.strip(), "--json", data=data_dir.path)
    (finding,) = json.loads(out)["findings"]
    assert (finding["code"], finding["details"]["reason"]) == ("signer_revoked", "keyCompromise")
    assert finding["details"]["kid"] == rsa_signer["kid"]
    # A trust list exported before the revocation still lists the signer; the data directory
    # knows better.
    code, out, _err = health("verify", "--payload", payload.strip(), "--trust", str(trust),
                             "--anchor", str(anchor), data=data_dir.path)  # fmt: skip
    assert code == 1
    assert "(keyCompromise)" in out
