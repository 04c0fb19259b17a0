"""``natid registry ...`` as an operator uses it, through the real application context.

Runs on SQLite and PostgreSQL (``NATID_DATABASE_URL`` points at the test database); the data
directory holds the development key store the audit ledger signs with.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.main import app as main_app
from api.cli.registry import app
from api.context import AppContext, build_context
from core.audit import AuditEntry
from core.settings import load_settings
from registry.records import AssuranceLevel

runner = CliRunner()
NID = "123456789"
PERSON = {
    "national_id": NID,
    "name_km": "សុខ ដារ៉ា",
    "name_latin": "Sok Dara",
    "birthdate": "1990-04-17",
    "sex": "M",
}


@pytest.fixture(autouse=True)
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATID_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("NATID_DATABASE_URL", db_url)


def _json_file(tmp_path: Path, name: str, value: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    return str(path)


def _add(tmp_path: Path, kind: str, record: dict[str, object]) -> str:
    result = runner.invoke(
        app, ["add", kind, "--json", _json_file(tmp_path, f"{kind}.json", record)]
    )
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_add_person_prints_id_and_list_json_shows_the_issue_fields(tmp_path: Path) -> None:
    person_id = _add(tmp_path, "person", PERSON)
    result = runner.invoke(app, ["list", "persons", "--json"])
    assert result.exit_code == 0, result.output
    (listed,) = json.loads(result.stdout)
    assert listed["id"] == person_id
    assert {k: listed[k] for k in ("national_id", "name_km", "name_latin", "birthdate")} == {
        "national_id": NID,
        "name_km": "សុខ ដារ៉ា",
        "name_latin": "Sok Dara",
        "birthdate": "1990-04-17",
    }


def test_add_entity_and_servant_then_list_them(tmp_path: Path) -> None:
    person_id = _add(tmp_path, "person", PERSON)
    bank_id = _add(
        tmp_path,
        "entity",
        {
            "register_no": "DEMO-B1",
            "name_km": "ធនាគារ បូកគោ",
            "name_en": "Bokor Bank",
            "kind": "bank",
        },
    )
    _add(
        tmp_path,
        "entity",
        {"id": "3f0c8a9e-7d1b-4b8e-9a4e-2f4c1d6b7a80", "register_no": "MIN-MOH",
         "name_km": "ក្រសួងសុខាភិបាល", "name_en": "Ministry of Health", "kind": "ministry"},
    )  # fmt: skip
    servant_id = _add(
        tmp_path,
        "servant",
        {"person_id": person_id, "ministry": "Ministry of Health", "unit": "Hospitals",
         "title": "Officer"},
    )  # fmt: skip
    entities = json.loads(runner.invoke(app, ["list", "entities", "--json"]).stdout)
    assert {(e["id"], e["kind"]) for e in entities} == {
        (bank_id, "bank"),
        ("3f0c8a9e-7d1b-4b8e-9a4e-2f4c1d6b7a80", "ministry"),
    }
    (servant,) = json.loads(runner.invoke(app, ["list", "servants", "--json"]).stdout)
    assert servant["id"] == servant_id
    assert (servant["person_id"], servant["ministry"], servant["unit"], servant["title"]) == (
        person_id, "Ministry of Health", "Hospitals", "Officer",
    )  # fmt: skip
    assert servant["ministry_id"] == "3f0c8a9e-7d1b-4b8e-9a4e-2f4c1d6b7a80"


def test_list_table_does_not_show_national_id(tmp_path: Path) -> None:
    _add(tmp_path, "person", PERSON)
    result = runner.invoke(app, ["list", "persons"])
    assert result.exit_code == 0
    assert "Sok Dara" in result.stdout
    assert NID not in result.stdout


def test_duplicate_person_fails_without_echoing_the_number(tmp_path: Path) -> None:
    _add(tmp_path, "person", PERSON)
    result = runner.invoke(app, ["add", "person", "--json", _json_file(tmp_path, "p.json", PERSON)])
    assert result.exit_code == 1
    assert "a person with this national ID already exists [duplicate_record]" in result.stderr
    assert NID not in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "is not JSON: Expecting property name"),
        ("[1, 2]", "must hold one JSON object"),
        (json.dumps({**PERSON, "birthdate": "2999-01-01"}), "birthdate: in the future"),
    ],
)
def test_bad_json_input_fails_with_one_line(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    result = runner.invoke(app, ["add", "person", "--json", str(path)])
    assert result.exit_code == 1
    assert expected in result.stderr
    assert NID not in result.output


def test_import_reports_rejected_rows_and_exits_1(tmp_path: Path) -> None:
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(
        "national_id,name_km,name_latin,birthdate\n"
        "100000001,សុខ ដារ៉ា,Sok Dara,1990-04-17\n"
        "100000002,ចាន់ ធីតា,Chan Thida,17/04/1990\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["import", str(csv_file)])
    assert result.exit_code == 1
    assert "loaded 1 persons; rejected 1 rows" in result.stdout
    assert "line 3: birthdate: not a date (expected YYYY-MM-DD)" in result.stdout
    assert "100000002" not in result.output
    listed = json.loads(runner.invoke(app, ["list", "persons", "--json"]).stdout)
    assert [p["national_id"] for p in listed] == ["100000001"]


def test_import_json_report_and_clean_file_exits_0(tmp_path: Path) -> None:
    csv_file = tmp_path / "banks.csv"
    csv_file.write_text(
        "register_no,name_km,name_en,kind\nDEMO-B1,ធនាគារ បូកគោ,Bokor Bank,bank\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["import", str(csv_file), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"kind": "entities", "loaded": 1, "rejected": []}


def test_import_of_missing_file_fails_cleanly(tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", str(tmp_path / "nope.csv")])
    assert result.exit_code == 1
    assert "cannot read the import file" in result.stderr


# --- identity proofing ---------------------------------------------------------------------------

MINISTRY = {
    "register_no": "MIN-INT", "name_km": "ក្រសួងមហាផ្ទៃ", "name_en": "Ministry of Interior",
    "kind": "ministry",
}  # fmt: skip
IN_PERSON_HIGH = [
    "--method", "in_person", "--level", "high", "--evidence", "national_id_card",
    "--office", "One Window Office, Kampot",
]  # fmt: skip


@pytest.fixture
def ctx() -> Iterator[AppContext]:
    """The application context on the test's data directory, for set-up and for checking what
    was stored (the commands under test build their own)."""
    context = build_context(load_settings())
    try:
        yield context
    finally:
        context.close()


def _person_and_officer(ctx: AppContext) -> tuple[str, str, str]:
    """A person, a registration officer (a servant who is another person), and the person's own
    servant record (an officer may not prove themselves), added as the RA would (set-up)."""
    person_id = ctx.register.add_person(PERSON).id
    officer_person = ctx.register.add_person(
        {**PERSON, "national_id": "987654321", "name_latin": "Chan Thida", "name_km": "ចាន់ ធីតា"}
    ).id
    ctx.register.add_entity(MINISTRY)
    servant = {"ministry": "MIN-INT", "unit": "Identification", "title": "Registration officer"}
    officer_id = ctx.register.add_servant({**servant, "person_id": officer_person}).id
    own_id = ctx.register.add_servant({**servant, "person_id": person_id}).id
    return person_id, officer_id, own_id


def _proofing(person_id: str) -> dict[str, object]:
    result = runner.invoke(app, ["proofing", "--subject", person_id, "--json"])
    assert result.exit_code == 0, result.output
    shown: dict[str, object] = json.loads(result.stdout)
    return shown


def _proofing_audit_entries(ctx: AppContext) -> list[AuditEntry]:
    return [e for e in ctx.ledger.tail(100) if e.event == "registry.proofing.recorded"]


def test_proof_records_in_person_proofing_and_raises_the_level(ctx: AppContext) -> None:
    person_id, officer_id, _own = _person_and_officer(ctx)
    assert _proofing(person_id) == {"person_id": person_id, "current_level": None, "records": []}

    result = runner.invoke(
        app,
        ["proof", "--subject", person_id, *IN_PERSON_HIGH, "--officer", officer_id,
         "--at", "2026-10-31T09:30:00+07:00"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record == {
        "id": record["id"],
        "person_id": person_id,
        "method": "in_person",
        "level": "high",
        "evidence": "national_id_card",
        "office": "One Window Office, Kampot",
        "officer_id": officer_id,
        "at": "2026-10-31T02:30:00+00:00",
    }
    # Nothing personal is printed: no ID card number, no name, no birthdate.
    for personal in (NID, "Sok Dara", "1990-04-17"):
        assert personal not in result.output

    assert ctx.register.proofing_level(person_id) is AssuranceLevel.HIGH
    assert _proofing(person_id) == {
        "person_id": person_id, "current_level": "high", "records": [record],
    }  # fmt: skip
    table = runner.invoke(app, ["proofing", "--subject", person_id])
    assert table.stdout.splitlines()[0] == "current level: high"
    assert "2026-10-31 02:30:00 UTC  high   in_person" in table.stdout

    # The register writes the one audit entry itself; the command adds none of its own.
    (entry,) = _proofing_audit_entries(ctx)
    assert (entry.actor, entry.subject) == ("cli", person_id)
    assert entry.data == {
        "id": record["id"], "method": "in_person", "level": "high",
        "evidence": "national_id_card", "officer_id": officer_id,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--subject", "{unknown}", *IN_PERSON_HIGH],
         "no person with id {unknown} [subject_not_found]"),
        (["--subject", NID, *IN_PERSON_HIGH],
         "--subject must be a person's register id (a UUID; `natid registry list persons` "
         "shows them), not an ID card number"),
        (["--subject", "{person}", "--method", "remote_video", "--level", "high", "--evidence",
          "national_id_card", "--office", "Phnom Penh"],
         "level: remote_video proofing reaches at most substantial [invalid_record]"),
        (["--subject", "{person}", "--method", "in_person", "--level", "high", "--evidence",
          "qualified_certificate", "--office", "Phnom Penh"],
         "evidence: in_person proofing checks one of birth_certificate, family_book, "
         "national_id_card, passport [invalid_record]"),
        (["--subject", "{person}", *IN_PERSON_HIGH, "--at", "2099-01-01T00:00:00Z"],
         "at: in the future [invalid_record]"),
        (["--subject", "{person}", *IN_PERSON_HIGH, "--at", "2026-10-31T09:30:00"],
         "--at needs a time zone, for example 2026-10-31T09:30:00+07:00"),
        (["--subject", "{person}", *IN_PERSON_HIGH, "--officer", "{own}"],
         "officer_id: an officer cannot prove their own identity [invalid_record]"),
        (["--subject", "{person}", *IN_PERSON_HIGH, "--officer", "{person}"],
         "officer_id: not an active civil servant [invalid_record]"),
    ],
    ids=["unknown-subject", "id-card-number-as-subject", "level-above-method",
         "evidence-unfit-for-method", "future-time", "time-without-zone", "officer-proves-self",
         "officer-not-a-servant"],
)  # fmt: skip
def test_proof_refuses_bad_input_in_one_line_and_stores_nothing(
    ctx: AppContext, args: list[str], expected: str
) -> None:
    person_id, _officer, own_id = _person_and_officer(ctx)
    ids = {"person": person_id, "own": own_id, "unknown": "6b0f6a4e-3c1d-4f6e-9a1b-2c3d4e5f6a7b"}
    result = runner.invoke(app, ["proof", *(a.format(**ids) for a in args)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"error: {expected.format(**ids)}"]
    assert NID not in result.output
    assert ctx.register.proofing_records(person_id) == ()
    assert _proofing_audit_entries(ctx) == []


def test_proof_refuses_an_unknown_level_with_the_choices(ctx: AppContext) -> None:
    person_id = ctx.register.add_person(PERSON).id
    result = runner.invoke(
        app, ["proof", "--subject", person_id, *IN_PERSON_HIGH[:2], "--level", "extreme",
              *IN_PERSON_HIGH[4:]],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "Invalid value for '--level'" in result.stderr
    assert ctx.register.proofing_records(person_id) == ()


def test_proofing_of_an_unknown_person_fails_with_one_line() -> None:
    missing = "6b0f6a4e-3c1d-4f6e-9a1b-2c3d4e5f6a7b"
    result = runner.invoke(app, ["proofing", "--subject", missing])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"error: no person with id {missing} [subject_not_found]"]


@pytest.mark.slow  # `natid init` with the demo register and the CA hierarchy: 5-10 s
def test_proof_lets_a_demo_citizen_get_a_citizen_sign_certificate(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A demo citizen (proofed by video, substantial) is refused citizen-sign; after an
    in-person proofing recorded from the command line the same issuance succeeds. Neither the
    ID card number nor the certificate's ``IDCKH-<number>`` reaches a log line or the output."""
    caplog.set_level(logging.DEBUG)
    init = runner.invoke(main_app, ["init"])
    assert init.exit_code == 0, init.output
    persons = json.loads(runner.invoke(app, ["list", "persons", "--json", "--limit", "0"]).stdout)
    servants = json.loads(runner.invoke(app, ["list", "servants", "--json"]).stdout)
    citizen = next(p for p in persons if p["id"] not in {s["person_id"] for s in servants})
    assert _proofing(citizen["id"])["current_level"] == "substantial"
    issue = ["ca", "issue", "--profile", "citizen-sign", "--subject", citizen["id"],
             "--server-key", "--out", str(tmp_path / "sign.pem")]  # fmt: skip

    outputs = []
    refused = runner.invoke(main_app, issue)
    outputs.append(refused.output)
    assert refused.exit_code == 1
    assert "needs identity proofing at level high or higher" in refused.stderr
    assert "has substantial [subject_not_eligible]" in refused.stderr
    proven = runner.invoke(
        app, ["proof", "--subject", citizen["id"], *IN_PERSON_HIGH, "--officer", servants[0]["id"]]
    )
    outputs.append(proven.output)
    assert proven.exit_code == 0, proven.output
    assert _proofing(citizen["id"])["current_level"] == "high"
    issued = runner.invoke(main_app, issue)
    outputs.append(issued.output)
    assert issued.exit_code == 0, issued.output
    assert (tmp_path / "sign.pem").exists()

    assert caplog.records
    for secret in (citizen["national_id"], "IDCKH-"):
        assert secret not in caplog.text
        assert all(secret not in str(r.__dict__) for r in caplog.records)
        assert all(secret not in out for out in outputs)
