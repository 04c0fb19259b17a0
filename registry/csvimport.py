"""Reading bulk-import files: CSV (RFC 4180) with a header row of the JSON field names.

``natid registry import FILE.csv`` loads persons, legal entities or civil servants. The file:

* is UTF-8 (a byte-order mark is allowed, as spreadsheet programs write one), comma-separated,
  quoted per RFC 4180 §2 (fields with commas, quotes or line breaks in double quotes);
* starts with a header row naming the columns with the same field names as the JSON of
  ``natid registry add`` (``national_id,name_km,name_latin,birthdate,...``); the kind of
  record is told by ``--kind`` or recognised from the header (``national_id`` means persons,
  ``register_no`` entities, ``person_id`` civil servants);
* has one record per row; empty cells mean "not given", blank lines are skipped.

Limits, refused with :class:`~registry.errors.ImportFileRejected` before anything is loaded:
:data:`MAX_BYTES` per file, :data:`MAX_ROWS` rows, :data:`MAX_COLUMNS` columns. A row whose
number of cells differs from the header, or with a cell over :data:`MAX_CELL_CHARS`
characters, is rejected on its own with its line number.

Line numbers are the file line where a row starts (a quoted cell may span lines), counting the
header as line 1, so the report matches what an editor shows. Reasons never quote cell values.
This module does no I/O beyond :func:`read_import_file` and touches no database.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from registry.errors import ImportFileRejected, InvalidRecord
from registry.records import RecordKind, RejectedRow
from registry.schemas import EntityIn, PersonIn, ServantIn, validate_record

__all__ = [
    "MAX_BYTES",
    "MAX_CELL_CHARS",
    "MAX_COLUMNS",
    "MAX_ROWS",
    "SCHEMAS",
    "CsvRows",
    "read_csv",
    "read_import_file",
    "validate_rows",
]

MAX_BYTES = 64 * 1024 * 1024
MAX_ROWS = 200_000
MAX_COLUMNS = 32
MAX_CELL_CHARS = 2_000

SCHEMAS: dict[RecordKind, type[BaseModel]] = {
    RecordKind.PERSONS: PersonIn,
    RecordKind.ENTITIES: EntityIn,
    RecordKind.SERVANTS: ServantIn,
}
#: The header column that identifies each kind when ``kind`` is not given.
_MARKERS = {
    "national_id": RecordKind.PERSONS,
    "register_no": RecordKind.ENTITIES,
    "person_id": RecordKind.SERVANTS,
}
_COLUMN_NAME = re.compile(r"[a-z_][a-z0-9_]{0,39}")

R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class CsvRows:
    """The rows of one import file, each with its line, as ``{column: cell}``."""

    kind: RecordKind
    rows: list[tuple[int, dict[str, str]]]
    rejected: list[RejectedRow]


def read_import_file(path: Path) -> bytes:
    """Read ``path``, refusing a file over :data:`MAX_BYTES` before reading it."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ImportFileRejected(_too_large())
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ImportFileRejected(f"cannot read the import file: {exc.strerror}") from exc
    if len(data) > MAX_BYTES:  # it grew while we looked
        raise ImportFileRejected(_too_large())
    return data


def _too_large() -> str:
    return f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB; split it"


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        if len(data) > MAX_BYTES:
            raise ImportFileRejected(_too_large())
        return data.removeprefix("\ufeff")
    if len(data) > MAX_BYTES:
        raise ImportFileRejected(_too_large())
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileRejected(
            f"the file is not UTF-8 text (invalid byte at offset {exc.start})"
        ) from None


def _kind_of(header: Sequence[str], kind: RecordKind | None) -> RecordKind:
    if kind is not None:
        return kind
    found = {_MARKERS[name] for name in header if name in _MARKERS}
    if len(found) != 1:
        raise ImportFileRejected(
            "cannot tell from the header whether the file holds persons, entities or "
            "servants; give --kind"
        )
    return found.pop()


def _check_header(header: list[str], kind: RecordKind) -> None:
    if len(header) > MAX_COLUMNS:
        raise ImportFileRejected(f"the header has {len(header)} columns; at most {MAX_COLUMNS}")
    fields = SCHEMAS[kind].model_fields
    for position, name in enumerate(header, start=1):
        if not name:
            raise ImportFileRejected(f"column {position} of the header has no name")
        if header.index(name) != position - 1:
            raise ImportFileRejected(f"column {position}: the column name appears twice")
        if name not in fields:
            # Echo the name only if it looks like a field name: without a header row, the
            # first "name" would be a data cell, perhaps a national ID number.
            shown = repr(name) if _COLUMN_NAME.fullmatch(name) else "a name"
            raise ImportFileRejected(
                f"column {position}: {shown} is not a field of {kind.value} "
                f"(expected some of: {', '.join(fields)}; is the header row missing?)"
            )
    missing = [name for name, info in fields.items() if info.is_required() and name not in header]
    if missing:
        raise ImportFileRejected(f"the header lacks required column(s): {', '.join(missing)}")


def read_csv(data: bytes | str, *, kind: RecordKind | None = None) -> CsvRows:
    """Split an import file into rows; raise :class:`ImportFileRejected` for an unusable file.

    Rows with the wrong number of cells or an over-long cell are returned as rejected.
    """
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, dict[str, str]]] = []
    rejected: list[RejectedRow] = []
    header: list[str] | None = None
    record_kind: RecordKind | None = None
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ImportFileRejected(f"line {line}: not valid CSV ({exc})") from None
        if not any(cell.strip() for cell in cells):
            continue
        if header is None:
            header = [cell.strip().removeprefix("\ufeff") for cell in cells]
            record_kind = _kind_of(header, kind)
            _check_header(header, record_kind)
            continue
        if len(rows) + len(rejected) >= MAX_ROWS:
            raise ImportFileRejected(f"the file has more than {MAX_ROWS} rows; split it")
        if len(cells) != len(header):
            rejected.append(
                RejectedRow(line, f"has {len(cells)} cells; the header has {len(header)}")
            )
            continue
        cells_by_name = dict(zip(header, cells, strict=True))
        long = next((n for n, cell in cells_by_name.items() if len(cell) > MAX_CELL_CHARS), None)
        if long is not None:
            rejected.append(RejectedRow(line, f"{long}: longer than {MAX_CELL_CHARS} characters"))
            continue
        rows.append((line, cells_by_name))
    if header is None or record_kind is None:
        raise ImportFileRejected("the file is empty; expected a header row and records")
    return CsvRows(record_kind, rows, rejected)


def validate_rows(
    model: type[R], rows: Sequence[tuple[int, dict[str, str]]], *, today: dt.date
) -> tuple[list[tuple[int, R]], list[RejectedRow]]:
    """Validate each row as ``model``; the invalid ones become rejected rows."""
    valid: list[tuple[int, R]] = []
    rejected: list[RejectedRow] = []
    for line, row in rows:
        try:
            valid.append((line, validate_record(model, row, today=today)))
        except InvalidRecord as exc:
            rejected.append(RejectedRow(line, exc.message))
    return valid, rejected
