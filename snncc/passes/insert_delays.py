"""insert-delays: delay buffers on the skip edges of a layer-windowed graph (algorithms.md §0), and its latency.

Any coding whose populations run on the layer-windowed schedule uses this pass: a spiking op takes part by having a
method `window() -> int`, the number of steps of its emission window (phase: K; AMOS: K of its gate; bits: T).
"""

from __future__ import annotations

from snncc.ir import Delay, Graph
from snncc.passes.registry import PassResult, register_pass
from snncc.passes.rewrite import GraphEdit


def window_of(node) -> int:
    """Steps of a node's emission window on the windowed schedule (0 for non-spiking ops)."""
    window = getattr(node, "window", None)
    return int(window()) if node.spiking and callable(window) else 0


def ready_steps(graph: Graph) -> dict[str, int]:
    """Step at whose end each value is complete: inputs 0; a windowed population max(inputs) + its window (it
    integrates during its producers' windows and emits during its own); a delay adds its steps; any other op
    max(inputs) (a linear op is part of its consumer's integration). The latency is the largest ready step of an
    output."""
    ready: dict[str, int] = {}
    for node in graph.nodes:
        start = max((ready[i] for i in node.inputs), default=0)
        ready[node.name] = start + window_of(node) + (node.steps if isinstance(node, Delay) else 0)
    return ready


def latency_steps(graph: Graph) -> int:
    """K x (windowed populations on the longest path), in steps, for a uniform K."""
    ready = ready_steps(graph)
    return max((ready[o] for o in graph.outputs), default=0)


def pipeline_interval(graph: Graph) -> int:
    """Steps between two samples when the layers are pipelined: the longest window (one sample per K steps)."""
    return max((window_of(n) for n in graph.nodes), default=0)


@register_pass("insert-delays")
def insert_delays(graph, ctx) -> PassResult:
    """For every op with several inputs (add, concat, mul), an input that is ready d steps before the latest one
    reads it through `delay{steps=d}` (d/K windows): a skip edge across n spiking layers gets n windows of buffer.
    Records `latency_steps` and `pipeline_interval_steps` in the graph header. Does nothing to a graph without
    windowed populations."""
    if not any(window_of(n) for n in graph.nodes):
        return PassResult(graph, False)
    ready = ready_steps(graph)
    edit = GraphEdit(graph)
    for node in graph.nodes:
        if len(node.inputs) < 2 or isinstance(node, Delay):
            continue
        latest = max(ready[i] for i in node.inputs)
        new_inputs = []
        for src in node.inputs:
            lag = latest - ready[src]
            if lag > 0:
                name = edit.fresh_name(f"{src}.delay{lag}")
                edit.insert_before(node.name, Delay(name=name, inputs=(src,), type=graph.node(src).type, steps=lag))
                src = name
            new_inputs.append(src)
        if tuple(new_inputs) != node.inputs:
            edit.replace(node.replace(inputs=tuple(new_inputs)))
    new = edit.apply()
    meta = dict(new.meta)
    meta.update({"latency_steps": str(latency_steps(new)), "pipeline_interval_steps": str(pipeline_interval(new))})
    return PassResult(new.with_(meta=meta), edit.modified or meta != dict(graph.meta))
