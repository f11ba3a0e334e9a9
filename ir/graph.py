"""The graph: an ordered, named listing of nodes, its outputs, its constant table and a header."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping

import numpy as np

from snncc.ir.names import NameTable
from snncc.ir.node import Node
from snncc.ir.ops_ann import Input

if TYPE_CHECKING:
    import networkx as nx

# Header keys with a fixed print order; others follow sorted by key.
HEADER_ORDER = ("coding", "pipeline", "source", "source_sha256", "timesteps")


def _freeze(array: np.ndarray) -> np.ndarray:
    a = np.asarray(array, order="C")
    if a.flags.writeable:
        if a is array or not a.flags.owndata:   # the caller may still write to it: keep a copy of our own
            a = a.copy()
        a.flags.writeable = False
    return a


@dataclass(frozen=True)
class Graph:
    """Nodes in topological order (inputs first, ties kept in their given order), output value names, named
    constants (read-only arrays) and header metadata (`coding`, `pipeline`, `source`, ...).

    Build one with `Graph.build`, which sorts, freezes constants and drops unused ones; edit by building anew.
    """

    nodes: tuple[Node, ...]
    outputs: tuple[str, ...]
    constants: Mapping[str, np.ndarray]
    meta: Mapping[str, str] = field(default_factory=dict)

    @staticmethod
    def build(nodes: Iterable[Node], outputs: Iterable[str], constants: Mapping[str, np.ndarray],
              meta: Mapping[str, str] | None = None) -> "Graph":
        nodes = topological_order(list(nodes))
        used = sorted({ref for n in nodes for ref in n.const_refs()})
        missing = [r for r in used if r not in constants]
        if missing:
            raise ValueError(f"constants referenced but not defined: {', '.join('@' + m for m in missing)}")
        consts = {name: _freeze(constants[name]) for name in used}
        return Graph(tuple(nodes), tuple(outputs), MappingProxyType(consts), MappingProxyType(dict(meta or {})))

    def with_(self, *, nodes: Iterable[Node] | None = None, outputs: Iterable[str] | None = None,
              constants: Mapping[str, np.ndarray] | None = None, meta: Mapping[str, str] | None = None) -> "Graph":
        """A new graph with some parts replaced; new constants are merged over the old ones."""
        merged = dict(self.constants)
        if constants:
            merged.update(constants)
        return Graph.build(self.nodes if nodes is None else nodes, self.outputs if outputs is None else outputs,
                           merged, self.meta if meta is None else meta)

    # -- lookups -------------------------------------------------------------------------------------------
    @property
    def inputs(self) -> tuple[Input, ...]:
        return tuple(n for n in self.nodes if isinstance(n, Input))

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node %{name}")

    def node_map(self) -> dict[str, Node]:
        return {n.name: n for n in self.nodes}

    def consumers(self) -> dict[str, list[Node]]:
        """value name -> nodes that read it, in graph order."""
        out: dict[str, list[Node]] = {n.name: [] for n in self.nodes}
        for n in self.nodes:
            for i in n.inputs:
                out.setdefault(i, []).append(n)
        return out

    def names(self) -> NameTable:
        """A name table that knows every node and constant name (for passes that add nodes)."""
        return NameTable(set(self.node_map()) | set(self.constants))

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def to_networkx(self) -> nx.DiGraph:
        """A networkx view: one vertex per node (attribute `node`), an edge per data dependency."""
        import networkx as nx   # imported here: compiling never needs it (13 MB of resident memory)

        g = nx.DiGraph()
        for n in self.nodes:
            g.add_node(n.name, node=n, op=n.op)
        for n in self.nodes:
            for i in n.inputs:
                g.add_edge(i, n.name)
        return g

    def header(self) -> list[tuple[str, str]]:
        """Metadata in print order."""
        known = [(k, self.meta[k]) for k in HEADER_ORDER if k in self.meta]
        rest = sorted((k, v) for k, v in self.meta.items() if k not in HEADER_ORDER)
        return known + rest


def topological_order(nodes: list[Node]) -> list[Node]:
    """Kahn's algorithm; among ready nodes the one given first goes first, so the order is deterministic and a
    valid order is kept as it is. A cycle or an input that no node produces is a ValueError naming the node."""
    index = {}
    for i, n in enumerate(nodes):
        if n.name in index:
            raise ValueError(f"two nodes are named %{n.name}")
        index[n.name] = i
    pending = {}
    users: dict[str, list[int]] = {n.name: [] for n in nodes}
    for i, n in enumerate(nodes):
        for src in n.inputs:
            if src not in index:
                raise ValueError(f"node %{n.name} ({n.op}) reads %{src}, which no node produces")
            users[src].append(i)
        pending[i] = len(n.inputs)
    ready = [i for i, k in pending.items() if k == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(nodes[i])
        for j in users[nodes[i].name]:
            pending[j] -= 1
            if pending[j] == 0:
                heapq.heappush(ready, j)
    if len(order) != len(nodes):
        stuck = sorted(set(range(len(nodes))) - {index[n.name] for n in order})
        raise ValueError(f"the graph has a cycle through %{nodes[stuck[0]].name}")
    return order
