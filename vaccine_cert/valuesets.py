"""The DCC value sets: which codes a record's coded fields may hold (eHealth Network, "Value
Sets for Digital Covid Certificates", v1.x; files from ``eu-dcc-valuesets`` 2.12.0 in
``vaccine_cert/data/valuesets/``, see the README there).

The DCC JSON schema only says a code is a string; the value sets say which strings mean
something to a verifier abroad. NatID checks them before signing, so it never signs a code no
verifier can display. A value set's ``active: false`` entries stay accepted: they are codes that
were valid once (a vaccine no longer distributed), and a vaccination given with it still
happened.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType

from vaccine_cert.errors import SchemaUnavailable

__all__ = ["FIELD_VALUE_SETS", "ValueSets"]

#: (group, field) -> the value-set file that lists its codes.
FIELD_VALUE_SETS: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        ("v", "tg"): "disease-agent-targeted.json",
        ("v", "vp"): "vaccine-prophylaxis.json",
        ("v", "mp"): "vaccine-medicinal-product.json",
        ("v", "ma"): "vaccine-mah-manf.json",
        ("t", "tg"): "disease-agent-targeted.json",
        ("t", "tt"): "test-type.json",
        ("t", "tr"): "test-result.json",
        ("t", "ma"): "test-manf-example.json",
        ("r", "tg"): "disease-agent-targeted.json",
    }
)


class ValueSets:
    """The bundled value sets, loaded once per process."""

    __slots__ = ("_codes",)

    def __init__(self, codes: Mapping[str, frozenset[str]]) -> None:
        self._codes = dict(codes)

    @staticmethod
    @functools.cache
    def bundled() -> ValueSets:
        codes: dict[str, frozenset[str]] = {}
        folder = resources.files("vaccine_cert") / "data" / "valuesets"
        for name in set(FIELD_VALUE_SETS.values()):
            try:
                document = json.loads((folder / name).read_text(encoding="utf-8"))
                codes[name] = frozenset(document["valueSetValues"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise SchemaUnavailable(f"cannot read the DCC value set {name}: {exc}") from exc
        return ValueSets(codes)

    def problem(self, group: str, field: str, value: object) -> str | None:
        """Why ``value`` is not a code of the field's value set, or None if it is (or the
        field has no value set)."""
        name = FIELD_VALUE_SETS.get((group, field))
        if name is None:
            return None
        if not isinstance(value, str) or value not in self._codes[name]:
            return (
                f"{group}[0].{field}: not a code of the DCC value set {name.removesuffix('.json')}"
            )
        return None
