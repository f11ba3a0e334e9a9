"""lower-signed: ReLU-like populations with known thresholds become dual-threshold IF neurons with signed spikes
(`--coding signed`, algorithms.md §5)."""

from __future__ import annotations

import math

from snncc.errors import OptionError
from snncc.ir import SignedNeuron
from snncc.passes.lower_bits import check_gate, check_timesteps, low_latency_options, relu_only_blockers
from snncc.passes.preconditions import register_precondition
from snncc.passes.lower_rate import LOWERED_FROM
from snncc.passes.registry import PassResult, register_pass
from snncc.passes.rewrite import GraphEdit


def parse_per_layer(text: str) -> dict[str, float]:
    """`"conv1:0.1;fc1:-inf"` -> {"conv1": 0.1, "fc1": -inf} (per-layer theta_n overrides)."""
    out = {}
    for item in str(text).split(";"):
        if not item.strip():
            continue
        name, sep, value = item.rpartition(":")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise OptionError(f"theta_n_at item {item!r} must be NODE:VALUE (items separated by ';')")
    return out


@register_pass("lower-signed")
def lower_signed(graph, ctx, timesteps: int | None = None, theta_n: float = 0.0, theta_n_at: str = "") -> PassResult:
    """qcfs{theta} and bounded_relu{theta} -> signed_neuron{theta, out_scale=theta, v0, theta_n, timesteps=T}
    (v0 = the qcfs shift, 1/2 for the standard QCFS and for bounded_relu):
    dual-threshold IF neurons on the concurrent schedule. A +1 spike fires at v >= theta; a -1 spike fires at
    v < theta_n * theta while the neuron's net count is positive, cancelling an earlier excess spike. On constant
    input the decoded rate equals QCFS(z; theta, L = T).

    theta_n is a fraction of theta (default 0, the spec's frame; `-inf` disables negative spikes). `theta_n_at`
    overrides it per population: `"conv1:0.1;fc1:-inf"`. It must not exceed v0."""
    steps = check_timesteps(ctx.timesteps if timesteps is None else timesteps, "signed")
    per_layer = parse_per_layer(theta_n_at)
    edit = GraphEdit(graph)
    lowered = set()
    for node in graph.nodes:
        if node.op in ("qcfs", "bounded_relu"):
            # QCFS's shift is the initial membrane that makes the count floor(z T / theta + shift) (1/2: round)
            v0 = float(node.shift) if node.op == "qcfs" else 0.5
            if node.op == "qcfs" and int(node.levels) != steps:
                ctx.log.append(f"lower-signed: %{node.name} was trained with L={node.levels}; at T={steps} the "
                               f"first layer equals QCFS with L={steps}")
            value = float(per_layer.get(node.name, theta_n))
            if math.isnan(value) or value > v0:
                raise OptionError(f"theta_n={value} for %{node.name}: it must be <= {v0} (v0; a larger negative "
                                  "threshold would fire -1 spikes right after every +1 spike) or -inf")
            edit.replace(SignedNeuron(name=node.name, inputs=node.inputs, type=node.type, theta=node.theta,
                                      out_scale=node.theta, v0=v0, theta_n=value, timesteps=steps))
            ctx.stats.setdefault(LOWERED_FROM, {})[node.name] = node
            lowered.add(node.name)
        else:
            check_gate(node, "signed_neuron")
    unknown = sorted(set(per_layer) - lowered)
    if unknown:
        raise OptionError(f"theta_n_at names {', '.join('%' + u for u in unknown)}, which are not populations "
                          "lowered by lower-signed")
    return PassResult(edit.apply(), edit.modified)


def signed_pipeline(timesteps: int = 4, theta_n: float | None = None, balance: str = "channel",
                    stat: str = "percentile", percentile: float = 99.99, calibrate_snn: bool | None = None,
                    has_calibration: bool = False, **_: object) -> str:
    """`--coding signed`: dual-threshold IF neurons with signed spikes on the concurrent schedule (algorithms.md §5).
    `theta_n` (CLI --theta-n) is the negative threshold as a fraction of theta; default 0. calibrate-snn
    (docs/low_latency.md) after the lowering: see `snncc.pipeline.calibrate_snn_step`."""
    from snncc.pipeline import CANONICALIZE, calibrate_snn_step

    steps = check_timesteps(timesteps, "signed")
    value = 0.0 if theta_n is None else float(theta_n)
    if math.isnan(value) or value > 0.5:
        raise OptionError(f"--theta-n {theta_n}: it must be <= 0.5 or -inf (a fraction of theta)")
    return (f"{CANONICALIZE},{low_latency_options('signed', balance, stat, percentile)},"
            f"maxpool-to-relu-tree,lower-signed{{theta_n={value},timesteps={steps}}}"
            f"{calibrate_snn_step(steps, calibrate_snn, has_calibration)},fold-out-scale")


def _register() -> None:
    from snncc.pipeline import register_coding

    register_coding("signed", signed_pipeline)


_register()


@register_precondition("lower-signed")
def lower_signed_precondition(graph, view) -> list[Blocker]:
    """Signed coding lowers ReLU/Clip/QCFS populations only."""
    return relu_only_blockers(graph, view, "signed", "signed_neuron")
