"""lower-phase: ReLU populations with known thresholds become single-spike phase neurons (algorithms.md §4)."""

from __future__ import annotations

import numpy as np

from snncc.errors import OptionError
from snncc.ir import FirstSpikePool, PhaseNeuron
from snncc.passes.manager import RewriteError
from snncc.passes.preconditions import Blocker, gate_blockers, register_precondition
from snncc.passes.registry import PassResult, register_pass
from snncc.passes.rewrite import GraphEdit

# Gates that a phase-coded ReLU population cannot express, with what to do instead.
NON_RELU_GATES = {"sigmoid", "hard_sigmoid", "tanh", "silu", "hard_swish", "gelu", "leaky_relu", "mul"}
DEFAULT_PHASES = 8
MAX_PHASES = 256


def check_phase_options(phases, base, multi_spike: bool = False) -> tuple[int, float | None]:
    """Validate K and B as a user gives them: K an integer >= 1, B in (1, 2] (multi-spike: B = 2)."""
    try:
        k = int(phases)
    except (TypeError, ValueError):
        raise OptionError(f"phases (-K) must be an integer >= 1, got {phases!r}") from None
    if k != phases or k < 1:
        raise OptionError(f"phases (-K) must be an integer >= 1, got {phases!r}")
    if k > MAX_PHASES:
        raise OptionError(f"phases (-K) must be at most {MAX_PHASES}, got {k}: every phase is a time step and a "
                          f"frame of every population held in memory, and beyond {MAX_PHASES} the levels B^-k are "
                          "finer than float32 resolves for any base worth searching")
    if base is None:
        return k, None
    try:
        b = float(base)
    except (TypeError, ValueError):
        raise OptionError(f"--base must be a number in (1, 2], got {base!r}") from None
    if not 1.0 < b <= 2.0:
        raise OptionError(f"--base {base} is out of range: the phase base B must satisfy 1 < B <= 2 (B <= 1 gives no "
                          "decaying levels; B > 2 leaves gaps no single spike can round to). Omit --base to search "
                          "it per layer")
    if multi_spike and b != 2.0:
        raise OptionError(f"--multi-spike is classic phase coding with base 2; drop --base {base} or --multi-spike")
    return k, b


def flag(value, name: str) -> bool:
    """A boolean pass option given as a bool or as the text `true`/`false` (any case)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise OptionError(f"option {name}={value!r} must be true or false")
    return text == "true"


@register_pass("lower-phase")
def lower_phase(graph, ctx, phases: int = DEFAULT_PHASES, base: float = 2.0, shift: bool = True,
                multi_spike: bool = False) -> PassResult:
    """bounded_relu{theta} (and qcfs{theta}) -> phase_neuron{theta, base, phases, shift, multi_spike}: once per
    window of K phases the population emits q_{B,K,theta}(V) as at most one spike (phase k weighs theta B^-k).

    max_pool reading such a population -> first_spike_pool (the earliest spike of a window is its largest value:
    exact, no extra window); with multi_spike run maxpool-to-relu-tree first instead.

    multi_spike: classic phase coding, B = 2, the K-bit floor expansion; its phase-0 weight is theta/2, so the K
    bits cover [0, theta) in steps of theta 2^-K. Sets the graph header `schedule = windowed` and `phases = K`."""
    multi_spike = flag(multi_spike, "multi_spike")
    phases, base = check_phase_options(phases, base, multi_spike)
    shift = flag(shift, "shift") and not multi_spike
    edit = GraphEdit(graph)
    for node in graph.nodes:
        if node.op in ("bounded_relu", "qcfs"):
            theta = node.theta
            if multi_spike:
                theta = edit.constant(f"{node.name}.theta", np.asarray(graph.constants[theta]) / 2, replacing=theta)
            edit.replace(PhaseNeuron(name=node.name, inputs=node.inputs, type=node.type, theta=theta,
                                     base=float(base), phases=phases, shift=shift, multi_spike=bool(multi_spike)))
        elif node.op in ("relu", "clip"):
            raise RewriteError(node.name, f"{node.op} has no threshold yet; run balance-thresholds before lower-phase")
        elif node.op in NON_RELU_GATES:
            raise RewriteError(node.name, f"phase coding cannot express a {node.op} gate (only ReLU/Clip); compile "
                                          "with --coding amos, which lowers any gate to a spiking circuit")
        elif node.op == "max_pool":
            producer = graph.node(node.inputs[0])
            if multi_spike or producer.op not in ("bounded_relu", "qcfs"):
                raise RewriteError(node.name, "max_pool needs a single-spike phase population as its input (a ReLU "
                                              "right before the pool); otherwise run maxpool-to-relu-tree first")
            edit.replace(FirstSpikePool(name=node.name, inputs=node.inputs, type=node.type, kernel=node.kernel,
                                        strides=node.strides, pads=node.pads))
        elif node.spiking and node.op not in ("phase_neuron", "first_spike_pool"):
            raise RewriteError(node.name, f"{node.op} is already lowered to another coding")
    meta = dict(graph.meta)
    meta.update({"schedule": "windowed", "phases": str(phases)})
    new = edit.apply()
    return PassResult(new.with_(meta=meta), edit.modified)


def phase_pipeline(phases: int | None = None, base: float | None = None, threshold_shift: bool = True,
                   multi_spike: bool = False, balance: str = "channel", stat: str = "percentile",
                   percentile: float = 99.99, maxpool: str = "first-spike", search_theta: bool = False,
                   **_: object) -> str:
    """`--coding phase`: single-spike phase coding on the layer-windowed schedule (algorithms.md §4).

    K = `phases` (default 8); `base` None searches B per layer (`search-phase-base`), a number fixes it;
    `threshold_shift` rounds to the nearest level; `multi_spike` is classic phase coding (B = 2, K-bit floor).
    `maxpool`: `first-spike` (single spike: the pool relays the earliest spike of a ReLU population; pools reading
    anything else become ReLU trees) or `relu-tree` (algorithms.md §1.4; always used with multi_spike). `search_theta`: the base search also rescales theta (`theta=search`)."""
    from snncc.pipeline import CANONICALIZE

    if maxpool not in ("first-spike", "relu-tree"):
        raise OptionError(f"maxpool={maxpool!r}: use 'first-spike' or 'relu-tree'")
    k, b = check_phase_options(DEFAULT_PHASES if phases is None else phases, base, multi_spike)
    search = b is None and not multi_spike
    lower = {"phases": k, "base": 2.0 if b is None else b, "shift": "true" if threshold_shift else "false",
             "multi_spike": "true" if multi_spike else "false"}
    options = ",".join(f"{key}={value}" for key, value in sorted(lower.items()))
    # first-spike pools need a ReLU population right before them: other pools (after a residual sum, the input) are
    # ReLU trees in any case
    pool = ",maxpool-to-relu-tree" if multi_spike or maxpool == "relu-tree" else ",maxpool-to-relu-tree{only=signed}"
    return (f"{CANONICALIZE},canonicalize-gcn,calibrate,balance-thresholds{{mode={balance},q={percentile},"
            f"stat={stat}}}{pool},lower-phase{{{options}}}"
            + ((",search-phase-base{theta=search}" if search_theta else ",search-phase-base") if search else "")
            + ",insert-delays")


def _register() -> None:
    from snncc.pipeline import register_coding

    register_coding("phase", phase_pipeline)


_register()


def _relu_like(node) -> bool:
    """A population that becomes a phase neuron once thresholds are balanced (Clip(0, c) included)."""
    return node.op in ("relu", "bounded_relu", "qcfs") or (node.op == "clip" and float(node.lo) == 0.0)


@register_precondition("lower-phase")
def lower_phase_precondition(graph, view) -> list[Blocker]:
    """Phase coding lowers ReLU/Clip/QCFS populations only; a MaxPool reaching it must read such a population
    (first-spike pool) unless the ReLU tree ran before."""
    blockers = gate_blockers(graph, NON_RELU_GATES, "phase")
    if view.ran("maxpool-to-relu-tree"):
        return blockers
    multi = flag(view.options.get("multi_spike", False), "multi_spike")
    for node in graph.nodes:
        if node.op == "max_pool" and (multi or not _relu_like(graph.node(node.inputs[0]))):
            blockers.append(Blocker(node.name, node.op, f"max_pool reads {graph.node(node.inputs[0]).op} output; the "
                                    "first-spike pool needs a ReLU population right before it",
                                    "--coding amos, or a pipeline with maxpool-to-relu-tree"))
    return blockers
