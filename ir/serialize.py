"""The versioned on-disk format (.snnir): the protobuf schema in `snnir.proto`, written deterministically.

Round trip is exact: nodes, attributes, header and every constant bit for bit.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from pathlib import Path
from typing import Iterator

import numpy as np
from google.protobuf.message import DecodeError

from snncc.errors import FormatError, OutputError
from snncc.ir import snnir_pb2 as pb
from snncc.ir.atomic_write import atomic_write
from snncc.ir.graph import Graph
from snncc.ir.node import ConstRef, Node, OP_REGISTRY
from snncc.ir.types import DTYPES, TensorType, dtype_name
from snncc.ir.verify import verify
from snncc.limits import WORKING_BATCH, check_bytes, element_count, read_capped

FORMAT_MAJOR = 1
FORMAT_MINOR = 0
PRODUCER = "snncc"


# FormatError (a snncc.errors.SnnccError and a ValueError) is re-exported here: `snncc.ir.FormatError`.
__all__ = ["FormatError", "from_bytes", "load", "save", "to_bytes", "to_proto"]

# Bytes of float32 per sample that simulating a value needs, times this many samples at once (see snncc.limits).
_F32 = 4


def _attribute(name: str, value) -> pb.Attribute:
    a = pb.Attribute(name=name)
    if isinstance(value, ConstRef):
        a.const_ref = str(value)
    elif value is None:
        a.none = True
    elif isinstance(value, bool):
        a.bool_value = value
    elif isinstance(value, int):
        a.int_value = value
    elif isinstance(value, float):
        a.float_value = value
    elif isinstance(value, str):
        a.string_value = value
    elif isinstance(value, tuple) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        a.ints.SetInParent()
        a.ints.values.extend(value)
    elif isinstance(value, tuple) and all(isinstance(v, (int, float)) for v in value):
        a.floats.SetInParent()
        a.floats.values.extend(float(v) for v in value)
    else:
        raise TypeError(f"attribute {name}={value!r} cannot be serialized")
    return a


def _attribute_value(a: pb.Attribute):
    kind = a.WhichOneof("value")
    if kind is None:
        raise FormatError(f"attribute {a.name} has no value")
    if kind == "const_ref":
        return ConstRef(a.const_ref)
    if kind == "none":
        return None
    if kind == "ints":
        return tuple(int(v) for v in a.ints.values)
    if kind == "floats":
        return tuple(float(v) for v in a.floats.values)
    return getattr(a, kind)


def to_proto(graph: Graph) -> pb.Graph:
    g = _structure_proto(graph)
    for name in sorted(graph.constants):
        _add_tensor(g, name, graph.constants[name])
    return g


def _structure_proto(graph: Graph) -> pb.Graph:
    """Everything but the constants."""
    g = pb.Graph(format_major=FORMAT_MAJOR, format_minor=FORMAT_MINOR, producer=PRODUCER)
    for key, value in graph.header():
        g.meta.add(key=key, value=value)
    for node in graph.nodes:
        n = g.nodes.add(op=node.op, name=node.name)
        n.inputs.extend(node.inputs)
        n.type.shape.extend(node.type.shape)
        n.type.dtype = node.type.dtype
        n.attributes.extend(_attribute(k, v) for k, v in node.attributes())
    g.outputs.extend(graph.outputs)
    return g


def _add_tensor(g: pb.Graph, name: str, array: np.ndarray) -> None:
    t = g.constants.add(name=name, dtype=dtype_name(array.dtype))
    t.shape.extend(array.shape)
    t.data = np.asarray(array, order="C").astype(array.dtype.newbyteorder("<"), copy=False).tobytes()


def to_chunks(graph: Graph) -> Iterator[bytes]:
    """`to_bytes` in pieces: the structure, then one constant at a time (the file is written without ever holding
    a second copy of the weights). Constants are the message's last field, so the pieces concatenate to exactly
    the bytes of the whole message."""
    yield _structure_proto(graph).SerializeToString(deterministic=True)
    for name in sorted(graph.constants):
        one = pb.Graph()
        _add_tensor(one, name, graph.constants[name])
        yield one.SerializeToString(deterministic=True)


def to_bytes(graph: Graph) -> bytes:
    """Serialize deterministically (same graph, same bytes)."""
    return b"".join(to_chunks(graph))


_HINTS: dict[type, dict | None] = {}


def _field_types(cls: type[Node]) -> dict | None:
    """The op class's resolved field annotations (None when they cannot be resolved: then values are not checked)."""
    if cls not in _HINTS:
        try:
            _HINTS[cls] = typing.get_type_hints(cls)
        except Exception:  # noqa: BLE001 - an annotation that does not resolve only disables the check
            _HINTS[cls] = None
    return _HINTS[cls]


def _matches(value, hint) -> bool:
    """Whether an attribute value read from a file fits the op field's annotation (a float field takes ints)."""
    origin = typing.get_origin(hint)
    if hint is typing.Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is ConstRef:
        return isinstance(value, ConstRef)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return type(value) is str
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(v, args[0]) for v in value)
        return len(args) == len(value) and all(_matches(v, h) for v, h in zip(value, args))
    return True   # an annotation this check does not know: accept


def check_attribute_types(cls: type[Node], name: str, attrs: dict) -> None:
    """FormatError unless every attribute value read from a file (binary or text) fits the op's field type."""
    hints = _field_types(cls)
    for key, value in attrs.items():
        if hints is not None and key in hints and not _matches(value, hints[key]):
            expected = getattr(hints[key], "__name__", str(hints[key]).replace("snncc.ir.node.", ""))
            raise FormatError(f"node %{name} ({cls.op}): attribute {key}={value!r} is not of type {expected}; the "
                              "file is corrupted")


def _node_from_proto(n: pb.Node) -> Node:
    cls = OP_REGISTRY.get(n.op)
    if cls is None:
        raise FormatError(f"node %{n.name} has op {n.op!r}, which this snncc does not know (newer file?)")
    fields = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for a in n.attributes:
        if a.name not in fields or a.name in ("name", "inputs", "type"):
            raise FormatError(f"node %{n.name} ({n.op}) has unknown attribute {a.name!r}")
        kwargs[a.name] = _attribute_value(a)
    check_attribute_types(cls, n.name, kwargs)
    if n.type.dtype not in DTYPES:
        raise FormatError(f"node %{n.name} has unknown dtype {n.type.dtype!r}")
    try:
        return cls(name=n.name, inputs=tuple(n.inputs), type=TensorType(tuple(int(d) for d in n.type.shape),
                                                                        n.type.dtype), **kwargs)
    except (TypeError, ValueError) as exc:
        raise FormatError(f"node %{n.name} ({n.op}) is malformed: {exc}") from None


def tensor_layout(name: str, dtype: str, dims, nbytes: int) -> tuple[np.dtype, tuple[int, ...]]:
    """(little-endian dtype, shape) of a constant whose payload has `nbytes` bytes; FormatError when they disagree."""
    if dtype not in DTYPES:
        raise FormatError(f"constant @{name} has unknown dtype {dtype!r}")
    shape = tuple(int(d) for d in dims)
    if any(d < 0 for d in shape):
        raise FormatError(f"constant @{name} has a negative dimension {list(shape)}")
    count = element_count(shape)   # exact: a numpy int64 product can overflow and match a short payload
    if count * DTYPES[dtype].itemsize != nbytes:
        raise FormatError(f"constant @{name}: {nbytes} bytes do not hold {dtype}{list(shape)}")
    return DTYPES[dtype].newbyteorder("<"), shape


def _tensor_from_proto(t: pb.Tensor) -> np.ndarray:
    dtype, shape = tensor_layout(t.name, t.dtype, t.shape, len(t.data))
    a = np.frombuffer(t.data, dtype=dtype).astype(DTYPES[t.dtype]).reshape(shape)
    a.flags.writeable = False       # ours alone: Graph.build keeps it without another copy
    return a


MAX_TIMESTEPS = 1 << 16
# Header keys are printed bare at the start of a text line: a newline or a space in one would forge other lines.
HEADER_KEY = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def header_timesteps(graph: Graph, default: int = 32) -> int:
    """The header's compiled T, range-checked: a file must not be able to ask for 10^11 time steps (a hang in
    `snncc eval`) or for a non-number (FormatError)."""
    value = graph.meta.get("timesteps", str(default))
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_TIMESTEPS:
        raise FormatError(f"header entry timesteps={value!r} is not an integer in [1, {MAX_TIMESTEPS}]; the file is "
                          "corrupted (snncc eval: pass --timesteps to choose T)")
    return int(value)


def from_bytes(data: bytes) -> Graph:
    """Parse a .snnir payload; FormatError when it is corrupt, truncated or of a newer major version."""
    g = pb.Graph()
    try:
        g.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise FormatError(f"not a readable .snnir file (corrupted or truncated): {exc}") from None
    nodes, meta = checked_structure(g)
    names = [t.name for t in g.constants]
    if len(set(names)) != len(names):
        raise FormatError("two constants share a name; the file is corrupted")
    constants = {t.name: _tensor_from_proto(t) for t in g.constants}
    try:
        graph = Graph.build(nodes, tuple(g.outputs), constants, meta)
        verify(graph)
    except (ValueError, KeyError, TypeError, IndexError, ArithmeticError) as exc:
        raise FormatError(f"the graph in this file is malformed: {exc}") from None
    return graph


def checked_structure(g: pb.Graph) -> tuple[list[Node], dict[str, str]]:
    """The nodes and header of a parsed .snnir message, after the checks that need no constant: format version,
    declared sizes, header keys, known ops and attribute types, at least one node and one output."""
    if g.format_major == 0:
        raise FormatError("not a .snnir file (no format version)")
    if g.format_major > FORMAT_MAJOR:
        raise FormatError(f"this file has format version {g.format_major}.{g.format_minor}, newer than this "
                          f"snncc reads ({FORMAT_MAJOR}.x); upgrade snncc")
    for n in g.nodes:   # declared sizes, before anything is allocated for them
        check_bytes(element_count(n.type.shape) * _F32 * WORKING_BATCH,
                    f"node %{n.name} ({n.op}) of declared shape {list(n.type.shape)} ({WORKING_BATCH} samples)")
    meta = {m.key: m.value for m in g.meta}
    for key in meta:
        if not HEADER_KEY.fullmatch(key):
            raise FormatError(f"header key {key[:40]!r} is not a plain name (letters, digits, '_', '.', '-'); the "
                              "file is corrupted or crafted")
    nodes = [_node_from_proto(n) for n in g.nodes]
    if not nodes or not g.outputs:
        raise FormatError("the file holds no nodes or no outputs; it is corrupted or empty")
    return nodes, meta


def save(graph: Graph, path: str | os.PathLike) -> None:
    """Write `graph` to `path` atomically (all or nothing)."""
    try:
        atomic_write(path, to_chunks(graph))
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the compiled model: {exc.strerror or exc}") from None


def load(path: str | os.PathLike, *, lazy: bool = False) -> Graph:
    """Read a .snnir file; FormatError (with the path) when it is missing, unreadable, corrupt or too large.

    `lazy`: the constants stay in the file and are read when asked for (`ir.lazy_load`): a reader that frees
    what it took from them (the mapper, once it has quantized) never holds the float weights all at once."""
    path = Path(path)
    if lazy:
        from snncc.ir.lazy_load import load_lazy

        return load_lazy(path)
    data = read_capped(path, "reading the compiled model", FormatError)
    try:
        return from_bytes(data)
    except FormatError as exc:
        raise FormatError(f"{path}: {exc}") from None
