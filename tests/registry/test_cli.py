"""``natid registry ...`` as an operator uses it, through the real application context.

Runs on SQLite and PostgreSQL (``NATID_DATABASE_URL`` points at the test database); the data
directory holds the development key store the audit ledger signs with.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.registry import app

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
