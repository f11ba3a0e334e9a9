"""lower-rate: ReLU populations with known thresholds become soft-reset IF neurons (rate coding)."""

from __future__ import annotations

from snncc.errors import OptionError
from snncc.ir import IFNeuron
from snncc.passes.manager import RewriteError
from snncc.passes.preconditions import Blocker, gate_blockers, register_precondition
from snncc.passes.registry import PassResult, register_pass
from snncc.passes.rewrite import GraphEdit

# Gates that rate coding cannot express, with what to do instead.
NON_RELU_GATES = {"sigmoid", "hard_sigmoid", "tanh", "silu", "hard_swish", "gelu", "leaky_relu", "mul"}
# ctx.stats entry: {population: the bounded_relu/qcfs node it was lowered from} (read by calibrate-snn)
LOWERED_FROM = "lowered_from"
V0_CHOICES = {"zero": 0.0, "0": 0.0, "half": 0.5, "0.5": 0.5}


@register_pass("lower-rate")
def lower_rate(graph, ctx, v0: str | float = "half") -> PassResult:
    """bounded_relu{theta} -> if_neuron{theta, out_scale=theta, v0}: soft-reset IF whose spikes carry theta, so the
    decoded rate theta * count / T approximates clip(z, 0, theta) (algorithms.md §1.2). qcfs{theta} lowers the same
    way with v0 = theta/2 (exact on constant input at T = L, §1.5).

    v0 is the initial membrane as a fraction of theta: `half` (default; rounds instead of floors) or `zero`."""
    v0_fraction = V0_CHOICES.get(str(v0))
    if v0_fraction is None:
        raise OptionError(f"v0={v0!r}: use 'half' or 'zero'")
    edit = GraphEdit(graph)
    for node in graph.nodes:
        if node.op in ("bounded_relu", "qcfs"):
            start = 0.5 if node.op == "qcfs" else v0_fraction
            edit.replace(IFNeuron(name=node.name, inputs=node.inputs, type=node.type, theta=node.theta,
                                  out_scale=node.theta, v0=start))
            ctx.stats.setdefault(LOWERED_FROM, {})[node.name] = node
        elif node.op in ("relu", "clip"):
            raise RewriteError(node.name, f"{node.op} has no threshold yet; run balance-thresholds before lower-rate")
        elif node.op in NON_RELU_GATES:
            raise RewriteError(node.name, f"rate coding cannot express a {node.op} gate (only ReLU/Clip); compile with "
                                          "--coding amos, which lowers any gate to a spiking circuit")
        elif node.op == "max_pool":
            raise RewriteError(node.name, "run maxpool-to-relu-tree before lower-rate")
    return PassResult(edit.apply(), edit.modified)


@register_precondition("lower-rate")
def lower_rate_precondition(graph, view) -> list[Blocker]:
    """Rate coding lowers ReLU/Clip/QCFS populations only; a MaxPool needs the ReLU tree before it."""
    blockers = gate_blockers(graph, NON_RELU_GATES, "rate")
    if not view.ran("maxpool-to-relu-tree"):
        blockers += [Blocker(n.name, n.op, "max_pool reaches lower-rate", "run maxpool-to-relu-tree before it")
                     for n in graph.nodes if n.op == "max_pool"]
    return blockers
