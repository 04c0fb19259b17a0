"""Validation of the DCC payload against the EU DCC JSON schema (eHealth Network, "Digital Covid
Certificate" JSON schema 1.3.x, JSON Schema draft 2020-12).

NatID ships schema 1.3.3 (``vaccine_cert/data/DCC.combined-schema.1.3.3.json``, Apache-2.0;
LICENSE, NOTICE and provenance beside it), and :meth:`DccSchema.bundled` loads that copy;
:meth:`DccSchema.load` takes another file, e.g. a newer release.

One schema for every ``ver``. The 1.3.x schema was written to accept the payloads of earlier
versions, and the public test vectors agree: every 1.0.0, 1.0.1, 1.2.1 and 1.3.0 payload they
expect to pass schema validation passes 1.3.3, and the two they expect to fail (DGC1: no
``dob``; DGC2: a vaccination, a test and a recovery in one certificate) fail it. So there is no
separate "tolerant" mode for old versions: it would accept nothing more that any vector needs.

``format`` is an annotation, not an assertion (JSON Schema 2020-12 Validation §7.2), as in
jsonschema's default; the DCC's dates are checked by the business rules, not here.

Speed: jsonschema is the validator of record. A yes/no check compiled once per schema to one
Python function (:mod:`vaccine_cert.schema_compiler`) answers first; only a payload it calls
invalid goes through jsonschema, which then says why (and has the last word). Error messages
give the path and the keyword that failed, never the value: the value is the holder's data.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError

from vaccine_cert.errors import SchemaUnavailable
from vaccine_cert.schema_compiler import Check, UnsupportedSchema, compile_schema

__all__ = ["BUNDLED_SCHEMA", "DccSchema"]

#: File name of the schema NatID ships, inside the ``vaccine_cert.data`` resources.
BUNDLED_SCHEMA = "DCC.combined-schema.1.3.3.json"

#: At most this many problems are reported for one payload.
MAX_ERRORS = 5


class DccSchema:
    """A loaded DCC JSON schema; immutable after construction and safe to share."""

    __slots__ = ("_fast", "_validator", "version")

    def __init__(self, schema: Mapping[str, Any]) -> None:
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise SchemaUnavailable(
                f"not a valid JSON Schema 2020-12 document: {exc.message}"
            ) from exc
        self._validator = jsonschema.Draft202012Validator(schema)
        self._fast: Check | None
        try:
            self._fast = compile_schema(schema)
        except UnsupportedSchema:
            self._fast = None
        comment = schema.get("$comment", "")
        #: The schema's own version ("1.3.3"), from its ``$comment``, or "" if it has none.
        self.version = (
            comment.removeprefix("Schema version ").strip() if isinstance(comment, str) else ""
        )

    @classmethod
    def load(cls, path: Path) -> DccSchema:
        """Load a schema file (JSON)."""
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise SchemaUnavailable(f"cannot read the DCC schema {path.name}: {exc}") from exc
        if not isinstance(document, dict):
            raise SchemaUnavailable(f"the DCC schema {path.name} is not a JSON object")
        return cls(document)

    @staticmethod
    @functools.cache
    def bundled() -> DccSchema:
        """The schema NatID ships (loaded once per process)."""
        resource = resources.files("vaccine_cert") / "data" / BUNDLED_SCHEMA
        with resources.as_file(resource) as path:
            return DccSchema.load(path)

    @property
    def accelerated(self) -> bool:
        """Whether the compiled fast path is in use (False: jsonschema alone)."""
        return self._fast is not None

    def errors(self, dcc: Any) -> tuple[str, ...]:
        """Why ``dcc`` does not conform, as ``"<path>: <keyword>"`` lines; empty if it does."""
        if self._fast is not None and self._fast(dcc):
            return ()
        found = []
        for error in self._validator.iter_errors(dcc):
            found.append(_describe(error))
            if len(found) == MAX_ERRORS:
                break
        return tuple(found)

    def is_valid(self, dcc: Any) -> bool:
        """Whether ``dcc`` conforms."""
        return not self.errors(dcc)


# Keywords whose schema value says what was expected without quoting the instance.
_SHOW_VALUE = frozenset(
    {"required", "type", "pattern", "maxLength", "minItems", "maxItems", "minimum"}
)


def _describe(error: jsonschema.ValidationError) -> str:
    keyword = str(error.validator)
    if keyword in _SHOW_VALUE:
        return f"{error.json_path}: fails {keyword} {error.validator_value!r}"
    return f"{error.json_path}: fails {keyword}"
