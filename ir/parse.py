"""Text form -> graph: the inverse of `snncc.ir.text.to_text`, so `to_text(parse(t)) == t` byte for byte.

The grammar is the printer's, read line by line:

    snnir MAJOR.MINOR                                     format line
    KEY "json string"                                     header lines, up to a blank line
    %name = op %a, %b {k=v, ...} : f32[8,4,4]             one line per node, in topological order
    return %a, %b
                                                          blank line
    @name = f32[2] [0.5,1.0]                              a tensor in full
    @name = f32[8,3] sha256:0123456789abcdef min=.. max=..  a tensor too large to print (hashed form)

Attribute values: `@ref` (ConstRef), `none`, `true`/`false`, integers, floats (`1.5`, `1e-05`, `inf`, `nan`), JSON
strings, and `[...]` tuples of those. The node class is looked up in the op registry and built from its fields, as
the binary reader does.

A tensor printed in hashed form cannot be rebuilt: its constant is a `TensorSummary` (shape, dtype, digest, range),
which prints back to the same line and which `snncc.ir.diff` compares by digest. Such a graph is good for printing and
diffing, not for running; `to_text(graph, full=True)` writes text that parses back to the exact arrays.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
from types import MappingProxyType

import numpy as np

from snncc.ir.graph import Graph, topological_order
from snncc.ir.node import OP_REGISTRY, ConstRef, Node
from snncc.ir.serialize import FormatError, check_attribute_types, load
from snncc.limits import WORKING_BATCH, check_bytes, element_count
from snncc.ir.text import FORMAT_VERSION, TensorSummary
from snncc.ir.types import DTYPES, TensorType

_NAME = r"[^\s,{}\[\]()=%@\"]+"
_NODE = re.compile(rf"^%(?P<name>{_NAME}) = (?P<op>[A-Za-z0-9_.\-]+)(?P<rest>.*)$")
_TYPE = re.compile(r"^(?P<dtype>[a-z0-9]+)\[(?P<shape>[0-9,]*)\]$")
_CONST = re.compile(rf"^@(?P<name>{_NAME}) = (?P<dtype>[a-z0-9]+)\[(?P<shape>[0-9,]*)\] (?P<body>.*)$")
_SUMMARY = re.compile(r"^sha256:(?P<digest>[0-9a-f]+) min=(?P<min>\S+) max=(?P<max>\S+)$")
_INT = re.compile(r"^[+-]?[0-9]+$")
_TOKEN = re.compile(r"[^,\]}\s]+")
_NAME_RE = re.compile(_NAME)
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_FLOAT_WORDS = {"inf": float("inf"), "-inf": float("-inf"), "nan": float("nan")}
# Limits on what a line may ask for: integers and dimensions fit int64 (as in the binary format), `[` nests at most
# MAX_NESTING deep (attributes are flat tuples; deeper nesting only exhausts the stack).
INT64_MAX = (1 << 63) - 1
MAX_NESTING = 8


class ParseError(FormatError):
    """The text is not snncc's text IR; the message names the line and what was expected."""


def _fail(lineno: int, message: str) -> ParseError:
    return ParseError(f"line {lineno}: {message}")


class _Cursor:
    """A character cursor over one line's attribute text."""

    def __init__(self, text: str, lineno: int) -> None:
        self.text, self.pos, self.lineno = text, 0, lineno

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, literal: str) -> None:
        if not self.text.startswith(literal, self.pos):
            raise _fail(self.lineno, f"expected {literal!r} at column {self.pos + 1}: {self.text[self.pos:self.pos + 20]!r}")
        self.pos += len(literal)

    def value(self, depth: int = 0):
        """One attribute value."""
        c = self.peek()
        if c == "[":
            if depth >= MAX_NESTING:
                raise _fail(self.lineno, f"'[' nested more than {MAX_NESTING} deep at column {self.pos + 1}")
            self.pos += 1
            items = []
            while self.peek() != "]":
                if not self.peek():
                    raise _fail(self.lineno, "a '[' is never closed")
                if items:
                    self.expect(",")
                items.append(self.value(depth + 1))
            self.pos += 1
            return tuple(items)
        if c == '"':
            decoder = json.JSONDecoder()
            try:
                value, end = decoder.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                raise _fail(self.lineno, f"bad string at column {self.pos + 1}: {exc.msg}") from None
            self.pos = end
            return value
        m = _TOKEN.match(self.text, self.pos)
        if not m:
            raise _fail(self.lineno, f"expected a value at column {self.pos + 1}")
        self.pos = m.end()
        return _scalar(m.group(), self.lineno)


def _scalar(token: str, lineno: int):
    if token.startswith("@") and len(token) > 1:
        return ConstRef(token[1:])
    if token == "none":
        return None
    if token in ("true", "false"):
        return token == "true"
    if _INT.match(token):
        return _int64(token, lineno, "integer")
    if token in _FLOAT_WORDS:
        return _FLOAT_WORDS[token]
    try:
        return float(token)
    except ValueError:
        raise _fail(lineno, f"{token!r} is not a value (expected @const, none, true, false, a number, a string "
                            "or [...])") from None


def _int64(token: str, lineno: int, what: str) -> int:
    digits = token.lstrip("+-")
    value = int(token) if len(digits) <= 19 else None
    if value is None or not -INT64_MAX - 1 <= value <= INT64_MAX:
        shown = token if len(token) <= 30 else f"{token[:20]}... ({len(digits)} digits)"
        raise _fail(lineno, f"{what} {shown} does not fit a 64-bit integer")
    return value


def _shape(text: str, lineno: int = 0) -> tuple[int, ...]:
    return tuple(_int64(d, lineno, "dimension") for d in text.split(",")) if text else ()


def _parse_type(text: str, lineno: int) -> TensorType:
    m = _TYPE.match(text.strip())
    if not m or m["dtype"] not in DTYPES:
        raise _fail(lineno, f"{text.strip()!r} is not a tensor type like f32[8,4,4] (dtypes: {', '.join(DTYPES)})")
    shape = _shape(m["shape"], lineno)
    check_bytes(element_count(shape) * 4 * WORKING_BATCH,
                f"line {lineno}: a value of declared type {text.strip()} ({WORKING_BATCH} samples)")
    return TensorType(shape, m["dtype"])


def parse_node(line: str, lineno: int = 0) -> Node:
    """One node line -> the registered op's dataclass."""
    m = _NODE.match(line)
    if not m:
        raise _fail(lineno, f"expected a node line '%name = op %a, ... : f32[...]', got {line[:60]!r}")
    name, op, rest = m["name"], m["op"], m["rest"]
    cls = OP_REGISTRY.get(op)
    if cls is None:
        raise _fail(lineno, f"node %{name} has op {op!r}, which this snncc does not know; registered ops: "
                            f"{', '.join(sorted(OP_REGISTRY))}")
    head, sep, type_text = rest.rpartition(" : ")
    if not sep:
        raise _fail(lineno, f"node %{name} ({op}) has no ' : type' at the end")
    cur = _Cursor(head, lineno)
    inputs = []
    if cur.peek() == " " and head.startswith(" %"):
        cur.pos += 1
        while cur.peek() == "%":
            m_in = _NAME_RE.match(head, cur.pos + 1)
            if not m_in:
                raise _fail(lineno, f"node %{name}: bad input name at column {cur.pos + 1}")
            inputs.append(m_in.group())
            cur.pos = m_in.end()
            if head.startswith(", %", cur.pos):
                cur.pos += 2
    attrs = {}
    if head.startswith(" {", cur.pos):
        cur.pos += 2
        while cur.peek() != "}":
            if attrs:
                cur.expect(", ")
            m_key = _KEY.match(head, cur.pos)
            if not m_key:
                raise _fail(lineno, f"node %{name}: expected 'key=value' at column {cur.pos + 1}")
            cur.pos = m_key.end()
            attrs[m_key.group()[:-1]] = cur.value()
        cur.pos += 1
    if cur.pos != len(head):
        raise _fail(lineno, f"node %{name}: unexpected text {head[cur.pos:cur.pos + 30]!r}")
    fields = {f.name for f in dataclasses.fields(cls)} - {"name", "inputs", "type"}
    unknown = sorted(set(attrs) - fields)
    if unknown:
        raise _fail(lineno, f"node %{name} ({op}) has unknown attribute(s) {', '.join(unknown)}; "
                            f"{op} has {', '.join(sorted(fields)) or 'none'}")
    try:
        check_attribute_types(cls, name, attrs)
    except FormatError as exc:
        raise _fail(lineno, str(exc)) from None
    node_type = _parse_type(type_text, lineno)
    try:
        return cls(name=name, inputs=tuple(inputs), type=node_type, **attrs)
    except (TypeError, ValueError) as exc:
        raise _fail(lineno, f"node %{name} ({op}) is malformed: {exc}") from None


def _element(token: str, dtype: np.dtype):
    if dtype.kind == "b":
        if token not in ("true", "false"):
            raise ValueError(f"{token!r} is not true/false")
        return token == "true"
    if dtype.kind == "f":
        return float(token)  # correctly rounded to a double, then exactly to float32 (shortest repr round-trips)
    value = int(token) if len(token.strip().lstrip("+-")) <= 20 else None
    info = np.iinfo(dtype)
    if value is None or not info.min <= value <= info.max:
        raise ValueError(f"{token[:30]!r} does not fit {dtype}")
    return value


def parse_constant(line: str, lineno: int = 0) -> tuple[str, np.ndarray | TensorSummary]:
    """One constant line -> (name, array), or (name, TensorSummary) for the hashed form."""
    m = _CONST.match(line)
    if not m or m["dtype"] not in DTYPES:
        raise _fail(lineno, f"expected a constant line '@name = f32[...] [...]' or '... sha256:...', got {line[:60]!r}")
    name, dtype, shape, body = m["name"], DTYPES[m["dtype"]], _shape(m["shape"], lineno), m["body"]
    summary = _SUMMARY.match(body)
    if summary:
        return name, TensorSummary(m["dtype"], shape, summary["digest"], summary["min"], summary["max"])
    if not (body.startswith("[") and body.endswith("]")):
        raise _fail(lineno, f"constant @{name}: expected [v,...] or sha256:... after the type")
    count = element_count(shape)   # exact: numpy's int64 product can overflow
    check_bytes(count * dtype.itemsize, f"line {lineno}: constant @{name} of shape {list(shape)}")
    tokens = body[1:-1].split(",") if len(body) > 2 else []
    if len(tokens) != count:
        raise _fail(lineno, f"constant @{name} is {m['dtype']}[{m['shape']}] ({count} elements) but lists "
                            f"{len(tokens)} values")
    try:
        values = [_element(t, dtype) for t in tokens]
    except ValueError as exc:
        raise _fail(lineno, f"constant @{name}: {exc}") from None
    try:
        array = np.array(values, dtype=dtype).reshape(shape)
    except ValueError as exc:
        raise _fail(lineno, f"constant @{name}: {exc}") from None
    array.flags.writeable = False
    return name, array


def parse(text: str) -> Graph:
    """Text form -> Graph. Constants printed in hashed form come back as `TensorSummary` objects."""
    lines = text.split("\n")
    if not lines or not re.match(r"^snnir [0-9]+\.[0-9]+$", lines[0]):
        raise _fail(1, "not snncc text IR (the first line must be 'snnir MAJOR.MINOR')")
    major = int(lines[0].split()[1].split(".")[0])
    if major != FORMAT_VERSION[0]:
        raise _fail(1, f"text IR version {lines[0].split()[1]} is not readable by this snncc "
                       f"({FORMAT_VERSION[0]}.x)")
    i, meta = 1, {}
    while i < len(lines) and lines[i] != "":
        key, sep, value = lines[i].partition(" ")
        try:
            decoded = json.loads(value) if sep else None
        except json.JSONDecodeError:
            decoded = None
        if not isinstance(decoded, str) or not key:
            raise _fail(i + 1, f"expected a header line 'key \"value\"', got {lines[i][:60]!r}")
        meta[key] = decoded
        i += 1
    i += 1
    nodes: list[Node] = []
    outputs: tuple[str, ...] | None = None
    while i < len(lines):
        line = lines[i]
        i += 1
        if line == "":
            raise _fail(i, "no 'return' line: the node list must end with 'return %a, ...'")
        if line.startswith("return"):
            names = line[len("return"):].strip()
            outputs = tuple(o.strip()[1:] for o in names.split(",")) if names else ()
            if any(not o for o in outputs):
                raise _fail(i, "expected 'return %a, %b'")
            break
        nodes.append(parse_node(line, i))
    if outputs is None:
        raise _fail(i, "no 'return' line")
    if i < len(lines) and lines[i] == "":
        i += 1
    constants: dict[str, np.ndarray | TensorSummary] = {}
    for lineno in range(i, len(lines)):
        if lines[lineno] == "" and lineno == len(lines) - 1:
            break
        name, value = parse_constant(lines[lineno], lineno + 1)
        if name in constants:
            raise _fail(lineno + 1, f"constant @{name} is defined twice")
        constants[name] = value
    return _graph(nodes, outputs, constants, meta)


def _graph(nodes, outputs, constants, meta) -> Graph:
    try:
        ordered = topological_order(nodes)
    except ValueError as exc:
        raise ParseError(str(exc)) from None
    produced = {n.name for n in ordered}
    missing_outputs = [o for o in outputs if o not in produced]
    if missing_outputs:
        raise ParseError(f"return names %{missing_outputs[0]}, which no node produces")
    used = sorted({ref for n in ordered for ref in n.const_refs()})
    missing = [r for r in used if r not in constants]
    if missing:
        raise ParseError(f"constants referenced but not defined: {', '.join('@' + m for m in missing)}")
    kept = {name: constants[name] for name in used}
    return Graph(tuple(ordered), tuple(outputs), MappingProxyType(kept), MappingProxyType(dict(meta)))


def is_text(data: bytes) -> bool:
    """Whether a file's bytes are the text form (they start with the format line)."""
    return data.startswith(b"snnir ")


def load_any(path: str | os.PathLike, *, lazy: bool = False) -> Graph:
    """Read a compiled graph from a binary .snnir file or its text form (told apart by the first bytes); binary
    files go through `serialize.load` (its checks and memory cap; `lazy`: constants read when used)."""
    if not stat.S_ISREG(os.stat(path).st_mode):   # a FIFO would block the read below, a device never end
        raise FormatError(f"{path}: not a regular file")
    with open(path, "rb") as f:
        head = f.read(6)
    if not is_text(head):
        return load(path, lazy=lazy)
    check_bytes(os.path.getsize(path), f"{path}: reading the text IR")
    with open(path, "rb") as f:
        data = f.read()
    try:
        graph = parse(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ParseError(f"not UTF-8 text: {exc}") from None
    if not has_summaries(graph):   # a full graph gets the binary reader's structural checks (shapes, NaN, refs)
        from snncc.ir.verify import VerifyError, verify

        try:
            verify(graph)
        except (VerifyError, ArithmeticError) as exc:
            raise ParseError(f"the graph is malformed: {exc}") from None
    return graph


def has_summaries(graph: Graph) -> list[str]:
    """Names of the constants that were read in hashed form (no element values)."""
    return sorted(name for name, value in graph.constants.items() if isinstance(value, TensorSummary))
