"""Semantic diff of two compiled graphs, node by node, for code review and CI logs.

Nodes are matched by name. The diff reports header entries added, removed or changed (the pipeline string among
them), nodes added or removed (their text line), and for a node present on both sides: a changed op, inputs, type
or attribute (old -> new); a tensor attribute is compared by content, summarised as shape, count of changed elements
and max |difference|. Graph outputs are compared last.

With `tolerance` t, two floats a, b count as equal when |a - b| <= t (attributes and tensor elements alike); NaN
equals NaN. A tensor read from the hashed text form has no elements: it is compared by digest (tolerance cannot
apply), and the report says so.

The report is deterministic: sections in a fixed order, nodes in graph order, attributes in field order.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from snncc.ir.graph import Graph
from snncc.ir.node import ConstRef, Node
from snncc.ir.text import TensorSummary, format_node, format_value, tensor_digest
from snncc.ir.types import dtype_name


@dataclass(frozen=True)
class TensorChange:
    """How the tensor behind one attribute changed."""

    attribute: str
    old_name: str
    new_name: str
    old_type: str
    new_type: str
    changed: int | None = None     # elements that differ beyond the tolerance (None: unknown, hashed text form)
    total: int | None = None
    max_abs: float | None = None   # max |new - old| over all elements (None: not numeric or unknown)
    note: str = ""

    def __str__(self) -> str:
        ref = f"@{self.old_name}" if self.old_name == self.new_name else f"@{self.old_name} -> @{self.new_name}"
        if self.old_type != self.new_type:
            return f"{self.attribute} {ref}: {self.old_type} -> {self.new_type}"
        if self.changed is None:
            return f"{self.attribute} {ref}: {self.new_type}, contents differ ({self.note})"
        if self.changed == 0:
            return f"{self.attribute} {ref}: {self.new_type}, same contents"
        text = f"{self.attribute} {ref}: {self.new_type}, {self.changed} of {self.total} elements differ"
        if self.max_abs is not None:
            text += f", max |diff| {self.max_abs:.6g}"
        return text


@dataclass(frozen=True)
class NodeChange:
    """A node present in both graphs whose op, inputs, type, attributes or tensors differ."""

    name: str
    op: str
    fields: tuple[tuple[str, str, str], ...] = ()   # (what, old, new) as text
    tensors: tuple[TensorChange, ...] = ()

    def lines(self) -> list[str]:
        out = [f"  ~ %{self.name} ({self.op})"]
        out += [f"      {what}: {old} -> {new}" for what, old, new in self.fields]
        out += [f"      {t}" for t in self.tensors]
        return out


@dataclass
class GraphDiff:
    """Everything that differs between graphs `a` (old) and `b` (new)."""

    header: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # (key, old, new); None: absent
    removed: list[Node] = field(default_factory=list)
    added: list[Node] = field(default_factory=list)
    changed: list[NodeChange] = field(default_factory=list)
    outputs: tuple[tuple[str, ...], tuple[str, ...]] | None = None
    tolerance: float = 0.0

    @property
    def equal(self) -> bool:
        return not (self.header or self.removed or self.added or self.changed or self.outputs)

    def format(self, old_label: str = "a", new_label: str = "b") -> str:
        """The report as text (ends with a newline)."""
        lines = [f"--- {old_label}", f"+++ {new_label}"]
        if self.equal:
            lines.append("no differences" + (f" (tolerance {self.tolerance:g})" if self.tolerance else ""))
            return "\n".join(lines) + "\n"
        if self.header:
            lines.append("header:")
            for key, old, new in self.header:
                if old is None:
                    lines.append(f"  + {key} {json.dumps(new)}")
                elif new is None:
                    lines.append(f"  - {key} {json.dumps(old)}")
                else:
                    lines.append(f"  ~ {key}: {json.dumps(old)} -> {json.dumps(new)}")
        if self.removed or self.added or self.changed:
            lines.append("nodes:")
            lines += [f"  - {format_node(n)}" for n in self.removed]
            lines += [f"  + {format_node(n)}" for n in self.added]
            for change in self.changed:
                lines += change.lines()
        if self.outputs:
            old, new = self.outputs
            lines.append(f"outputs: {_names(old)} -> {_names(new)}")
        lines.append("summary: " + self.summary())
        return "\n".join(lines) + "\n"

    def summary(self) -> str:
        parts = [f"{len(self.removed)} removed", f"{len(self.added)} added", f"{len(self.changed)} changed nodes"]
        if self.header:
            parts.append(f"{len(self.header)} header entries differ")
        if self.outputs:
            parts.append("outputs differ")
        return ", ".join(parts) + (f" (tolerance {self.tolerance:g})" if self.tolerance else "")


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(f"%{n}" for n in names) or "(none)"


def _floats_equal(a: float, b: float, tolerance: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= tolerance


def values_equal(a, b, tolerance: float = 0.0) -> bool:
    """Attribute values equal up to `tolerance` on floats (type changes, e.g. 1 -> 1.0, count as changes)."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(values_equal(x, y, tolerance) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return _floats_equal(a, b, tolerance)
    return type(a) is type(b) and a == b


def _type_text(value) -> str:
    if isinstance(value, TensorSummary):
        return f"{value.dtype}[{','.join(map(str, value.shape))}]"
    return f"{dtype_name(value.dtype)}[{','.join(map(str, value.shape))}]"


def _digest(value) -> str:
    return value.digest if isinstance(value, TensorSummary) else tensor_digest(value)


def compare_tensors(attribute: str, old_name: str, old, new_name: str, new,
                    tolerance: float = 0.0) -> TensorChange | None:
    """None when the tensors are equal (up to tolerance), else a summary of the change."""
    old_type, new_type = _type_text(old), _type_text(new)
    if old_type != new_type:
        return TensorChange(attribute, old_name, new_name, old_type, new_type)
    if isinstance(old, TensorSummary) or isinstance(new, TensorSummary):
        a, b = _digest(old), _digest(new)
        if a == b:
            return None
        return TensorChange(attribute, old_name, new_name, old_type, new_type,
                            note=f"sha256:{a} -> sha256:{b}; element counts need the binary or full text form")
    a, b = np.asarray(old), np.asarray(new)
    total = int(a.size)
    if a.dtype.kind in "fc":
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        both_nan = np.isnan(a64) & np.isnan(b64)
        with np.errstate(invalid="ignore"):
            delta = np.abs(b64 - a64)
            same = (a64 == b64) | both_nan | (delta <= tolerance)
        changed = int(total - np.count_nonzero(same))
        finite = delta[~both_nan & ~np.isnan(delta)]
        max_abs = float(finite.max()) if finite.size else (float("nan") if changed else 0.0)
    elif a.dtype.kind == "b":
        changed, max_abs = int(np.count_nonzero(a != b)), None
    else:
        diff = np.abs(b.astype(np.int64) - a.astype(np.int64))
        changed, max_abs = int(np.count_nonzero(diff)), float(diff.max()) if diff.size else 0.0
    if changed == 0 and old_name == new_name:
        return None
    return TensorChange(attribute, old_name, new_name, old_type, new_type, changed, total, max_abs)


def _node_change(old: Node, new: Node, a: Graph, b: Graph, tolerance: float) -> NodeChange | None:
    fields: list[tuple[str, str, str]] = []
    tensors: list[TensorChange] = []
    if old.op != new.op:
        fields.append(("op", old.op, new.op))
    if old.inputs != new.inputs:
        fields.append(("inputs", _names(old.inputs), _names(new.inputs)))
    if old.type != new.type:
        fields.append(("type", str(old.type), str(new.type)))
    old_attrs, new_attrs = dict(old.attributes()), dict(new.attributes())
    keys = list(old_attrs) + [k for k in new_attrs if k not in old_attrs]
    missing = object()
    for key in keys:
        x, y = old_attrs.get(key, missing), new_attrs.get(key, missing)
        if isinstance(x, ConstRef) and isinstance(y, ConstRef):
            change = compare_tensors(key, x, a.constants[x], y, b.constants[y], tolerance)
            if change is not None:
                tensors.append(change)
        elif x is missing or y is missing or not values_equal(x, y, tolerance):
            fields.append((key, "(absent)" if x is missing else format_value(x),
                           "(absent)" if y is missing else format_value(y)))
    if not fields and not tensors:
        return None
    return NodeChange(new.name, old.op if old.op == new.op else f"{old.op} -> {new.op}", tuple(fields),
                      tuple(tensors))


def diff(a: Graph, b: Graph, *, tolerance: float = 0.0, ignore_header: tuple[str, ...] = ()) -> GraphDiff:
    """Compare graph `a` (old) with `b` (new); header keys in `ignore_header` are not compared."""
    if tolerance < 0 or math.isnan(tolerance):
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    result = GraphDiff(tolerance=tolerance)
    old_meta, new_meta = dict(a.header()), dict(b.header())
    for key in [k for k, _ in a.header()] + [k for k, _ in b.header() if k not in old_meta]:
        if key in ignore_header:
            continue
        old, new = old_meta.get(key), new_meta.get(key)
        if old != new:
            result.header.append((key, old, new))
    old_nodes, new_nodes = a.node_map(), b.node_map()
    result.removed = [n for n in a.nodes if n.name not in new_nodes]
    result.added = [n for n in b.nodes if n.name not in old_nodes]
    for node in b.nodes:
        if node.name in old_nodes:
            change = _node_change(old_nodes[node.name], node, a, b, tolerance)
            if change is not None:
                result.changed.append(change)
    if a.outputs != b.outputs:
        result.outputs = (a.outputs, b.outputs)
    return result
