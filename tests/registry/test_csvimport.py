"""Bulk import from CSV: good rows load, bad rows are reported by line, nothing half-written."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

from core.errors import InvalidInput
from registry import (
    ImportFileRejected,
    RecordKind,
    RegistryError,
    RegistryUnavailable,
    loading,
)
from registry.csvimport import MAX_BYTES, MAX_COLUMNS, read_csv, read_import_file, validate_rows
from registry.demo import FAMILY_NAMES, MALE_NAMES
from registry.schemas import PersonIn
from registry.service import EmbeddedRegister
from tests.registry.conftest import RecordingLedger, ministry

HEADER = "national_id,name_km,name_latin,birthdate,sex,address\n"


def _csv(rows: list[list[str]], header: list[str] | None = None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header or ["national_id", "name_km", "name_latin", "birthdate", "sex"])
    writer.writerows(rows)
    return out.getvalue()


MIXED = (
    HEADER
    + "100000001,សុខ ដារ៉ា,Sok Dara,1990-04-17,M,Phnom Penh\n"  # line 2: good
    + "100000002,ចាន់ ធីតា,Chan Thida,17/04/1990,F,\n"  # line 3: bad date
    + '100000003,លី បូរ៉ា,Ly Bora,1985-01-02,M,"House 5,\nStreet 7"\n'  # line 4-5: good
    + "100000004,Heng Sokha,Heng Sokha,1980-03-03,M,\n"  # line 6: Latin in name_km
    + "100000001,គឹម សុភា,Kim Sophea,1970-05-05,F,\n"  # line 7: same ID as line 2
    + "\n"  # line 8: blank, skipped
    + "100000005,ហេង ពិសី,Heng Pisey,1995-06-06\n"  # line 9: too few cells
    + "10000006,ទេព វិបុល,Tep Vibol,1975-07-07,M,\n"  # line 10: 8 digits
)


def test_good_rows_load_and_bad_rows_are_listed_by_line(
    register: EmbeddedRegister, ledger: RecordingLedger
) -> None:
    report = register.import_csv(MIXED.encode())
    assert report.kind is RecordKind.PERSONS
    assert report.loaded == 2
    assert [str(r) for r in report.rejected] == [
        "line 3: birthdate: not a date (expected YYYY-MM-DD)",
        "line 6: name_km: expected Khmer script (each word starting with a Khmer letter)",
        "line 7: national_id: same as line 2",
        "line 9: has 4 cells; the header has 6",
        "line 10: national_id: expected 9 digits as text",
    ]
    assert {p.name_latin for p in register.list_persons()} == {"Sok Dara", "Ly Bora"}
    assert register.find_person_by_national_id("100000003") is not None
    (entry,) = ledger.entries
    assert entry.event == "registry.import.completed"
    assert entry.data["loaded"] == 2 and entry.data["rejected"] == 5 and entry.in_transaction


def test_report_never_contains_national_id_numbers(register: EmbeddedRegister) -> None:
    report = register.import_csv(MIXED)
    text = "\n".join(str(r) for r in report.rejected)
    for number in ("100000001", "100000002", "100000004", "100000005", "10000006"):
        assert number not in text


def test_rows_already_in_the_database_are_rejected(register: EmbeddedRegister) -> None:
    register.import_csv(MIXED)
    again = register.import_csv(MIXED)
    assert again.loaded == 0
    assert "line 2: national_id: a person with this national ID already exists" in [
        str(r) for r in again.rejected
    ]
    assert register.count(RecordKind.PERSONS) == 2


def test_import_logs_never_contain_national_id(
    register: EmbeddedRegister, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    register.import_csv(MIXED)
    assert caplog.records
    for record in caplog.records:
        assert "10000000" not in str(record.__dict__)


def test_database_failure_mid_import_leaves_nothing(
    register: EmbeddedRegister, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loading, "INSERT_CHUNK", 2)
    rows = [[f"1000001{i:02d}", "សុខ ដារ៉ា", "Sok Dara", "1990-04-17", "M"] for i in range(7)]
    inserts: list[str] = []

    def fail_on_second_insert(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT INTO registry_persons"):
            inserts.append(statement)
            if len(inserts) == 2:
                raise OperationalError(statement, None, Exception("disk I/O error"))

    event.listen(engine, "before_cursor_execute", fail_on_second_insert)
    try:
        with pytest.raises(RegistryUnavailable) as caught:
            register.import_csv(_csv(rows))
    finally:
        event.remove(engine, "before_cursor_execute", fail_on_second_insert)
    assert len(inserts) == 2  # the first chunk was written before the failure ...
    assert register.count(RecordKind.PERSONS) == 0  # ... and rolled back with the rest
    assert "100000100" not in str(caught.value)


def test_servants_import_resolves_ministry_by_name(register: EmbeddedRegister) -> None:
    health = register.add_entity(ministry())
    register.import_csv(_csv([["100000001", "សុខ ដារ៉ា", "Sok Dara", "1990-04-17", "M"]]))
    dara = register.list_persons()[0].id
    text = _csv(
        [
            [dara, "Ministry of Health", "Hospital Services", "Officer", "MOH-1"],
            [dara, "Ministry of Magic", "Potions", "Officer", "MOM-1"],
        ],
        header=["person_id", "ministry", "unit", "title", "employee_number"],
    )
    report = register.import_csv(text)
    assert report.kind is RecordKind.SERVANTS
    assert report.loaded == 1
    assert [str(r) for r in report.rejected] == [
        "line 3: ministry: no ministry with this id, register number or name"
    ]
    assert register.servants_of_person(dara)[0].ministry_id == health.id


def test_entities_import_detected_by_header(register: EmbeddedRegister) -> None:
    text = _csv(
        [["DEMO-1", "ធនាគារ បូកគោ", "Bokor Bank Plc.", "bank"]],
        header=["register_no", "name_km", "name_en", "kind"],
    )
    report = register.import_csv(text)
    assert (report.kind, report.loaded, report.rejected) == (RecordKind.ENTITIES, 1, ())


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "the file is empty"),
        (b"\n\n", "the file is empty"),
        (b"national_id,name_km\n\xff\xfe,x\n", "not UTF-8 text (invalid byte at offset 20)"),
        (b"foo,bar\n1,2\n", "cannot tell from the header"),
        (
            b"national_id,name_km,name_latin,birthdate,nickname\n",
            "column 5: 'nickname' is not a field",
        ),
        (b"national_id,name_km,name_latin\n", "lacks required column(s): birthdate"),
        (b"national_id,name_km,name_km,birthdate\n", "column 3: the column name appears twice"),
        (b'national_id,name_km,name_latin,birthdate\n"unterminated\n', "line 2: not valid CSV"),
    ],
)
def test_unusable_file_rejected_whole(
    register: EmbeddedRegister, data: bytes, expected: str
) -> None:
    with pytest.raises(ImportFileRejected, match=re.escape(expected)):
        register.import_csv(data)
    assert register.count(RecordKind.PERSONS) == 0


def test_file_without_header_does_not_echo_first_row(register: EmbeddedRegister) -> None:
    data = "123456789,សុខ ដារ៉ា,Sok Dara,1990-04-17\n".encode()
    with pytest.raises(ImportFileRejected) as caught:
        register.import_csv(data, kind=RecordKind.PERSONS)
    assert "123456789" not in str(caught.value)
    assert "is the header row missing?" in str(caught.value)


def test_too_many_columns_rejected(register: EmbeddedRegister) -> None:
    header = ",".join(f"c{i}" for i in range(MAX_COLUMNS + 1))
    with pytest.raises(ImportFileRejected, match=f"at most {MAX_COLUMNS}"):
        register.import_csv(header + "\n", kind=RecordKind.PERSONS)


def test_row_with_too_many_cells_rejected_alone(register: EmbeddedRegister) -> None:
    text = HEADER + "100000001,សុខ ដារ៉ា,Sok Dara,1990-04-17,M,PP," + "x," * 100 + "\n"
    report = register.import_csv(text)
    assert [str(r) for r in report.rejected] == ["line 2: has 107 cells; the header has 6"]


def test_oversized_file_refused_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    with big.open("wb") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: no disk space used
    with pytest.raises(ImportFileRejected, match="larger than 64 MiB"):
        read_import_file(big)


def test_ten_thousand_rows_import_quickly_in_one_transaction(
    register: EmbeddedRegister, ledger: RecordingLedger
) -> None:
    rows = []
    for i in range(10_000):
        family_km, family = FAMILY_NAMES[i % len(FAMILY_NAMES)]
        given_km, given = MALE_NAMES[i % len(MALE_NAMES)]
        rows.append(
            [
                f"{200_000_000 + i}",
                f"{family_km} {given_km}",
                f"{family} {given}",
                f"{1950 + i % 50}-0{1 + i % 9}-1{i % 10}",
                "M",
            ]
        )
    data = _csv(rows).encode()
    started = time.perf_counter()
    report = register.import_csv(data)
    elapsed = time.perf_counter() - started
    assert (report.loaded, report.rejected) == (10_000, ())
    assert register.count(RecordKind.PERSONS) == 10_000
    assert len(ledger.entries) == 1  # one audit entry for the batch, not 10,000
    assert elapsed < 30, f"10,000 rows took {elapsed:.1f} s"


# --- property tests ------------------------------------------------------------------------

_FIELDS = list(PersonIn.model_fields)
_cells = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "M", "1990-01-01", "123456789", "សុខ ដារ៉ា", "Sok Dara", '"', ",", "\n"]),
)
_csv_like = st.builds(
    lambda header, rows: _csv(rows, header=header),
    st.lists(st.sampled_from(_FIELDS), min_size=1, max_size=8),
    st.lists(st.lists(_cells, max_size=9), max_size=6),
)


def _parse_and_validate(data: bytes | str) -> None:
    parsed = read_csv(data)
    valid, rejected = validate_rows(PersonIn, parsed.rows, today=dt.date(2026, 11, 1))
    for line, _record in valid:
        assert line >= 2
    for row in rejected + parsed.rejected:
        assert row.line >= 2 and row.reason


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.binary(), _csv_like))
def test_any_input_gives_a_report_or_a_registry_error(data: bytes | str) -> None:
    try:
        _parse_and_validate(data)
    except RegistryError as exc:
        assert isinstance(exc, InvalidInput)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.one_of(st.text(max_size=300), _csv_like))
def test_import_of_any_text_reports_or_raises_registry_error(
    register: EmbeddedRegister, data: str
) -> None:
    before = register.count(RecordKind.PERSONS)
    try:
        report = register.import_csv(data, kind=RecordKind.PERSONS)
    except RegistryError as exc:
        assert isinstance(exc, InvalidInput)
        assert register.count(RecordKind.PERSONS) == before
    else:
        assert register.count(RecordKind.PERSONS) == before + report.loaded
