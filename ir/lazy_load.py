"""A .snnir graph whose constants stay in the file until they are asked for (`load(path, lazy=True)`).

The file is read field by field (protobuf wire format: a varint key `field << 3 | wire type`, then a varint, a
fixed 4 or 8 bytes, or a varint length and that many bytes). Everything but the constants' payloads (the `data`
field of each `Tensor`) is copied into a small message and parsed with the schema, so the structure, the header
and every constant's name, dtype and shape get the same checks as `from_bytes`; each payload is only located
(offset, length). `FileConstants[name]` then reads one constant from the still-open file, read-only. While some
holder keeps that array, asking again returns the same array (a weak cache); once every holder drops it, its memory
goes. A reader that keeps only what it derives (the mapper keeps integer weights) never holds the float weights all
at once, and never holds the file's bytes and their parsed copy together as an eager load does.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from types import MappingProxyType
from typing import Iterator, Mapping

import numpy as np
from google.protobuf.message import DecodeError

from snncc.errors import FormatError
from snncc.ir import snnir_pb2 as pb
from snncc.ir.graph import Graph, topological_order
from snncc.ir.serialize import checked_structure, tensor_layout
from snncc.ir.verify import verify
from snncc.limits import check_bytes

_CONSTANTS = 7          # Graph.constants
_DATA = 4               # Tensor.data


class FileConstants(Mapping):
    """name -> read-only array, read from an open .snnir file on each first use (see the module docstring)."""

    def __init__(self, fd: int, layout: dict[str, tuple[np.dtype, tuple[int, ...], int, int]]):
        self._fd = fd = os.dup(fd)          # its own descriptor, closed when the mapping goes
        self._layout = layout              # name -> (dtype, shape, payload offset, payload bytes)
        self._alive: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        weakref.finalize(self, os.close, fd)

    def __getitem__(self, name: str) -> np.ndarray:
        array = self._alive.get(name)
        if array is None:
            dtype, shape, offset, nbytes = self._layout[name]
            data = os.pread(self._fd, nbytes, offset) if nbytes else b""
            if len(data) != nbytes:
                raise FormatError(f"constant @{name}: the file ended inside its data (changed since it was read?)")
            array = np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("="), copy=False).reshape(shape)
            array.flags.writeable = False
            self._alive[name] = array
        return array

    def __iter__(self) -> Iterator[str]:
        return iter(self._layout)

    def __len__(self) -> int:
        return len(self._layout)

    def __contains__(self, name) -> bool:
        return name in self._layout


class _Reader:
    """Protobuf wire-format reading at absolute offsets of a file (`pread`), within [0, size)."""

    def __init__(self, fd: int, size: int):
        self.fd, self.size = fd, size

    def read(self, offset: int, n: int) -> bytes:
        if n < 0 or offset + n > self.size:
            raise FormatError("not a readable .snnir file (corrupted or truncated): a field runs past the end")
        data = os.pread(self.fd, n, offset)
        if len(data) != n:
            raise FormatError("not a readable .snnir file (truncated while reading)")
        return data

    def varint(self, offset: int) -> tuple[int, int]:
        """(value, offset after it)."""
        head = os.pread(self.fd, 10, offset)
        value = 0
        for i, byte in enumerate(head):
            value |= (byte & 0x7F) << (7 * i)
            if byte < 0x80:
                return value, offset + i + 1
        raise FormatError("not a readable .snnir file (corrupted or truncated): a malformed varint")

    def field(self, offset: int) -> tuple[int, int, int, int]:
        """(field number, wire type, start of its payload, end of the field) of the field at `offset`."""
        key, at = self.varint(offset)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, end = self.varint(at)
            return number, wire, at, end
        if wire == 1:
            return number, wire, at, at + 8
        if wire == 5:
            return number, wire, at, at + 4
        if wire == 2:
            length, start = self.varint(at)
            return number, wire, start, start + length
        raise FormatError(f"not a readable .snnir file (corrupted or truncated): wire type {wire} at byte {offset}")

    def fields(self, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
        """(field start, number, wire type, payload start, field end) of each field in [start, end)."""
        at = start
        while at < end:
            number, wire, payload, stop = self.field(at)
            if stop > end:
                raise FormatError("not a readable .snnir file (corrupted or truncated): a field runs past its message")
            yield at, number, wire, payload, stop
            at = stop


def load_lazy(path: str | os.PathLike) -> Graph:
    """`serialize.load` with the constants left in the file (`FileConstants`); the same checks and errors, the
    same graph (the same constants, unused ones dropped), but no payload read until it is used."""
    path = Path(path)
    if not path.exists():
        raise FormatError(f"{path}: no such file")
    if not path.is_file():
        raise FormatError(f"{path}: not a regular file")
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise FormatError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        size = os.fstat(fd).st_size
        check_bytes(size, f"{path}: reading the compiled model")
        return _graph(_Reader(fd, size), fd)
    except FormatError as exc:
        raise FormatError(f"{path}: {exc}") from None
    finally:
        os.close(fd)


def _graph(reader: _Reader, fd: int) -> Graph:
    structure = bytearray()
    layout: dict[str, tuple] = {}
    names: list[str] = []
    for start, number, wire, payload, end in reader.fields(0, reader.size):
        if number != _CONSTANTS or wire != 2:
            structure += reader.read(start, end - start)
            continue
        header, data = bytearray(), (0, 0)
        for t_start, t_number, t_wire, t_payload, t_end in reader.fields(payload, end):
            if t_number == _DATA and t_wire == 2:
                data = (t_payload, t_end - t_payload)      # the last one wins, as when parsing
            else:
                header += reader.read(t_start, t_end - t_start)
        try:
            t = pb.Tensor.FromString(bytes(header))
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise FormatError(f"not a readable .snnir file (corrupted or truncated): {exc}") from None
        dtype, shape = tensor_layout(t.name, t.dtype, t.shape, data[1])
        names.append(t.name)
        layout[t.name] = (dtype, shape, data[0], data[1])
    g = pb.Graph()
    try:
        g.ParseFromString(bytes(structure))
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise FormatError(f"not a readable .snnir file (corrupted or truncated): {exc}") from None
    nodes, meta = checked_structure(g)
    if len(set(names)) != len(names):
        raise FormatError("two constants share a name; the file is corrupted")
    try:
        nodes = topological_order(nodes)
        used = sorted({ref for n in nodes for ref in n.const_refs()})
        missing = [r for r in used if r not in layout]
        if missing:
            raise ValueError(f"constants referenced but not defined: {', '.join('@' + m for m in missing)}")
        constants = FileConstants(fd, {name: layout[name] for name in used})
        graph = Graph(tuple(nodes), tuple(g.outputs), constants, MappingProxyType(meta))
        verify(graph)
    except (ValueError, KeyError, TypeError, IndexError, ArithmeticError) as exc:
        raise FormatError(f"the graph in this file is malformed: {exc}") from None
    return graph
