"""lower-ttfs: ReLU populations with known thresholds become time-to-first-spike neurons (`--coding ttfs`,
docs/ttfs.md; Stanojevic et al., arXiv 2212.12522 and 2306.08744): one window of K steps per layer, at most one
spike per neuron, the value coded by the spike's earliness on a linear grid of K levels."""

from __future__ import annotations

from snncc.errors import OptionError
from snncc.ir import FirstSpikePool, TTFSNeuron
from snncc.passes.lower_bits import check_gate
from snncc.passes.manager import RewriteError
from snncc.passes.preconditions import Blocker, register_precondition
from snncc.passes.registry import PassResult, register_pass
from snncc.passes.rewrite import GraphEdit

# K = 16 keeps every bundled ReLU model within 0.5 pt of its ANN (docs/ttfs.md, benchmarks/ttfs_table.py)
DEFAULT_STEPS = 16
RELU_OPS = ("bounded_relu", "qcfs")
OWN_OPS = ("ttfs_neuron", "first_spike_pool")


def check_steps(steps) -> int:
    """K as an int >= 1, or an OptionError."""
    try:
        k = int(steps)
    except (TypeError, ValueError):
        raise OptionError(f"ttfs: steps per window (-K) must be an integer >= 1, got {steps!r}") from None
    if k != steps or k < 1:
        raise OptionError(f"ttfs: steps per window (-K) must be an integer >= 1, got {steps!r}")
    return k


@register_precondition("lower-ttfs")
def ttfs_precondition(graph, view=None) -> list[Blocker]:
    """What keeps `--coding ttfs` from compiling `graph`, one blocker per node; empty when every gate is a ReLU or
    Clip(0, c) (ReLU6), which the TTFS mapping expresses, and every MaxPool reads one directly (the earliest spike
    of its window wins)."""
    problems = []
    nodes = graph.node_map()
    for node in graph.nodes:
        if node.op in ("sigmoid", "hard_sigmoid", "tanh", "silu", "hard_swish", "gelu", "leaky_relu", "mul"):
            problems.append(Blocker(node.name, node.op, "TTFS codes ReLU values only", "--coding amos"))
        elif node.op == "clip" and not (node.lo == 0.0 and node.hi > 0):
            problems.append(Blocker(node.name, node.op, f"TTFS needs Clip(0, c), not Clip({node.lo}, {node.hi})",
                                    "--coding amos"))
        elif node.op == "max_pool" and nodes[node.inputs[0]].op not in ("relu", "clip", "bounded_relu", "qcfs"):
            problems.append(Blocker(node.name, node.op, f"its input %{node.inputs[0]} is not a ReLU; TTFS pools the "
                                    "first spike of a ReLU population", "a ReLU before the pool, or --coding amos"))
    return problems


@register_pass("lower-ttfs")
def lower_ttfs(graph, ctx, steps: int = DEFAULT_STEPS) -> PassResult:
    """ReLU populations become time-to-first-spike neurons: at most one spike per window of K steps, the earlier
    the larger the value.

    bounded_relu{theta} (and qcfs{theta}) -> ttfs_neuron{theta, steps=K}: the neuron fires once, at step
    k = K - round(V / Delta) (Delta = theta / K), or not at all for V < Delta / 2; a spike at step k carries
    Delta (K - k), so the window decodes to Delta round(clip(V, 0, theta) / Delta).

    qcfs{theta, L, shift=1/2} -> ttfs_neuron{theta, steps=L}: its own window of L steps reproduces QCFS exactly
    (Delta round(V / Delta) with Delta = theta / L is QCFS's floor(V L / theta + 1/2) theta / L, clipped alike).

    max_pool reading such a population -> first_spike_pool: the levels fall with the step, so the earliest spike of
    a pooling window carries the largest value (exact, no extra window). Sets the header `schedule = windowed` and
    `ttfs_steps = K`."""
    k = check_steps(steps)
    edit = GraphEdit(graph)
    for node in graph.nodes:
        if node.op in RELU_OPS:
            window = k
            if node.op == "qcfs":
                if float(node.shift) == 0.5:
                    window = int(node.levels)   # K = L rounds exactly like QCFS: the ANN's own function
                else:
                    ctx.log.append(f"lower-ttfs: %{node.name} is QCFS with shift {node.shift}, not 1/2; TTFS rounds "
                                   f"to the nearest of K={k} levels instead")
            edit.replace(TTFSNeuron(name=node.name, inputs=node.inputs, type=node.type, theta=node.theta,
                                    steps=window))
        elif node.op == "max_pool":
            producer = graph.node(node.inputs[0])
            if producer.op not in RELU_OPS + ("ttfs_neuron",):
                raise RewriteError(node.name, f"max_pool reads {producer.op}; TTFS pools the first spike of a ReLU "
                                              "population, so the pool must follow a ReLU directly")
            edit.replace(FirstSpikePool(name=node.name, inputs=node.inputs, type=node.type, kernel=node.kernel,
                                        strides=node.strides, pads=node.pads))
        elif node.op not in OWN_OPS:
            check_gate(node, "ttfs_neuron")
    if not edit.modified:
        return PassResult(graph, False)
    meta = dict(graph.meta)
    meta.update({"schedule": "windowed", "ttfs_steps": str(k)})
    return PassResult(edit.apply().with_(meta=meta), True)


def ttfs_pipeline(phases: int | None = None, balance: str = "channel", stat: str = "percentile",
                  percentile: float = 99.99, **_: object) -> str:
    """`--coding ttfs`: time-to-first-spike on the layer-windowed schedule. K = `phases` (-K, default 16) steps per
    layer window; thresholds from calibration data (`stat`, `percentile`, `balance`) or data-free from Clip(0, c)."""
    from snncc.passes.lower_bits import low_latency_options
    from snncc.pipeline import CANONICALIZE

    k = check_steps(DEFAULT_STEPS if phases is None else phases)
    return (f"{CANONICALIZE},canonicalize-gcn,calibrate,{low_latency_options('ttfs', balance, stat, percentile)},"
            f"lower-ttfs{{steps={k}}},insert-delays")


def _register() -> None:
    from snncc.pipeline import register_coding

    register_coding("ttfs", ttfs_pipeline)


_register()
