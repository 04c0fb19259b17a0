"""Bulk issuance input and report: one JSON object per line (JSON Lines).

Each line asks for one certificate, either from a CSR or with a key generated in the key
backend::

    {"profile": "citizen-auth", "subject": "<person id>", "csr": "-----BEGIN CERTIFICATE..."}
    {"profile": "eseal", "subject": "<entity id>", "server_key": true, "algorithm": "ec-p256"}

``dns_names`` (``tls-server``) and ``dcc_purposes`` (``health-dsc``) are optional, as for a
single issuance. Blank lines are skipped; line numbers count every line from 1, as editors do.
The lines are outside input, so each is validated by a pydantic model (``extra="forbid"``) and
a bad line becomes a :class:`BulkFailure` naming the line and the problem - never the line's
content, which may hold a national ID number typed in the wrong field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ca.errors import InvalidBulkRequest
from ca.profiles import DccPurpose
from hsm_adapters.base import KeyAlgorithm

__all__ = [
    "MAX_LINE_BYTES",
    "BulkFailure",
    "BulkIssued",
    "BulkOutcome",
    "BulkReport",
    "BulkRequest",
    "ProgressCallback",
    "parse_bulk_line",
]

#: Longest line: a 64 KiB CSR as a JSON string, with room for the other fields.
MAX_LINE_BYTES = 96 * 1024
_FIELD_NAME = re.compile(r"[a-z_]{1,20}")


class BulkRequest(BaseModel):
    """One line of a bulk-issuance file."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    profile: str = Field(min_length=1, max_length=32)
    subject: str = Field(min_length=1, max_length=200)
    csr: str | None = None
    server_key: bool = False
    algorithm: KeyAlgorithm | None = None
    dns_names: tuple[str, ...] | None = None
    dcc_purposes: tuple[DccPurpose, ...] | None = None

    @model_validator(mode="after")
    def _one_key_source(self) -> Self:
        if (self.csr is not None) == self.server_key:
            raise ValueError('give either "csr" or "server_key": true')
        if self.algorithm is not None and not self.server_key:
            raise ValueError('"algorithm" goes with "server_key": true')
        return self


@dataclass(frozen=True, slots=True)
class BulkIssued:
    line: int
    serial_hex: str
    subject_id: str
    profile: str


@dataclass(frozen=True, slots=True)
class BulkFailure:
    line: int
    code: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason} [{self.code}]"


BulkOutcome = BulkIssued | BulkFailure
#: Called once per non-blank line, after it was issued or refused.
ProgressCallback = Callable[[BulkOutcome], None]


@dataclass(frozen=True, slots=True)
class BulkReport:
    issued: tuple[BulkIssued, ...]
    failed: tuple[BulkFailure, ...]

    @property
    def ok(self) -> bool:
        return not self.failed


def parse_bulk_line(line: str | bytes) -> BulkRequest | None:
    """The request on ``line``, or None for a blank line; raise ``InvalidBulkRequest``."""
    if isinstance(line, bytes):
        if len(line) > MAX_LINE_BYTES:
            raise InvalidBulkRequest(f"the line is longer than {MAX_LINE_BYTES // 1024} KiB")
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidBulkRequest("the line is not UTF-8 text") from None
    if not isinstance(line, str):
        raise InvalidBulkRequest(f"a line must be text, got {type(line).__name__}")
    if len(line) > MAX_LINE_BYTES:
        raise InvalidBulkRequest(f"the line is longer than {MAX_LINE_BYTES // 1024} KiB")
    if not line.strip():
        return None
    try:
        # JSON mode: strict types, but enum values and arrays as JSON spells them.
        return BulkRequest.model_validate_json(line)
    except ValidationError as exc:
        raise InvalidBulkRequest(_problems(exc)) from None


def _problems(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        kind = error["type"]
        if kind == "json_invalid":
            problems.append("not JSON (each line must be one JSON object)")
            continue
        if kind == "model_type":
            problems.append("each line must be one JSON object")
            continue
        loc = [str(part) for part in error["loc"]]
        if kind == "extra_forbidden":
            # The key itself may be data typed in the wrong place; name it only if it looks
            # like a field name.
            name = loc[-1] if loc and _FIELD_NAME.fullmatch(loc[-1]) else "a field"
            problems.append(f"{name}: not a known field")
            continue
        message = str(error["msg"]).removeprefix("Value error, ")
        where = ".".join(loc)
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)
