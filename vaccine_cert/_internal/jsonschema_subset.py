"""A fast yes/no check for the subset of JSON Schema 2020-12 the DCC schema uses.

jsonschema is NatID's validator of record (:mod:`vaccine_cert.schema`), but it interprets the
schema on every call and takes about 300 µs per DCC, five times a P-256 signature check. This
module turns a schema into nested closures once, so the verifier can answer "valid" in a few
microseconds; jsonschema still runs whenever the answer is "invalid" (to say why) and is the
oracle the property tests compare against.

It understands exactly these keywords, with the meaning JSON Schema 2020-12 gives them
(Validation §6, Core §10): ``type``, ``properties``, ``required``, ``items``, ``minItems``,
``maxItems``, ``maxLength``, ``pattern``, ``minimum``, ``oneOf``, ``anyOf`` and ``$ref`` to a
JSON pointer inside the same document. ``format`` is an annotation in 2020-12 unless a
validator opts in (Validation §7.2), and jsonschema does not opt in by default, so it is
ignored here too; so are unknown keywords (the DCC schema's ``valueset-uri``) and annotations.
Any other 2020-12 keyword raises :class:`UnsupportedSchema`: the caller then uses jsonschema
alone, so a future schema can make NatID slower but never wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Check", "UnsupportedSchema", "compile_schema"]

Check = Callable[[Any], bool]


class UnsupportedSchema(Exception):
    """The schema uses a keyword this module does not implement."""


_ANNOTATIONS = frozenset(
    {
        "$schema", "$id", "$comment", "$defs", "definitions", "$anchor", "title",
        "description", "examples", "default", "deprecated", "readOnly", "writeOnly", "format",
        "contentEncoding", "contentMediaType", "contentSchema",
    }
)  # fmt: skip
_SUPPORTED = frozenset(
    {
        "type", "properties", "required", "items", "minItems", "maxItems", "maxLength",
        "pattern", "minimum", "oneOf", "anyOf", "$ref",
    }
)  # fmt: skip
# Every other keyword of the 2020-12 vocabularies asserts something this module cannot check.
_UNSUPPORTED = frozenset(
    {
        "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor", "$vocabulary",
        "allOf", "not", "if", "then", "else", "dependentSchemas", "prefixItems", "contains",
        "additionalProperties", "patternProperties", "propertyNames", "unevaluatedItems",
        "unevaluatedProperties", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum",
        "exclusiveMinimum", "minLength", "uniqueItems", "maxContains", "minContains",
        "maxProperties", "minProperties", "dependentRequired", "dependencies", "additionalItems",
    }
)  # fmt: skip


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    # Validation §6.1.1: an integer is a number with a zero fractional part, so 1.0 counts.
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "number": _is_number,
    "integer": _is_integer,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def compile_schema(root: Mapping[str, Any]) -> Check:
    """Compile ``root`` to a function that says whether an instance is valid."""
    cache: dict[str, Check] = {}
    in_progress: set[str] = set()

    def resolve(ref: str) -> Check:
        if ref != "#" and not ref.startswith("#/"):
            raise UnsupportedSchema(f"$ref {ref!r} is not a JSON pointer into this document")
        if ref in cache:
            return cache[ref]
        if ref in in_progress:
            raise UnsupportedSchema(f"$ref {ref!r} is recursive")
        in_progress.add(ref)
        node: Any = root
        for part in filter(None, ref[1:].split("/")):
            key = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or key not in node:
                raise UnsupportedSchema(f"$ref {ref!r} does not resolve")
            node = node[key]
        cache[ref] = compile_node(node)
        in_progress.discard(ref)
        return cache[ref]

    def compile_node(node: Any) -> Check:
        if node is True:
            return lambda _v: True
        if node is False:
            return lambda _v: False
        if not isinstance(node, Mapping):
            raise UnsupportedSchema("a schema must be an object or a boolean")
        unsupported = set(_UNSUPPORTED.intersection(node))
        if node is not root and "$id" in node:
            unsupported.add("$id (in a subschema: changes the base of $ref)")
        if unsupported:
            raise UnsupportedSchema(f"keywords {sorted(unsupported)} are not supported")
        checks = [
            _keyword(name, node[name], compile_node, resolve) for name in _SUPPORTED & node.keys()
        ]
        return _all_of(checks)

    return compile_node(root)


Compile = Callable[[Any], Check]
Resolve = Callable[[str], Check]


def _keyword(name: str, value: Any, compile_node: Compile, resolve: Resolve) -> Check:
    """The check for one keyword (Validation §6, Core §10.2)."""
    return _BUILDERS[name](value, compile_node, resolve)


def _type(value: Any, _compile: Compile, _resolve: Resolve) -> Check:
    names = [value] if isinstance(value, str) else list(value)
    if not names or any(n not in _TYPES for n in names):
        raise UnsupportedSchema(f"type {value!r}")
    tests = [_TYPES[n] for n in names]
    return tests[0] if len(tests) == 1 else _any_of(tests)


def _required(value: Any, _compile: Compile, _resolve: Resolve) -> Check:
    keys = frozenset(value)
    return lambda v: not isinstance(v, dict) or keys.issubset(v.keys())


def _pattern(value: Any, _compile: Compile, _resolve: Resolve) -> Check:
    # Validation §6.3.3: the pattern may match anywhere (search), as jsonschema does.
    search = re.compile(value).search
    return lambda v: not isinstance(v, str) or search(v) is not None


def _items(value: Any, compile_node: Compile, _resolve: Resolve) -> Check:
    if not isinstance(value, Mapping | bool):
        raise UnsupportedSchema("array-form items is not 2020-12")
    item_check = compile_node(value)

    def check_items(v: Any) -> bool:
        if not isinstance(v, list):
            return True
        for item in v:  # noqa: SIM110 - see the note on the combinators
            if not item_check(item):
                return False
        return True

    return check_items


def _properties(value: Any, compile_node: Compile, _resolve: Resolve) -> Check:
    props = {key: compile_node(sub) for key, sub in value.items()}

    def check_properties(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        for key, item in v.items():
            check = props.get(key)
            if check is not None and not check(item):
                return False
        return True

    return check_properties


# The combinators are plain loops rather than all()/any() over generators: they run about
# forty times per DCC, and a generator costs more than the test it wraps.


def _all_of(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]

    def check_all(v: Any) -> bool:
        for check in checks:  # noqa: SIM110 - faster than all() over a generator
            if not check(v):
                return False
        return True

    return check_all


def _any_of(checks: list[Check]) -> Check:
    def check_any(v: Any) -> bool:
        for check in checks:  # noqa: SIM110 - faster than any() over a generator
            if check(v):
                return True
        return False

    return check_any


def _one_of(checks: list[Check]) -> Check:
    def check_one(v: Any) -> bool:
        matches = 0
        for check in checks:
            if check(v):
                matches += 1
        return matches == 1

    return check_one


_BUILDERS: dict[str, Callable[[Any, Compile, Resolve], Check]] = {
    "type": _type,
    "properties": _properties,
    "required": _required,
    "items": _items,
    "minItems": lambda n, _c, _r: lambda v: not isinstance(v, list) or len(v) >= n,
    "maxItems": lambda n, _c, _r: lambda v: not isinstance(v, list) or len(v) <= n,
    "maxLength": lambda n, _c, _r: lambda v: not isinstance(v, str) or len(v) <= n,
    "pattern": _pattern,
    "minimum": lambda n, _c, _r: lambda v: not _is_number(v) or v >= n,
    "oneOf": lambda subs, compile_node, _r: _one_of([compile_node(sub) for sub in subs]),
    "anyOf": lambda subs, compile_node, _r: _any_of([compile_node(sub) for sub in subs]),
    "$ref": lambda ref, _c, resolve: resolve(ref),
}
assert _BUILDERS.keys() == _SUPPORTED
