"""The deterministic text form of a graph: a header, one line per node, then the constant table.

    snnir 1.0
    coding "rate"
    %conv1 = conv %input {weight=@conv1.weight, bias=@conv1.bias, strides=[1,1], ...} : f32[8,8,8]
    return %logits
    @conv1.weight = f32[8,1,3,3] sha256:0123456789abcdef min=-0.51 max=0.49
    @conv1.theta = f32[] [1.25]

Tensors of at most INLINE_LIMIT elements are printed in full; larger ones by shape, a content hash and their range.
Floats print in shortest round-trip form, so the same graph always gives the same bytes. `to_text(graph, full=True)`
prints every tensor in full, so the text parses back (`snncc.ir.parse`) to the same graph bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import re
import math
from dataclasses import dataclass

import numpy as np

from snncc.ir.graph import Graph
from snncc.ir.node import ConstRef, Node
from snncc.ir.types import dtype_name

FORMAT_VERSION = (1, 0)
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
INLINE_LIMIT = 16


def format_float(value: float) -> str:
    """Shortest text that parses back to the same double (`inf`, `-inf`, `nan` spelled out)."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(float(value))


def format_value(value) -> str:
    """One attribute value in text form."""
    if isinstance(value, ConstRef):
        return f"@{value}"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    raise TypeError(f"attribute value {value!r} has no text form")


def _format_element(value, dtype: np.dtype) -> str:
    if dtype.kind == "f":
        f = float(value)
        if math.isnan(f) or math.isinf(f):
            return format_float(f)
        return str(dtype.type(value))
    if dtype.kind == "b":
        return "true" if value else "false"
    return str(int(value))


def tensor_digest(array: np.ndarray) -> str:
    """First 16 hex digits of SHA-256 over dtype, shape and little-endian bytes."""
    a = np.asarray(array, order="C")
    h = hashlib.sha256()
    h.update(f"{dtype_name(a.dtype)}{list(a.shape)}".encode())
    h.update(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class TensorSummary:
    """What the text form records of a tensor too large to print."""

    dtype: str
    shape: tuple[int, ...]
    digest: str
    min: str
    max: str

    def __str__(self) -> str:
        return f"{self.dtype}[{','.join(map(str, self.shape))}] sha256:{self.digest} min={self.min} max={self.max}"


def summarize(array: np.ndarray) -> TensorSummary:
    lo, hi = ("nan", "nan") if array.size == 0 else (array.min(), array.max())
    fmt = (lambda v: v) if array.size == 0 else (lambda v: _format_element(v, array.dtype))
    return TensorSummary(dtype_name(array.dtype), tuple(array.shape), tensor_digest(array), fmt(lo), fmt(hi))


def format_constant(name: str, array, full: bool = False) -> str:
    """`@name = f32[2] [0.5,1.0]` (inline) or `@name = f32[8,3] sha256:... min=... max=...`; `full` prints every
    tensor inline."""
    if isinstance(array, TensorSummary):
        return f"@{name} = {array}"
    dtype = dtype_name(array.dtype)
    shape = ",".join(map(str, array.shape))
    if full or array.size <= INLINE_LIMIT:
        flat = ",".join(_format_element(v, array.dtype) for v in array.reshape(-1))
        return f"@{name} = {dtype}[{shape}] [{flat}]"
    return f"@{name} = {summarize(array)}"


def format_node(node: Node) -> str:
    """`%name = op %a, %b {k=v, ...} : f32[...]`."""
    parts = [f"%{node.name} = {node.op}"]
    if node.inputs:
        parts.append(" " + ", ".join(f"%{i}" for i in node.inputs))
    attrs = [f"{k}={format_value(v)}" for k, v in node.attributes()]
    if attrs:
        parts.append(" {" + ", ".join(attrs) + "}")
    parts.append(f" : {node.type}")
    return "".join(parts)


def to_text(graph: Graph, full: bool = False) -> str:
    """The whole graph as text (ends with a newline); `full` prints every tensor element (exact round trip)."""
    lines = [f"snnir {FORMAT_VERSION[0]}.{FORMAT_VERSION[1]}"]
    # a key that is not a plain name (a graph built in memory) is printed JSON-escaped: it cannot forge lines
    lines += [f"{key if _PLAIN_KEY.fullmatch(key) else json.dumps(key)} {json.dumps(value)}"
              for key, value in graph.header()]
    lines.append("")
    lines += [format_node(n) for n in graph.nodes]
    lines.append("return " + ", ".join(f"%{o}" for o in graph.outputs))
    lines.append("")
    lines += [format_constant(name, graph.constants[name], full) for name in sorted(graph.constants)]
    return "\n".join(lines) + "\n"
