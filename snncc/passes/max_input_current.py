"""Viet & Lee threshold balancing: theta from the maximum per-step input current measured in the SNN, layer by
layer (algorithms.md §6). Used by `balance-thresholds{stat=max-input-current}`."""

from __future__ import annotations

import numpy as np

from snncc.errors import DataError
from snncc.ir import BoundedRelu, Graph, Relu
from snncc.passes.balance_thresholds import data_free_theta
from snncc.passes.registry import PassContext, PassResult
from snncc.passes.rewrite import GraphEdit, channel_axis, channel_view


def ancestors_graph(graph: Graph, name: str) -> Graph:
    """The subgraph that computes value `name` (its ancestors and itself), with `name` as the only output."""
    nodes = graph.node_map()
    needed, stack = set(), [name]
    while stack:
        n = stack.pop()
        if n not in needed:
            needed.add(n)
            stack.extend(nodes[n].inputs)
    return Graph.build([n for n in graph.nodes if n.name in needed], (name,), graph.constants, graph.meta)


def step_currents(graph: Graph, x: np.ndarray, timesteps: int, batch_size: int, progress: bool, v0: str = "half"):
    """Yield, per batch, the per-step input current I(t) of the graph's output, shape (T, n, ...), with the
    thresholded ReLUs before it lowered to IF neurons starting at `v0` (the compile's own setting)."""
    from snncc.backends.simulator import trace_steps
    from snncc.passes.lower_rate import lower_rate
    from snncc.passes.maxpool_to_relu_tree import maxpool_to_relu_tree

    ctx = PassContext()
    spiking = lower_rate(maxpool_to_relu_tree(graph, ctx).graph, ctx, v0=v0).graph
    for start in range(0, len(x), batch_size):
        yield trace_steps(spiking, x[start:start + batch_size], timesteps, batch_size=batch_size)


def _theta(currents: list[np.ndarray], shape, mode: str, q: float) -> np.ndarray:
    if mode == "layer" or not shape:
        values = np.concatenate([c.reshape(-1) for c in currents])
        theta = float(np.percentile(values, q)) if q < 100 else float(values.max())
        return np.array(theta if theta > 0 else 1.0, np.float32)
    axis = channel_axis(shape)
    rows = np.concatenate([np.moveaxis(c, 2 + axis, -1).reshape(-1, shape[axis]) for c in currents])
    per_channel = np.percentile(rows, q, axis=0) if q < 100 else rows.max(axis=0)
    layer = float(np.percentile(rows, q)) if q < 100 else float(rows.max())
    per_channel = np.where(per_channel > 0, per_channel, layer if layer > 0 else 1.0)
    return channel_view(per_channel.astype(np.float32), shape)


def balance_by_input_current(graph: Graph, ctx: PassContext, *, mode: str, q: float, timesteps: int,
                             v0: str = "half", batch_size: int = 256) -> PassResult:
    """For each ReLU l in topological order: lower everything before it to IF neurons (thresholds already chosen),
    simulate the calibration set for T steps, record I_l(t) = W_l s_{l-1}(t) + b_l at every step, sample and position,
    and set theta_l = max (q = 100, the paper's statistic) or the q-th percentile of it, per layer or per channel.
    The simulated IF neurons start at `v0` (the compile's `lower-rate{v0}`): thresholds measured with another
    initial membrane are the wrong ones (with v0 = 0 the deeper layers fire far less). Layer l's theta never
    depends on later layers. Clip(0, c) keeps theta = c."""
    if ctx.calibration is None:
        raise DataError("max-input-current balancing simulates the SNN on calibration data: pass --calib FILE.npz")
    x = np.asarray(ctx.calibration, np.float32)
    current = graph
    for name in [n.name for n in graph.nodes if isinstance(n, Relu) or data_free_theta(n) is not None]:
        node = current.node(name)
        edit = GraphEdit(current)
        theta = data_free_theta(node)
        if theta is not None:
            value = np.array(theta, np.float32)
        else:
            sub = ancestors_graph(current, node.inputs[0])
            currents = list(step_currents(sub, x, timesteps, batch_size, ctx.progress, v0))
            value = _theta(currents, node.type.shape, mode, 100.0 if q >= 100 else q)
        edit.replace(BoundedRelu(name=name, inputs=node.inputs, type=node.type,
                                 theta=edit.constant(f"{name}.theta", value)))
        current = edit.apply()
    return PassResult(current, current is not graph)
