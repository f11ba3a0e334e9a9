"""calibrate-snn: post-conversion calibration of rate and signed populations for low T, no retraining
(docs/low_latency.md). Layer by layer on calibration data, each population's neuron is fitted to the ANN activation
it replaces: initial membrane, threshold scale and a per-channel bias correction."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from snncc.errors import DataError, OptionError
from snncc.ir import Graph, Relu, run
from snncc.passes.current_shift import shift_current
from snncc.passes.lower_rate import LOWERED_FROM
from snncc.passes.max_input_current import ancestors_graph
from snncc.passes.registry import PassResult, register_pass
from snncc.passes.rewrite import GraphEdit, channel_axis

POPULATIONS = ("if_neuron", "signed_neuron")
V0_GRID = (0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875)
SCALE_GRID = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25)
BIAS_ROUNDS = 2


@dataclass(frozen=True)
class NeuronFit:
    """One population's calibrated neuron: initial membrane v0 (fraction of theta), theta scale s (theta' = s theta,
    spikes carry theta') and the per-channel current correction `shift` (None: none), with its calibration error."""

    v0: float
    scale: float
    shift: np.ndarray | None
    error: float


def decoded_rate(currents: np.ndarray, theta: np.ndarray, v0: float, theta_n: float | None) -> np.ndarray:
    """The decoded output theta * n(T) / T of a soft-reset IF population (theta_n None) or of a dual-threshold signed
    population (algorithms.md §5) fed the per-step currents (T, N, ...), as the simulator's kernels compute it."""
    theta = np.asarray(theta, np.float32)
    v = np.broadcast_to(np.float32(v0) * theta, currents.shape[1:]).astype(np.float32)
    n = np.zeros(currents.shape[1:], np.float32)
    low = None if theta_n is None or not np.isfinite(theta_n) else np.float32(theta_n) * theta
    for current in currents:
        v += current
        pos = v >= theta
        s = pos.astype(np.float32)
        if low is not None:
            s -= ((v < low) & (n > 0) & ~pos).astype(np.float32)
        v -= theta * s
        n += s
    return n * theta / np.float32(len(currents))


def channel_mean(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Mean over samples and positions per channel, broadcast-ready against the per-sample `shape`."""
    axis = 1 + channel_axis(shape) if shape else None
    if axis is None:
        return np.asarray(values.mean(), np.float32)
    other = tuple(a for a in range(values.ndim) if a != axis)
    return np.expand_dims(values.mean(axis=other), tuple(a - 1 for a in other if a > 0)).astype(np.float32)


def fit_neuron(currents: np.ndarray, target: np.ndarray, theta: np.ndarray, v0: float,
               theta_n: float | None) -> NeuronFit:
    """Search, on the population's recorded input currents, v0 over a grid (ECL's membrane initialisation), then a
    per-layer theta scale (Deng & Gu's threshold shift), then correct the current per channel by the expected
    conversion error E[a_ANN - a_SNN] (Li et al. 2021's bias correction), BIAS_ROUNDS times. Each step is kept only
    when it lowers the mean squared error between the decoded rate and the ANN activation `target`."""
    def error(v0_: float, scale: float, shift: np.ndarray | None) -> tuple[float, np.ndarray]:
        fed = currents if shift is None else currents + shift
        rate = decoded_rate(fed, theta * np.float32(scale), v0_, theta_n)
        return float(np.mean((rate - target) ** 2)), rate

    best = NeuronFit(v0, 1.0, None, error(v0, 1.0, None)[0])
    for candidate in V0_GRID:
        if theta_n is not None and np.isfinite(theta_n) and candidate < theta_n:
            continue   # a signed neuron's negative threshold must not exceed v0
        err = error(candidate, 1.0, None)[0]
        if err < best.error:
            best = NeuronFit(candidate, 1.0, None, err)
    for scale in SCALE_GRID:
        err = error(best.v0, scale, None)[0]
        if err < best.error:
            best = NeuronFit(best.v0, scale, None, err)
    shift = np.zeros_like(channel_mean(target, target.shape[1:]))
    for _ in range(BIAS_ROUNDS):
        rate = error(best.v0, best.scale, best.shift)[1]
        shift = (shift + channel_mean(target - rate, target.shape[1:])).astype(np.float32)
        err = error(best.v0, best.scale, shift)[0]
        if err >= best.error:
            break
        best = NeuronFit(best.v0, best.scale, shift, err)
    return best


def apply_fit(graph: Graph, name: str, fit: NeuronFit) -> Graph:
    """The graph with population `name` refitted: new v0, theta (and out_scale) scaled, its current shifted."""
    node = graph.node(name)
    if fit.shift is not None:
        graph = shift_current(graph, name, fit.shift)
        node = graph.node(name)
    edit = GraphEdit(graph)
    changes = {"v0": float(fit.v0)}
    if fit.scale != 1.0:
        theta = (graph.constants[node.theta] * np.float32(fit.scale)).astype(np.float32)
        ref = edit.constant(f"{name}.theta", theta)
        changes.update(theta=ref, out_scale=ref if node.out_scale == node.theta else node.out_scale)
    edit.replace(node.replace(**changes))
    return edit.apply()


def source_ann(graph: Graph, origin: dict | None = None) -> Graph:
    """The graph with every population back to its source activation: the QCFS node it was lowered from (`origin`,
    recorded by the lowering), else a plain ReLU. That is the source ANN (the max-pool trees are exact in ANN mode),
    whose activations are the targets; a signed population's own ANN mode is already quantised to T levels."""
    origin = origin or {}
    edit = GraphEdit(graph)
    for node in graph.nodes:
        if node.op in POPULATIONS:
            source = origin.get(node.name)
            edit.replace(source.replace(inputs=node.inputs) if source is not None and source.op == "qcfs"
                         else Relu(name=node.name, inputs=node.inputs, type=node.type))
    return edit.apply()


def agreement(graph: Graph, x: np.ndarray, reference: np.ndarray, timesteps: int) -> tuple[float, float]:
    """(fraction of samples whose SNN prediction at T equals the ANN's, mean squared error of the decoded logits)."""
    from snncc.backends.simulator import simulate

    out = simulate(graph, x, timesteps).outputs[timesteps]
    return float(np.mean(out.argmax(-1) == reference.argmax(-1))), float(np.mean((out - reference) ** 2))


def better(new: tuple[float, float], old: tuple[float, float]) -> bool:
    """Calibration agreement improves: more predictions agree with the ANN's, or as many with closer logits."""
    return new[0] > old[0] or (new[0] == old[0] and new[1] < old[1])


@register_pass("calibrate-snn")
def calibrate_snn(graph, ctx, samples: int = 256) -> PassResult:
    """For each if_neuron / signed_neuron in topological order (except those lowered from QCFS), with the populations before it already calibrated:
    simulate the network up to its input for T steps on the calibration data, record the per-step current I(t),
    and fit the neuron (`fit_neuron`) so that its decoded rate theta' n(T) / T approaches the source ANN's
    activation max(z_ANN, 0). The correction E[a_ANN - a_SNN] per channel is added to the layer's bias (an
    `affine{shift}` where the current is not a conv/dense read by this population alone).

    Safeguard: a population's fit (then the same without the threshold scale) is kept only when the whole network's
    calibration agreement improves (`better`: predictions equal to the ANN's on the calibration data, then the
    logits' mean squared error); otherwise that population keeps its original neuron. The calibrated network is
    therefore never further from the ANN on the calibration data than the uncalibrated one."""
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise OptionError(f"calibrate-snn{{samples={samples}}}: the number of samples must be an integer >= 1")
    if ctx.calibration is None:
        raise DataError("calibrate-snn fits the spiking neurons on calibration data: pass --calib FILE.npz "
                        "(or --no-calibrate-snn)")
    origin = ctx.stats.get(LOWERED_FROM, {})
    # QCFS-trained populations are exact at T = L by construction: they stay as lowered
    populations = [n for n in graph.nodes if n.op in POPULATIONS and getattr(origin.get(n.name), "op", "") != "qcfs"]
    if not populations:
        ctx.log.append("calibrate-snn: no population to calibrate (none, or all lowered from QCFS)")
        return PassResult(graph, False)
    x = np.asarray(ctx.calibration, np.float32)[:samples]
    steps = int(ctx.timesteps)
    producers = {n.inputs[0]: n.name for n in populations}
    ann: dict[str, np.ndarray] = {}

    def observe(name: str, value: np.ndarray) -> None:
        if name in producers:
            ann[producers[name]] = np.maximum(value, 0).astype(np.float32)

    reference = run(source_ann(graph, origin), x, observe=observe)[graph.outputs[0]]
    current = graph
    first = score = agreement(graph, x, reference, steps)
    for node in populations:
        node = current.node(node.name)
        currents = _trace(ancestors_graph(current, node.inputs[0]), x, steps)
        theta_n = float(node.theta_n) if node.op == "signed_neuron" else None
        fit = fit_neuron(currents, ann[node.name], current.constants[node.theta], float(node.v0), theta_n)
        for candidate in (fit, replace(fit, scale=1.0)):
            if candidate.v0 == node.v0 and candidate.scale == 1.0 and candidate.shift is None:
                continue
            trial = apply_fit(current, node.name, candidate)
            trial_score = agreement(trial, x, reference, steps)
            if better(trial_score, score):
                current, score = trial, trial_score
                break
    ctx.log.append(f"calibrate-snn: agreement with the ANN on {len(x)} calibration samples "
                   f"{100 * first[0]:.2f}% -> {100 * score[0]:.2f}%")
    return PassResult(current, current is not graph)


def _trace(graph: Graph, x: np.ndarray, steps: int) -> np.ndarray:
    from snncc.backends.simulator import trace_steps

    return trace_steps(graph, x, steps)
