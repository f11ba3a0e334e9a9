"""Reference interpreter: runs any IR graph in ANN mode (spiking populations at their rate limit).

It is the oracle for every pass test and the source of calibration statistics.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping

import numpy as np

from snncc.ir.graph import Graph


class InterpretError(RuntimeError):
    """A node failed while executing; the message names it."""


def run(graph: Graph, inputs: np.ndarray | Mapping[str, np.ndarray], *, keep: Iterable[str] | str = (),
        observe: Callable[[str, np.ndarray], None] | None = None, dtype=np.float32) -> dict[str, np.ndarray]:
    """Evaluate `graph` on a batch. `inputs` is one array (single-input graphs) or a dict by input name.

    Returns the graph outputs plus the values named in `keep` (`keep="all"`: every value). `observe(name, value)`
    is called for every computed value, so statistics can stream without keeping activations alive.
    Values are freed as soon as their last consumer ran. `dtype=np.float64` carries the activations in double
    precision (constants stay float32): calibration uses it so that the statistics, rounded to float32 at the end,
    do not depend on which BLAS kernel this CPU picks for float32 matmuls.
    """
    if not isinstance(inputs, Mapping):
        if len(graph.inputs) != 1:
            raise InterpretError(f"the graph has {len(graph.inputs)} inputs; pass a dict by name")
        inputs = {graph.inputs[0].name: inputs}
    keep_all = keep == "all"
    wanted = set(graph.outputs) | (set() if keep_all else set(keep))
    last_use: dict[str, int] = {}
    for i, node in enumerate(graph.nodes):
        for src in node.inputs:
            last_use[src] = i
    values: dict[str, np.ndarray] = {}
    result: dict[str, np.ndarray] = {}
    for i, node in enumerate(graph.nodes):
        if node.op == "input":
            if node.name not in inputs:
                raise InterpretError(f"no data for graph input %{node.name}")
            x = np.asarray(inputs[node.name], dtype=dtype)
            if x.shape[1:] != node.type.shape:
                raise InterpretError(f"input %{node.name} expects per-sample shape {list(node.type.shape)}, "
                                     f"got {list(x.shape[1:])}")
            value = x
        else:
            try:
                value = node.evaluate([values[s] for s in node.inputs], graph.constants)
            except MemoryError:
                raise           # not a bug of the node: the caller says "out of memory" and what to lower
            except Exception as exc:  # noqa: BLE001 - re-raised with the node named
                raise InterpretError(f"while executing %{node.name} ({node.op}): {exc}") from exc
        values[node.name] = value
        if observe is not None:
            observe(node.name, value)
        if keep_all or node.name in wanted:
            result[node.name] = value
        for src in set(node.inputs):
            if last_use.get(src) == i and src not in graph.outputs:
                values.pop(src, None)
    return result
