"""CSV batches of records to issue: ``subject,kind,<DCC field>,...`` (one credential a row).

The header names the columns: ``subject`` (the holder's register id), ``kind``
(``vaccination``, ``test`` or ``recovery``), then any of the DCC schema's record fields
(:data:`vaccine_cert.issue.RECORD_FIELDS`). A batch may mix kinds, so a row leaves the
columns of other kinds empty: an empty cell is an absent field. ``dn`` and ``sd`` are numbers;
every other cell is text as written. Rows are numbered as lines of the file (the header is
line 1), so a report points at the line to fix. Parsing never fails for one bad row: the row is
handed on and fails on its own when issued.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from core.errors import InvalidInput

__all__ = ["MAX_BATCH_ROWS", "BatchOutcome", "BatchReport", "BatchRow", "parse_batch_csv"]

#: Most rows in one batch (a day of a large vaccination centre, many times over).
MAX_BATCH_ROWS = 100_000
_NUMBERS = frozenset({"dn", "sd"})


@dataclass(frozen=True, slots=True)
class BatchRow:
    line: int
    subject: str
    kind: str
    record: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """One row's result: the credential, or the error code and message."""

    line: int
    subject: str
    uvci: str | None = None
    payload: str | None = None
    error_code: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class BatchReport:
    outcomes: tuple[BatchOutcome, ...]

    @property
    def issued(self) -> int:
        return sum(1 for o in self.outcomes if o.ok)

    @property
    def failed(self) -> tuple[BatchOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.ok)


def parse_batch_csv(text: str) -> Iterator[BatchRow]:
    """The rows of a batch file (module docstring); raise only for a header without
    ``subject`` and ``kind`` or a file of more than :data:`MAX_BATCH_ROWS` rows."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise InvalidInput("the batch file is empty; expected a header subject,kind,...") from None
    except csv.Error as exc:
        raise InvalidInput(f"the batch file is not CSV: {exc}") from exc
    if "subject" not in header or "kind" not in header:
        raise InvalidInput("the batch file's header must name the columns subject and kind")
    count = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InvalidInput(f"line {reader.line_num}: not CSV: {exc}") from exc
        if not any(cell.strip() for cell in cells):
            continue
        count += 1
        if count > MAX_BATCH_ROWS:
            raise InvalidInput(f"a batch holds at most {MAX_BATCH_ROWS} rows")
        values = dict(zip(header, (cell.strip() for cell in cells), strict=False))
        record: dict[str, Any] = {}
        for name, value in values.items():
            if name in ("subject", "kind") or value == "":
                continue
            record[name] = int(value) if name in _NUMBERS and value.isdigit() else value
        if len(cells) > len(header):
            record["(extra cells)"] = ""  # refused by the record check, naming the problem
        yield BatchRow(reader.line_num, values.get("subject", ""), values.get("kind", ""), record)
