"""A small edit buffer for passes: replace, remove (with an alias) and insert nodes, set constants, then build a
new graph. Passes never mutate their input graph."""

from __future__ import annotations

from collections import Counter

import numpy as np

from snncc.ir import ConstRef, Graph, Node


class GraphEdit:
    """Collects the changes of one pass over `graph`; `apply()` returns the new graph."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.names = graph.names()
        self._replaced: dict[str, Node] = {}
        self._removed: dict[str, str] = {}          # removed node -> value that replaces it
        self._before: dict[str, list[Node]] = {}     # node name -> new nodes placed just before it
        self._constants: dict[str, np.ndarray] = {}
        self._ref_counts = Counter(ref for n in graph.nodes for ref in n.const_refs())

    @property
    def modified(self) -> bool:
        return bool(self._replaced or self._removed or self._before or self._constants)

    def constant(self, wanted: str, array: np.ndarray, *, replacing: ConstRef | None = None,
                 dtype=np.float32) -> ConstRef:
        """Store `array` (as `dtype`); reuse the name of the constant it replaces when nothing else reads that one."""
        if replacing is not None and self._ref_counts[replacing] == 1 and replacing not in self._constants:
            name = str(replacing)
        else:
            name = self.names.fresh(wanted)
        a = np.asarray(array, dtype=dtype)
        if a.flags.writeable and a.flags.owndata:
            # the edit takes the array (the pass must not write to it any more): the graph keeps it as is instead
            # of copying it, so a pass that rewrites every weight holds two sets of weights, not three
            a.flags.writeable = False
        self._constants[name] = a
        return ConstRef(name)

    def replace(self, node: Node) -> None:
        """Put `node` in place of the node with the same name."""
        self._replaced[node.name] = node

    def changed(self, name: str) -> bool:
        """Whether node `name` is already replaced or removed in this edit."""
        return name in self._replaced or name in self._removed

    def remove(self, name: str, alias: str) -> None:
        """Drop node `name`; its readers read `alias` instead."""
        self._removed[name] = alias

    def insert_before(self, anchor: str, node: Node) -> None:
        self._before.setdefault(anchor, []).append(node)

    def fresh_name(self, wanted: str) -> str:
        return self.names.fresh(wanted)

    def _resolve(self, value: str) -> str:
        seen = set()
        while value in self._removed and value not in seen:
            seen.add(value)
            value = self._removed[value]
        return value

    def apply(self) -> Graph:
        nodes = []
        for node in self.graph.nodes:
            nodes.extend(self._before.get(node.name, []))
            if node.name in self._removed:
                continue
            node = self._replaced.get(node.name, node)
            renamed = tuple(self._resolve(i) for i in node.inputs)
            if renamed != node.inputs:
                node = node.replace(inputs=renamed)
            nodes.append(node)
        outputs = [self._resolve(o) for o in self.graph.outputs]
        return self.graph.with_(nodes=nodes, outputs=outputs, constants=self._constants)


def channel_axis(shape: tuple[int, ...]) -> int:
    """The per-sample channel axis: 0 for (C,), (C, H, W); the last axis for (nodes, features)."""
    return len(shape) - 1 if len(shape) == 2 else 0


def channel_view(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Per-channel values reshaped to broadcast against a per-sample `shape` ((C,) -> (C, 1, 1) for images)."""
    axis = channel_axis(shape)
    view = [1] * len(shape)
    view[axis] = -1
    return np.asarray(values, dtype=np.float32).reshape(view)
