"""The shape of a mapping file (docs/mapping.md), checked before `snncc map --check` recomputes anything: a file
with a list where an object goes, a string where a count goes or a missing field is malformed (exit 2), not a list
of violations (exit 1).

A schema is a small value: a type name ("int": a count >= 0, "num", "str", "bool", "object"), a dict of required
fields, `List(item)`, `Pair()` (two counts), `Either(a, b)`, or `Optional(s)` (None allowed). Extra fields are
allowed (a newer minor version may add some).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_COUNT = 1 << 53   # exact in a double: larger counts are not real


@dataclass(frozen=True)
class List:
    item: Any


@dataclass(frozen=True)
class Either:
    first: Any
    second: Any


@dataclass(frozen=True)
class Optional:
    inner: Any


PAIR = List("int")
SLICE = {"layer": "str", "channels": PAIR, "rows": PAIR, "cols": PAIR, "neurons": "int"}
CORE = {"id": "int", "chip": "int", "slices": List(SLICE), "neurons": "int", "splitter_neurons": "int",
        "synapses": "int", "input_axons": "int", "output_axons": "int", "memory_bits": "int"}
ROUTE = {"source": Either("int", "str"), "destination": "int", "axons": "int", "spikes_per_sample": "num"}
LAYER = {"name": "str", "op": "str", "kind": "str", "sources": List({"layer": "str", "kind": "str"})}
SUMMARY = {"cores": "int", "chips": "int", "neurons": "int", "synapses": "int", "memory_bits": "int"}
MAPPING = {"format": "str", "version": "int", "profile": "object", "profile_sha256": "str",
           "source_ir_sha256": "str", "quantization": Optional("object"), "layers": List(LAYER),
           "summary": SUMMARY, "cores": List(CORE), "routes": List(ROUTE)}


def problem(value: Any, schema: Any, where: str = "the file") -> str | None:
    """The first place where `value` does not fit `schema` (path and reason), or None."""
    if isinstance(schema, Optional):
        return None if value is None else problem(value, schema.inner, where)
    if isinstance(schema, Either):
        first = problem(value, schema.first, where)
        return None if first is None else problem(value, schema.second, where)
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return f"{where} must be an object, not {_kind(value)}"
        for key, sub in schema.items():
            if key not in value:
                if isinstance(sub, Optional):
                    continue
                return f"{where} has no field {key!r}"
            found = problem(value[key], sub, f"{where}.{key}" if where != "the file" else key)
            if found:
                return found
        return None
    if isinstance(schema, List):
        if not isinstance(value, list):
            return f"{where} must be a list, not {_kind(value)}"
        if schema is PAIR and len(value) != 2:
            return f"{where} must be a pair [start, stop], not {len(value)} values"
        for i, item in enumerate(value):
            found = problem(item, schema.item, f"{where}[{i}]")
            if found:
                return found
        return None
    ok = {"int": lambda v: type(v) is int and 0 <= v <= MAX_COUNT,
          "num": lambda v: type(v) in (int, float) and math.isfinite(v),
          "str": lambda v: isinstance(v, str), "bool": lambda v: isinstance(v, bool),
          "object": lambda v: isinstance(v, dict)}[schema]
    if ok(value):
        return None
    wanted = {"int": f"a count (an integer in [0, {MAX_COUNT}])", "num": "a finite number", "str": "a string",
              "bool": "true or false", "object": "an object"}[schema]
    return f"{where} must be {wanted}, not {_kind(value)} {_short(value)}"


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
