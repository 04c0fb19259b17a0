"""The DCC JSON schema check: the shipped schema, its fast path, and what it reports."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaccine_cert import DccSchema, SchemaUnavailable
from vaccine_cert.schema import BUNDLED_SCHEMA
from vaccine_cert.schema_compiler import UnsupportedSchema, compile_schema

from .conftest import DCC_DIR, lab_test_dcc, require_test_vectors, vaccination_dcc

SHIPPED = Path(__file__).parents[2] / "vaccine_cert" / "data" / BUNDLED_SCHEMA
FAST = compile_schema(json.loads(SHIPPED.read_text()))
ORACLE = jsonschema.Draft202012Validator(json.loads(SHIPPED.read_text()))


def test_shipped_schema_is_the_published_1_3_3_with_its_licence(schema: DccSchema) -> None:
    assert schema.version == "1.3.3"
    assert schema.accelerated
    assert (
        (SHIPPED.parent / "LICENSE")
        .read_text()
        .startswith("                                 Apache License")
    )
    assert (SHIPPED.parent / "NOTICE").is_file()


def test_shipped_schema_is_byte_identical_to_the_test_data_copy() -> None:
    require_test_vectors()
    assert SHIPPED.read_bytes() == (DCC_DIR / BUNDLED_SCHEMA).read_bytes()


@pytest.mark.parametrize("dcc", [vaccination_dcc(), lab_test_dcc()])
def test_conforming_dcc_has_no_errors(schema: DccSchema, dcc: dict[str, Any]) -> None:
    assert schema.errors(dcc) == ()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.pop("dob"), "$: fails oneOf"),  # DGC1
        (lambda d: d.update(t=lab_test_dcc()["t"]), "$: fails oneOf"),  # DGC2: two kinds
        (lambda d: d["v"][0].update(dn=0), "$.v[0].dn: fails minimum 1"),
        (lambda d: d["nam"].update(fnt="sok"), "$.nam.fnt: fails pattern"),
        (lambda d: d.update(ver=130), "$.ver: fails type 'string'"),
    ],
)
def test_errors_name_the_path_and_rule_but_not_the_value(
    schema: DccSchema, change: Any, expected: str
) -> None:
    dcc = vaccination_dcc()
    change(dcc)
    errors = schema.errors(dcc)
    assert any(error.startswith(expected) for error in errors), errors
    assert not any("sok" in error or "Sok" in error for error in errors)


def test_missing_or_broken_schema_file_is_an_infrastructure_error(tmp_path: Path) -> None:
    with pytest.raises(SchemaUnavailable, match="cannot read"):
        DccSchema.load(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SchemaUnavailable, match="cannot read"):
        DccSchema.load(tmp_path / "bad.json")
    (tmp_path / "invalid.json").write_text('{"type": 5}')
    with pytest.raises(SchemaUnavailable, match="not a valid JSON Schema"):
        DccSchema.load(tmp_path / "invalid.json")


def test_schema_with_keywords_beyond_the_fast_subset_still_validates() -> None:
    document = json.loads(SHIPPED.read_text())
    document["properties"]["ver"]["enum"] = ["1.3.0"]
    slower = DccSchema(document)
    assert not slower.accelerated
    assert slower.errors(vaccination_dcc()) == ()
    assert slower.errors(vaccination_dcc(ver="1.0.0")) == ("$.ver: fails enum",)


@pytest.mark.parametrize(
    "document",
    [
        {"$ref": "https://example.org/other.json"},
        {"$ref": "#anchor"},
        {"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
        {"properties": {"x": {"$id": "https://example.org/x", "type": "string"}}},
        {"items": [{"type": "string"}]},
        {"not": {}},
    ],
)
def test_fast_subset_refuses_what_it_cannot_check(document: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedSchema):
        compile_schema(document)


# Values a mutation may put anywhere in a DCC: every JSON type and the edge cases of the
# schema's patterns, lengths and minimum.
EDGE_STRINGS = [
    "",
    "1990",
    "1990-04",
    "1990-04-14",
    "2199-01-01",
    "SOK<DARA",
    "sok",
    "x" * 81,
    "1.3.0",
    "EU/1/20/1528",
]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-2, 3)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(EDGE_STRINGS),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["fn", "fnt", "gnt", "dn", "ci", "x"]), children, max_size=3
        )
    ),
    max_leaves=8,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


KEYS = ["ver", "nam", "dob", "v", "t", "r", "fn", "fnt", "gnt", "dn", "sd", "ci", "tg", "x"]
# Whole groups, so a mutation can make a DCC hold two kinds (oneOf) or two entries (maxItems).
GROUPS = [vaccination_dcc()["v"], lab_test_dcc()["t"], vaccination_dcc()["v"] * 2]
VALUES = st.integers(-2, 3) | st.sampled_from(EDGE_STRINGS) | st.sampled_from(GROUPS) | json_values


@settings(max_examples=500, deadline=None)
@given(
    base=st.sampled_from([vaccination_dcc(), lab_test_dcc()]),
    edits=st.lists(
        st.tuples(
            st.integers(0, 1000),
            st.sampled_from(["replace", "delete", "insert"]),
            st.sampled_from(KEYS),
            VALUES,
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_fast_path_agrees_with_jsonschema_on_mutated_dccs(
    base: dict[str, Any], edits: list[tuple[int, str, str, Any]]
) -> None:
    dcc: Any = copy.deepcopy(base)
    for where, operation, key, value in edits:
        found = paths(dcc)
        path = found[where % len(found)]
        if operation == "insert":
            target = dcc
            for step in path:
                target = target[step]
            if isinstance(target, dict):
                target[key] = copy.deepcopy(value)
            continue
        if not path:
            continue
        parent = dcc
        for step in path[:-1]:
            parent = parent[step]
        if operation == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(value)
    assert FAST(dcc) == ORACLE.is_valid(dcc)


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def change(dcc: dict[str, Any]) -> None:
        target: Any = dcc
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change


def _drop(path: tuple[Any, ...]) -> Any:
    def change(dcc: dict[str, Any]) -> None:
        target: Any = dcc
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return change


# One mutation per keyword the fast path implements, each making the DCC invalid.
KEYWORD_VIOLATIONS = {
    "oneOf (two kinds)": _set(("t",), lab_test_dcc()["t"]),
    "oneOf (no kind)": _drop(("v",)),
    "required": _drop(("v", 0, "ci")),
    "anyOf (no transliterated name)": _set(("nam",), {"fn": "Sok", "gn": "Dara"}),
    "maxItems": _set(("v",), vaccination_dcc()["v"] * 2),
    "minItems": _set(("v",), []),
    "maxLength": _set(("v", 0, "is"), "x" * 81),
    "pattern": _set(("dob",), "14.04.1990"),
    "minimum": _set(("v", 0, "dn"), 0),
    "type integer": _set(("v", 0, "dn"), 1.5),
    "type integer, not boolean": _set(("v", 0, "sd"), True),
    "type string": _set(("ver",), 1),
    "type object": _set(("nam",), ["Sok"]),
    "type array": _set(("v",), vaccination_dcc()["v"][0]),
    "items ($ref)": _set(("v", 0), "entry"),
}


@pytest.mark.parametrize("violation", KEYWORD_VIOLATIONS)
def test_fast_path_and_jsonschema_both_refuse_each_keyword_violation(
    schema: DccSchema, violation: str
) -> None:
    dcc = vaccination_dcc()
    assert FAST(dcc) and ORACLE.is_valid(dcc)
    KEYWORD_VIOLATIONS[violation](dcc)
    assert not ORACLE.is_valid(dcc)
    assert not FAST(dcc)
    assert schema.errors(dcc)
