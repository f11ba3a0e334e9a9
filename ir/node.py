"""The node base class and the closed op registry.

Every op is a frozen, typed dataclass registered under its op name. Printer, parser, serializer and diff walk this
registry and `dataclasses.fields()` generically, so adding an op touches one file.

Attribute values are int, float, str, bool, tuples of those, `None`, or a `ConstRef` naming a tensor in the graph's
constant table (large tensors are never node fields).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, Mapping

import numpy as np

from snncc.ir.types import TensorType


class ConstRef(str):
    """Name of a tensor in the graph's constant table; printed as `@name`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"@{str(self)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """One value-producing operation. Its output value has the node's name.

    Subclasses set `op` (the registry key) and `spiking` (True for neuron populations), state the maths in their
    docstring, and implement `infer_type` (shape rule) and, for ANN ops, `evaluate` (reference semantics).
    """

    op: ClassVar[str] = ""
    spiking: ClassVar[bool] = False
    name: str
    inputs: tuple[str, ...] = ()
    type: TensorType

    def infer_type(self, input_types: list[TensorType], constants: Mapping[str, np.ndarray]) -> TensorType:
        """Output type from the input types; raises ValueError with the reason when the inputs do not fit."""
        raise NotImplementedError(f"op {self.op} has no shape rule")

    def evaluate(self, inputs: list[np.ndarray], constants: Mapping[str, np.ndarray]) -> np.ndarray:
        """ANN-mode (rate-limit) semantics on a batch: the reference interpreter's oracle."""
        raise NotImplementedError(f"op {self.op} has no ANN-mode semantics")

    def attributes(self) -> Iterator[tuple[str, Any]]:
        """(name, value) of every attribute in field order (name, inputs and type excluded)."""
        for f in dataclasses.fields(self):
            if f.name not in ("name", "inputs", "type"):
                yield f.name, getattr(self, f.name)

    def const_refs(self) -> Iterator[ConstRef]:
        """Every constant this node references."""
        for _, value in self.attributes():
            if isinstance(value, ConstRef):
                yield value

    def replace(self, **changes: Any) -> "Node":
        """A copy with some fields changed (nodes are immutable)."""
        return dataclasses.replace(self, **changes)


OP_REGISTRY: dict[str, type[Node]] = {}


def register_op(cls: type[Node]) -> type[Node]:
    """Class decorator: add an op to the registry under `cls.op`."""
    if not cls.op:
        raise ValueError(f"{cls.__name__} must set a class attribute `op`")
    existing = OP_REGISTRY.get(cls.op)
    if existing is not None and existing is not cls and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"op name {cls.op!r} is already registered by {existing.__name__}")
    OP_REGISTRY[cls.op] = cls
    return cls


def op_class(op: str) -> type[Node]:
    """The node class registered for an op name."""
    try:
        return OP_REGISTRY[op]
    except KeyError:
        raise KeyError(f"unknown IR op {op!r}; registered ops: {', '.join(sorted(OP_REGISTRY))}") from None
