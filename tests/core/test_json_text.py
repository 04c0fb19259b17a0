"""core/json_text.py: the login path's JSON text is what json.dumps gives, with json's refusals."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import uuid
from typing import Any

import pytest

from core.json_text import compact_json


class Level(enum.StrEnum):
    LOW = "urn:natid:acr:low"


@dataclasses.dataclass
class Point:
    x: int


def _reference(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(
    "value",
    [
        {"iss": "https://id.example.gov.kh", "exp": 1764000000, "amr": ("pwd", "otp")},
        {"name": "ចាន់ សុភាព", "quote": 'a "b" \\ c', "controls": "\n\t\x01\x7f\u2028", "n": None},
        {"acr": Level.LOW, "big": 10**30, 7: "a key that is not text", "ok": True},
        [1, -2, 0, {"nested": [{"deep": []}]}],
    ],
)
def test_the_text_is_json_dumps_compact_utf8(value: Any) -> None:
    assert compact_json(value) == _reference(value)
    assert json.loads(compact_json(value)) == json.loads(_reference(value))


@pytest.mark.parametrize(
    "value",
    [{"at": dt.datetime(2026, 11, 24, tzinfo=dt.UTC)}, {"p": Point(1)}],
    ids=["datetime", "dataclass"],
)
def test_what_json_refuses_is_still_refused(value: Any) -> None:
    # orjson alone would write these; the login's objects must not carry them unnoticed.
    with pytest.raises(TypeError):
        compact_json(value)


def test_a_uuid_is_written_as_its_text_where_json_refuses_it() -> None:
    # The one leniency (module docstring, decision 1): orjson has no passthrough for it.
    value = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert compact_json({"id": value}) == b'{"id":"12345678-1234-5678-1234-567812345678"}'
