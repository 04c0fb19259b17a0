"""``natid registry event --json FILE`` and ``natid registry events process`` (issue 8), run on
the test database and a data directory holding the CA hierarchy (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.ca import app as ca_app
from api.cli.registry import app
from api.context import AppContext
from api.lifecycle import certificate_lifecycle, event_feed
from ca.models import CertificateStatus
from ca.revocation import RevocationReason
from registry import EventOutcome, PersonStatus
from tests.ca._issuance import add_person

runner = CliRunner()


@pytest.fixture(autouse=True)
def env(lc_ctx: AppContext, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATID_DATA_DIR", str(lc_ctx.settings.data_dir))
    monkeypatch.setenv("NATID_DATABASE_URL", db_url)


def _file(tmp_path: Path, value: object) -> str:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(value), encoding="utf-8")
    return str(path)


def test_event_command_injects_a_death_and_prints_the_outcome(
    lc_ctx: AppContext, tmp_path: Path
) -> None:
    person = add_person(lc_ctx.register)
    cert = lc_ctx.ca().issue_with_server_key("citizen-auth", person.id, actor="test")
    event = {"type": "death", "subject": person.id, "date": "2026-11-01"}

    result = runner.invoke(app, ["event", "--json", _file(tmp_path, event)])

    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["outcome"] == "done"
    assert printed["source"] == "cli"
    assert printed["outcome_detail"]["certificates_revoked"] == 1
    revoked = lc_ctx.ca().get(cert.serial_hex)
    assert revoked.status is CertificateStatus.REVOKED
    assert revoked.revocation_reason is RevocationReason.CESSATION_OF_OPERATION
    assert lc_ctx.register.get_person(person.id).status is PersonStatus.DECEASED


def test_event_command_refuses_bad_json_and_stores_nothing(
    lc_ctx: AppContext, tmp_path: Path
) -> None:
    person = add_person(lc_ctx.register)
    bad = runner.invoke(app, ["event", "--json", _file(tmp_path, {"type": "death"})])
    assert bad.exit_code == 1
    assert "subject: required" in bad.output
    assert "date: required" in bad.output
    garbled = tmp_path / "garbled.json"
    garbled.write_text("{type: death", encoding="utf-8")
    result = runner.invoke(app, ["event", "--json", str(garbled)])
    assert result.exit_code == 1
    assert "is not JSON" in result.output
    assert lc_ctx.register.get_person(person.id).status is PersonStatus.ACTIVE


def test_events_process_carries_out_what_the_embedded_register_recorded(
    lc_ctx: AppContext,
) -> None:
    person = add_person(lc_ctx.register)
    cert = lc_ctx.ca().issue_with_server_key("citizen-sign", person.id, actor="test")
    # The embedded register records the death (and ends nothing yet beyond its own rows).
    event, created = lc_ctx.register.record_event(
        {"type": "death", "subject": person.id, "date": "2026-11-01"}
    )
    assert created and event.processed_at is None
    assert lc_ctx.ca().get(cert.serial_hex).status is CertificateStatus.GOOD

    result = runner.invoke(app, ["events", "process"])

    assert result.exit_code == 0, result.output
    assert "processed 1 events; 0 failed" in result.output
    assert lc_ctx.ca().get(cert.serial_hex).status is CertificateStatus.REVOKED
    assert event_feed(lc_ctx).get(event.id).outcome is EventOutcome.DONE
    again = runner.invoke(app, ["events", "process"])
    assert "processed 0 events" in again.output


def test_bulk_issue_supersedes_a_certificate_flagged_for_reissue(
    lc_ctx: AppContext, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A bulk line with a server-side key is the replacement a name change asks for: the old
    certificate is revoked (``superseded``) once the batch commits, and no listener fails."""
    person = add_person(lc_ctx.register)
    old = lc_ctx.ca().issue_with_server_key("citizen-auth", person.id, actor="test")
    change = {
        "type": "name_change",
        "subject": person.id,
        "date": "2026-10-20",
        "family_name_latin": "Chan",
        "family_name_km": "ចាន់",
    }
    assert runner.invoke(app, ["event", "--json", _file(tmp_path, change)]).exit_code == 0
    lines = tmp_path / "bulk.jsonl"
    line = {"profile": "citizen-auth", "subject": person.id, "server_key": True}
    lines.write_text(json.dumps(line) + "\n", encoding="utf-8")

    result = runner.invoke(ca_app, ["bulk-issue", str(lines), "--json"])

    assert result.exit_code == 0, result.output
    (issued,) = json.loads(result.stdout)["issued"]
    assert "audit listener failed" not in caplog.text
    superseded = lc_ctx.ca().get(old.serial_hex)
    assert superseded.status is CertificateStatus.REVOKED
    assert superseded.revocation_reason is RevocationReason.SUPERSEDED
    (flag,) = certificate_lifecycle(lc_ctx).flags(person.id)
    assert flag.superseded_by == issued["serial"]
