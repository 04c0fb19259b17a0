"""A fast yes/no check for the subset of JSON Schema 2020-12 the DCC schema uses, compiled once
per schema into one Python function.

jsonschema is NatID's validator of record (:mod:`vaccine_cert.schema`), but it interprets the
schema on every call and takes hundreds of microseconds per DCC, several times a P-256
signature check. :func:`compile_schema` turns a schema into the source of one function - a
single boolean expression per schema node, ``$ref`` targets inlined - and compiles it, so the
verifier answers "valid" in a few microseconds without a Python call per keyword. jsonschema
still runs whenever the answer is "invalid" (to say why, and with the last word), and is the
oracle the property tests compare against.

It understands exactly these keywords, with the meaning JSON Schema 2020-12 gives them
(Validation §6, Core §10): ``type``, ``properties``, ``required``, ``items``, ``minItems``,
``maxItems``, ``maxLength``, ``pattern``, ``minimum``, ``oneOf``, ``anyOf`` and ``$ref`` to a
JSON pointer inside the same document. Each keyword but ``type`` asserts only on instances of
its own type (Validation §6: ``maxLength`` ignores a number, ``required`` an array), so each
test is guarded by a type check unless the node's own ``type``, tested first, already settled
it. ``format`` is an annotation in 2020-12 unless a validator opts in (Validation §7.2), and
jsonschema does not opt in by default, so it is ignored here too; so are unknown keywords (the
DCC schema's ``valueset-uri``) and annotations. Any other 2020-12 keyword, a recursive
``$ref`` or a schema too deep to compile raises :class:`UnsupportedSchema`: the caller then uses
jsonschema alone, so a future schema can make NatID slower but never wrong.

The generated source holds no text of the schema: property names, numbers and patterns are
bound as constants of the function's namespace, so a schema file cannot inject code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Check", "UnsupportedSchema", "compile_schema"]

Check = Callable[[Any], bool]


class UnsupportedSchema(Exception):
    """The schema uses a keyword this module does not implement."""


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

# Validation §6.1.1, with Python's types as jsonschema maps them: a boolean is not a number, and
# an integer is a number with a zero fractional part, so 1.0 counts. "{}" is the subject.
_TYPE_TESTS = {
    "object": "isinstance({}, dict)",
    "array": "isinstance({}, list)",
    "string": "isinstance({}, str)",
    "number": "(isinstance({0}, (int, float)) and not isinstance({0}, bool))",
    "integer": (
        "((isinstance({0}, int) and not isinstance({0}, bool))"
        " or (isinstance({0}, float) and {0}.is_integer()))"
    ),
    "boolean": "isinstance({}, bool)",
    "null": "({} is None)",
}
# The instance type each keyword asserts on, and the node types that settle it.
_APPLIES_TO = {
    "required": "object",
    "properties": "object",
    "items": "array",
    "minItems": "array",
    "maxItems": "array",
    "maxLength": "string",
    "pattern": "string",
    "minimum": "number",
}
# The order the tests run in: cheap ones first.
_ORDER = (
    "required", "minItems", "maxItems", "maxLength", "minimum", "pattern", "$ref", "anyOf",
    "oneOf", "properties", "items",
)  # fmt: skip
assert frozenset(_ORDER) == _SUPPORTED - {"type"}
_SETTLED_BY = {
    "object": {"object"},
    "array": {"array"},
    "string": {"string"},
    "number": {"number", "integer"},
}


def compile_schema(root: Mapping[str, Any]) -> Check:
    """Compile ``root`` to a function that says whether an instance is valid."""
    compiler = _Compiler(root)
    body = compiler.node(root, "v")
    source = "\n".join([*compiler.helpers, "def check(v):", f"    return {body}", ""])
    namespace: dict[str, Any] = {"__builtins__": {}}
    namespace.update(_BUILTINS)
    namespace.update(compiler.constants)
    try:
        code = compile(source, "<DCC schema check>", "exec")
        exec(code, namespace)  # noqa: S102 - our own generated source; schema text is constants
    except (RecursionError, MemoryError, SyntaxError) as exc:
        raise UnsupportedSchema(f"the schema is too deep to compile ({exc})") from exc
    check: Check = namespace["check"]
    return check


class _Compiler:
    """Builds the source: one boolean expression per node, helpers for ``items`` loops."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.constants: dict[str, Any] = {"_MISSING": _MISSING}
        self.helpers: list[str] = []
        self._in_progress: set[str] = set()
        self._names = 0

    def fresh(self, prefix: str) -> str:
        self._names += 1
        return f"{prefix}{self._names}"

    def constant(self, value: Any) -> str:
        name = self.fresh("_c")
        self.constants[name] = value
        return name

    def node(self, node: Any, subject: str, settled: frozenset[str] = frozenset()) -> str:
        """A boolean expression: whether the instance named ``subject`` is valid.

        ``settled``: the instance types already established for ``subject`` by the enclosing
        expression (a ``type`` tested before this node is reached), whose guards can go.
        """
        if node is True:
            return "True"
        if node is False:
            return "False"
        if not isinstance(node, Mapping):
            raise UnsupportedSchema("a schema must be an object or a boolean")
        unsupported = set(_UNSUPPORTED.intersection(node))
        if node is not self.root and "$id" in node:
            unsupported.add("$id (in a subschema: changes the base of $ref)")
        if unsupported:
            raise UnsupportedSchema(f"keywords {sorted(unsupported)} are not supported")
        terms: list[str] = []
        if "type" in node:
            terms.append(self.type_test(node["type"], subject))
            if isinstance(node["type"], str):
                settled |= {kind for kind, by in _SETTLED_BY.items() if node["type"] in by}
        # Cheap tests first; a fixed order, so one schema always compiles to the same source.
        for keyword in sorted(_SUPPORTED.intersection(node) - {"type"}, key=_ORDER.index):
            term = self.keyword(keyword, node[keyword], subject, settled)
            if term == "True":
                continue
            applies = _APPLIES_TO.get(keyword)
            if applies is not None and applies not in settled:
                term = f"(not {_TYPE_TESTS[applies].format(subject)} or {term})"
            terms.append(term)
        if not terms:
            return "True"
        return terms[0] if len(terms) == 1 else "(" + " and ".join(terms) + ")"

    def type_test(self, value: Any, subject: str) -> str:
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names or any(n not in _TYPE_TESTS for n in names):
            raise UnsupportedSchema(f"type {value!r}")
        tests = [_TYPE_TESTS[n].format(subject) for n in names]
        return tests[0] if len(tests) == 1 else "(" + " or ".join(tests) + ")"

    def keyword(self, name: str, value: Any, subject: str, settled: frozenset[str]) -> str:
        """The test for one keyword, on an instance already of the keyword's type."""
        if name in {"minItems", "maxItems", "maxLength"}:
            limit = _count(name, value)
            operator = ">=" if name == "minItems" else "<="
            return f"(len({subject}) {operator} {self.constant(limit)})"
        if name in {"oneOf", "anyOf"}:
            return self.combination(name, value, subject, settled)
        if name == "$ref":
            return self.ref(value, subject, settled)
        build: Callable[[Any, str], str] = getattr(self, name)
        return build(value, subject)

    def required(self, value: Any, subject: str) -> str:
        if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
            raise UnsupportedSchema("required must be an array of strings")
        if not value:
            return "True"
        return "(" + " and ".join(f"{self.constant(k)} in {subject}" for k in value) + ")"

    def minimum(self, value: Any, subject: str) -> str:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UnsupportedSchema("minimum must be a number")
        return f"({subject} >= {self.constant(value)})"

    def pattern(self, value: Any, subject: str) -> str:
        if not isinstance(value, str):
            raise UnsupportedSchema("pattern must be a string")
        # Validation §6.3.3: the pattern may match anywhere (search), as jsonschema does.
        try:
            search = re.compile(value).search
        except re.error as exc:
            raise UnsupportedSchema(f"pattern is not a Python regular expression ({exc})") from exc
        return f"({self.constant(search)}({subject}) is not None)"

    def combination(self, name: str, value: Any, subject: str, settled: frozenset[str]) -> str:
        if not isinstance(value, list) or not value:
            raise UnsupportedSchema(f"{name} must be a non-empty array")
        subs = [self.node(sub, subject, settled) for sub in value]
        if name == "anyOf":
            return "(" + " or ".join(subs) + ")"
        # Each sub-expression is a bool; their sum counts the subschemas that match.
        return "((" + ") + (".join(subs) + ") == 1)"

    def properties(self, value: Any, subject: str) -> str:
        if not isinstance(value, Mapping):
            raise UnsupportedSchema("properties must be an object")
        terms = []
        for key, sub in value.items():
            item = self.fresh("_p")
            test = self.node(sub, item)
            if test == "True":
                continue
            get = f"{subject}.get({self.constant(key)}, _MISSING)"
            terms.append(f"(({item} := {get}) is _MISSING or {test})")
        if not terms:
            return "True"
        return "(" + " and ".join(terms) + ")"

    def items(self, value: Any, subject: str) -> str:
        if not isinstance(value, Mapping | bool):
            raise UnsupportedSchema("array-form items is not 2020-12")
        item = self.fresh("_i")
        test = self.node(value, item)
        if test == "True":
            return "True"
        helper = self.fresh("_items")
        self.helpers += [
            f"def {helper}(array):",
            f"    for {item} in array:",
            f"        if not {test}:",
            "            return False",
            "    return True",
        ]
        return f"{helper}({subject})"

    def ref(self, ref: Any, subject: str, settled: frozenset[str]) -> str:
        """``$ref`` to a JSON pointer in this document, inlined (Core §8.2.3.1)."""
        if not isinstance(ref, str) or (ref != "#" and not ref.startswith("#/")):
            raise UnsupportedSchema(f"$ref {ref!r} is not a JSON pointer into this document")
        if ref in self._in_progress:
            raise UnsupportedSchema(f"$ref {ref!r} is recursive")
        target: Any = self.root
        for part in filter(None, ref[1:].split("/")):
            key = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or key not in target:
                raise UnsupportedSchema(f"$ref {ref!r} does not resolve")
            target = target[key]
        self._in_progress.add(ref)
        try:
            return self.node(target, subject, settled)
        finally:
            self._in_progress.discard(ref)


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UnsupportedSchema(f"{name} must be a non-negative integer")
    return value


# The only names the generated source uses besides its constants and helpers.
_BUILTINS = {
    "isinstance": isinstance, "len": len, "dict": dict, "list": list, "str": str, "int": int,
    "float": float, "bool": bool,
}  # fmt: skip


class _Missing:
    """Marks an absent property (``None`` is JSON's null, a value like any other)."""

    __slots__ = ()


_MISSING = _Missing()
