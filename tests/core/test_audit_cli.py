"""``natid audit ...`` as an operator and an auditor use it (typer's CliRunner).

The ledger is written through :class:`core.audit.AuditLedger` on the test database (SQLite and
PostgreSQL, via ``NATID_DATABASE_URL``), then tampered with by SQL, and the commands are run
against it with the public key exported to a PEM file, as an offline auditor would.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from api.cli.audit import app
from api.context import AUDIT_KEY_LABEL
from core.audit import AuditLedger
from core.clock import FixedClock
from core.db import make_engine, make_session_factory
from migrations import upgrade
from tests.core._audit_sql import rewrite_chain_from


def _pem(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def _fill(ledger: AuditLedger, n: int) -> None:
    for i in range(n):
        ledger.append(
            "ca.certificate.issued", actor="ra:office-3", subject=f"person:{i:03d}", data={"n": i}
        )


@pytest.fixture
def env(
    db_url: str,
    tmp_path: Path,
    session_factory: sessionmaker[Session],
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, Path]]:
    """12 entries, checkpoints at 5 and 10, the public key in a PEM file, NATID_* set."""
    key = ec.generate_private_key(ec.SECP256R1())
    ledger = AuditLedger(
        session_factory,
        clock=clock,
        signing_key=key,
        key_label=AUDIT_KEY_LABEL,
        checkpoint_interval=5,
    )
    _fill(ledger, 12)
    monkeypatch.setenv("NATID_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("NATID_DATABASE_URL", db_url)
    yield {
        "pem": _pem(key, tmp_path / "audit.pem"),
        "other_pem": _pem(ec.generate_private_key(ec.SECP256R1()), tmp_path / "other.pem"),
    }


runner = CliRunner()


def test_verify_ok(env: dict[str, Path]) -> None:
    result = runner.invoke(app, ["verify", "--public-key", str(env["pem"])])
    assert result.exit_code == 0, result.output
    assert "audit ledger OK: 12 entries, 2 checkpoints" in result.output


def test_verify_names_the_modified_entry(env: dict[str, Path], engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_entries SET subject = 'person:999' WHERE seq = 7"))
    result = runner.invoke(app, ["verify", "--public-key", str(env["pem"])])
    assert result.exit_code == 1
    assert "audit ledger FAILED at entry 7: entry 7: hash does not match its contents" in (
        result.output
    )


def test_verify_json_report(env: dict[str, Path], engine: Engine) -> None:
    ok = runner.invoke(app, ["verify", "--public-key", str(env["pem"]), "--json"])
    assert ok.exit_code == 0
    assert json.loads(ok.stdout)["ok"] is True
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE seq = 3"))
    bad = runner.invoke(app, ["verify", "--public-key", str(env["pem"]), "--json"])
    assert bad.exit_code == 1
    report = json.loads(bad.stdout)
    assert (report["ok"], report["first_bad_seq"]) == (False, 3)


def test_verify_with_an_untrusted_key_fails(env: dict[str, Path]) -> None:
    result = runner.invoke(app, ["verify", "--public-key", str(env["other_pem"])])
    assert result.exit_code == 1
    assert "checkpoint at entry 5: signature does not verify" in result.output


def test_deleted_checkpoints_and_rewritten_chain_fail_verification(
    env: dict[str, Path], engine: Engine
) -> None:
    # The auditor's walk-through: entry 2 changed, every hash and the head row's hash
    # recomputed, every checkpoint deleted. The head row still records the checkpoint at 10.
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_entries SET data = :d WHERE seq = 2"), {"d": '{"n":99}'})
        conn.execute(text("DELETE FROM audit_checkpoints"))
    rewrite_chain_from(engine, 2)
    args = ["verify", "--public-key", str(env["pem"])]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.stdout == (
        "audit ledger FAILED at entry 10: checkpoint at entry 10: missing (the head row "
        "records it as the newest signed checkpoint, but none is left): checkpoints were "
        "deleted\n"
    )
    # The head row's record rewritten too: with a trusted key, no checkpoint at all fails.
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_head SET checkpoint_seq = 0 WHERE id = 1"))
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith(
        "audit ledger FAILED at entry 12: entry 12: no signed checkpoint covers it"
    )
    report = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert (report["ok"], report["first_bad_seq"], report["checkpoints_checked"]) == (False, 12, 0)


def test_truncation_caught_with_exported_head(env: dict[str, Path], engine: Engine) -> None:
    exported = runner.invoke(app, ["head"])
    assert exported.exit_code == 0
    trusted_head = exported.stdout.strip()
    assert trusted_head.startswith("12:")
    with engine.begin() as conn:
        h11 = conn.execute(text("SELECT entry_hash FROM audit_entries WHERE seq = 11")).scalar_one()
        conn.execute(text("DELETE FROM audit_entries WHERE seq = 12"))
        conn.execute(
            text("UPDATE audit_head SET last_seq = 11, last_hash = :h WHERE id = 1"), {"h": h11}
        )
    args = ["verify", "--public-key", str(env["pem"]), "--expect-head", trusted_head]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "entry 12: missing" in result.output


def test_malformed_expect_head_is_a_usage_error(env: dict[str, Path]) -> None:
    result = runner.invoke(
        app, ["verify", "--public-key", str(env["pem"]), "--expect-head", "twelve"]
    )
    assert result.exit_code == 1
    assert "SEQ:HASH" in result.output


def test_tail_shows_newest_entries_oldest_first(env: dict[str, Path]) -> None:
    result = runner.invoke(app, ["tail", "-n", "3"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["SEQ", "TIME", "EVENT", "ACTOR", "SUBJECT"]
    assert [line.split()[0] for line in lines[1:]] == ["10", "11", "12"]
    assert lines[3].split()[1:] == [
        "2026-11-01T09:00:00.000000Z",
        "ca.certificate.issued",
        "ra:office-3",
        "person:011",
    ]


def test_tail_json_lines(env: dict[str, Path]) -> None:
    result = runner.invoke(app, ["tail", "-n", "2", "--json"])
    assert result.exit_code == 0
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["seq"] for o in objects] == [11, 12]
    assert objects[1]["data"] == {"n": 11}
    assert objects[1]["prev_hash"] == objects[0]["entry_hash"]


# --- a real data directory (SQLite file, no NATID_DATABASE_URL) -------------------------------


@pytest.fixture
def data_dir(tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("NATID_DATABASE_URL", raising=False)
    directory = tmp_path / "var"
    directory.mkdir()
    engine = make_engine(f"sqlite:///{directory / 'natid.db'}")
    upgrade(engine)
    key = ec.generate_private_key(ec.SECP256R1())
    ledger = AuditLedger(
        make_session_factory(engine), clock=clock, signing_key=key, key_label=AUDIT_KEY_LABEL
    )
    _fill(ledger, 30)
    ledger.checkpoint()
    engine.dispose()
    _pem(key, tmp_path / "audit.pem")
    return directory


def test_verify_data_dir_then_tamper_with_sqlite3(data_dir: Path) -> None:
    pem = str(data_dir.parent / "audit.pem")
    ok = runner.invoke(app, ["verify", "--data-dir", str(data_dir), "--public-key", pem])
    assert ok.exit_code == 0, ok.output
    assert "audit ledger OK: 30 entries, 1 checkpoints" in ok.stdout
    with sqlite3.connect(data_dir / "natid.db") as db:
        db.execute("""UPDATE audit_entries SET data = '{"n":99}' WHERE seq = 17""")
    bad = runner.invoke(app, ["verify", "--data-dir", str(data_dir), "--public-key", pem])
    assert bad.exit_code == 1
    assert "entry 17: hash does not match its contents" in bad.output


def test_verify_reads_natid_data_dir(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATID_DATA_DIR", str(data_dir))
    result = runner.invoke(app, ["verify", "--public-key", str(data_dir.parent / "audit.pem")])
    assert result.exit_code == 0, result.output


def test_verify_without_a_database_fails_and_creates_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "nothing-here"
    pem = _pem(ec.generate_private_key(ec.SECP256R1()), tmp_path / "k.pem")
    result = runner.invoke(app, ["verify", "--data-dir", str(empty), "--public-key", str(pem)])
    assert result.exit_code != 0
    assert "no database" in result.output
    assert not empty.exists()


def test_public_key_file_that_is_not_a_key_is_refused(data_dir: Path) -> None:
    bogus = data_dir.parent / "bogus.pem"
    bogus.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    result = runner.invoke(app, ["verify", "--data-dir", str(data_dir), "--public-key", str(bogus)])
    assert result.exit_code != 0
    assert "cannot read a PEM public key" in result.output


# --- with the key backend (composition root) --------------------------------------------------


def test_checkpoint_export_key_and_verify_with_the_key_backend(
    tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.context import build_context
    from core.settings import load_settings

    monkeypatch.delenv("NATID_DATABASE_URL", raising=False)
    data_dir = tmp_path / "var"
    ctx = build_context(load_settings(data_dir=data_dir), clock=clock)
    try:
        for _ in range(3):
            ctx.ledger.append("admin.settings.changed", actor="admin:1")
    finally:
        ctx.close()
    checkpoint = runner.invoke(app, ["checkpoint", "--data-dir", str(data_dir)])
    assert checkpoint.exit_code == 0, checkpoint.output
    assert "checkpoint at entry 3 (" in checkpoint.stdout
    pem = tmp_path / "exported.pem"
    exported = runner.invoke(app, ["export-key", "--data-dir", str(data_dir), "--out", str(pem)])
    assert exported.exit_code == 0, exported.output
    offline = runner.invoke(app, ["verify", "--data-dir", str(data_dir), "--public-key", str(pem)])
    assert offline.exit_code == 0, offline.output
    default = runner.invoke(app, ["verify", "--data-dir", str(data_dir)])
    assert default.exit_code == 0, default.output
    assert "audit ledger OK: 3 entries, 1 checkpoints" in default.stdout
