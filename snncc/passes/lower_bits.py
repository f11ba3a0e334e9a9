"""lower-bits: ReLU-like populations with known thresholds become bit-serial IF neurons (`--coding bits`,
algorithms.md §3): T steps carry 2^T levels."""

from __future__ import annotations

from snncc.errors import OptionError
from snncc.ir import BitsNeuron
from snncc.ir.ops_bits import bits_levels
from snncc.passes.lower_rate import NON_RELU_GATES
from snncc.passes.manager import RewriteError
from snncc.passes.preconditions import Blocker, gate_blockers, register_precondition
from snncc.passes.registry import PassResult, register_pass
from snncc.passes.rewrite import GraphEdit

MAX_BITS = 24  # float32 has a 24-bit significand: more levels than that are not distinguishable


def check_timesteps(timesteps, coding: str, most: int | None = None) -> int:
    """T as an int, or an OptionError naming the coding."""
    try:
        t = int(timesteps)
    except (TypeError, ValueError):
        raise OptionError(f"{coding}: timesteps must be an integer, got {timesteps!r}") from None
    if t < 1 or (most is not None and t > most):
        bound = f"between 1 and {most}" if most else ">= 1"
        raise OptionError(f"{coding}: timesteps must be {bound}, got {t}")
    return t


def check_gate(node, own_op: str) -> None:
    """RewriteError for a node a ReLU-only lowering to `own_op` cannot take (threshold missing, other gates,
    max_pool, a bare floor, populations of another coding)."""
    if node.op in ("relu", "clip"):
        raise RewriteError(node.name, f"{node.op} has no threshold yet; run balance-thresholds (or match-qcfs for "
                                      "Clip(0, c)) before lowering")
    if node.op in NON_RELU_GATES:
        raise RewriteError(node.name, f"this coding cannot express a {node.op} gate (only ReLU/Clip/QCFS); compile "
                                      "with --coding amos, which lowers any gate to a spiking circuit")
    if node.op == "max_pool":
        raise RewriteError(node.name, "run maxpool-to-relu-tree before lowering")
    if node.op == "floor":
        raise RewriteError(node.name, "a Floor that is not part of a QCFS activation cannot be lowered; run "
                                      "match-qcfs first, or export the activation as "
                                      "lam * clip(floor(z L / lam + 0.5) / L, 0, 1)")
    if node.spiking and node.op != own_op:
        raise RewriteError(node.name, f"{node.op} is already lowered to another coding")


@register_pass("lower-bits")
def lower_bits(graph, ctx, timesteps: int | None = None) -> PassResult:
    """qcfs{theta} and bounded_relu{theta} -> bits_neuron{theta, timesteps=T}: a bit-serial IF neuron (threshold
    halves every step) on the layer-windowed schedule whose decoded output is Delta * clip(floor(V / Delta), 0, L)
    with L = 2^T - 1, Delta = theta / L. Run `shift-bias` after it so that the floor becomes QCFS's rounding; the
    result is then exactly QCFS with L = 2^T - 1 (a qcfs node trained with another L is re-quantized on the
    2^T - 1 grid, and ctx.log says so). T defaults to the compile's --timesteps. Sets the header
    `schedule = windowed`."""
    steps = check_timesteps(ctx.timesteps if timesteps is None else timesteps, "bits", MAX_BITS)
    edit = GraphEdit(graph)
    for node in graph.nodes:
        if node.op in ("qcfs", "bounded_relu"):
            if node.op == "qcfs":
                if float(node.shift) != 0.5:
                    raise RewriteError(node.name, f"qcfs shift {node.shift} is not 1/2; bits coding reproduces "
                                                  "the rounding QCFS (shift 0.5) only")
                if int(node.levels) != bits_levels(steps):
                    ctx.log.append(f"lower-bits: %{node.name} was trained with L={node.levels}; T={steps} bits "
                                   f"quantize to L={bits_levels(steps)}")
            edit.replace(BitsNeuron(name=node.name, inputs=node.inputs, type=node.type, theta=node.theta,
                                    timesteps=steps))
        else:
            check_gate(node, "bits_neuron")
    if not edit.modified:
        return PassResult(graph, False)
    meta = dict(graph.meta)
    meta["schedule"] = "windowed"
    return PassResult(edit.apply().with_(meta=meta), True)


def low_latency_options(coding: str, balance: str, stat: str, percentile: float) -> str:
    """The balance-thresholds options of the low-latency codings (ReLU models without Clip/QCFS need data)."""
    if stat not in ("max", "percentile"):
        raise OptionError(f"--coding {coding} balances ReLU thresholds on ANN activations: use --stat max or "
                          f"percentile (got {stat})")
    return f"balance-thresholds{{mode={balance},q={percentile},stat={stat}}}"


def bits_pipeline(timesteps: int = 4, balance: str = "channel", stat: str = "percentile", percentile: float = 99.99,
                  **_: object) -> str:
    """`--coding bits`: bit-serial IF on the layer-windowed schedule (algorithms.md §3). QCFS and Clip(0, c)
    activations give data-free thresholds (match-qcfs); plain ReLUs are balanced on calibration data."""
    from snncc.pipeline import CANONICALIZE

    steps = check_timesteps(timesteps, "bits", MAX_BITS)
    return (f"{CANONICALIZE},{low_latency_options('bits', balance, stat, percentile)},"
            f"maxpool-to-relu-tree,lower-bits{{timesteps={steps}}},shift-bias,insert-delays")


def _register() -> None:
    from snncc.pipeline import register_coding

    register_coding("bits", bits_pipeline)


_register()


def relu_only_blockers(graph, view, coding: str, own_op: str) -> list[Blocker]:
    """What `check_gate` refuses, found on the graph before the data passes (relu/clip get thresholds there)."""
    blockers = gate_blockers(graph, NON_RELU_GATES, coding)
    for node in graph.nodes:
        if node.op == "max_pool" and not view.ran("maxpool-to-relu-tree"):
            blockers.append(Blocker(node.name, node.op, f"max_pool reaches the {coding} lowering",
                                    "run maxpool-to-relu-tree before it"))
        elif node.op == "floor":
            blockers.append(Blocker(node.name, node.op, "a Floor that is not part of a QCFS activation cannot be "
                                    "lowered", "export the activation as lam * clip(floor(z L / lam + 0.5) / L, 0, 1)"))
        elif node.spiking and node.op != own_op:
            blockers.append(Blocker(node.name, node.op, f"{node.op} is already lowered to another coding"))
    return blockers


@register_precondition("lower-bits")
def lower_bits_precondition(graph, view) -> list[Blocker]:
    """Bits coding lowers ReLU/Clip/QCFS populations only."""
    return relu_only_blockers(graph, view, "bits", "bits_neuron")
