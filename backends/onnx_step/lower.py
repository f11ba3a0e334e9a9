"""Lower one time step of a simulator program to a stateful ONNX model.

Concurrent schedule (rate, signed): the model maps (input frames, state) -> (next state, readout), where the state is
every population's membrane v (and signed coding's spike balance n), every spiking node's cumulative spike count and
every graph output's running sum; the runner feeds the next state back for t = 1..T and decodes
out_hat(T) = sum / T, as `schedule_concurrent` does. Windowed schedule (phase, amos, bits): one step is the whole
layer-by-layer window pass, so the model maps the input frame to the decoded outputs and the window's spike counts
(its only state, the counts, starts at zero).

Synapses stay Conv / MatMul with the compiled weights; neurons are elementwise ops with the kernels' exact float32
operations (see `neurons.py`). A synapse's sum may round differently from NumPy's BLAS, which can move a spike by
one step where the membrane lands on the threshold within an ulp.

Static values (an analog input and the linear maps of it alone: the same at every step) can be split off: with
`static` (the names of the kernels whose output is static), `lower_program` returns the step model with the static
frontier, the static values that non-static nodes read, as inputs `<node>` and a prologue model that computes
them from the input frames once per batch, as the NumPy schedule does at t = 1.

Names: input frame `<input>`; state `<node>.v`, `<node>.n`, `<node>.count`, `<output>.sum`, each with its next
value `<name>.next`; readout `<output>.value` (this step's value of the output).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from snncc.backends.onnx_step import neurons
from snncc.backends.onnx_step.builder import GraphBuilder
from snncc.backends.simulator.kernels import Program, ProgramError


@dataclass(frozen=True)
class StateSpec:
    """One state tensor: the model input `name`, its next value `next_name`, per-sample shape and initial value."""

    name: str
    next_name: str
    node: str
    kind: str           # "v", "n", "count" or "sum"
    initial: np.ndarray


@dataclass(frozen=True)
class StepModel:
    """A lowered program: the ONNX model and how to drive it."""

    model: onnx.ModelProto
    schedule: str
    frames: tuple[str, ...]             # program input names (= model input names)
    states: tuple[StateSpec, ...]
    readouts: dict                      # program output -> model output (this step's value)
    prologue: onnx.ModelProto | None = None   # frames -> static frontier values (when lowered with `static`)
    static_inputs: tuple[str, ...] = ()       # the step model's inputs that the prologue computes

    def counts(self) -> dict[str, StateSpec]:
        """Spiking node -> its count state."""
        return {s.node: s for s in self.states if s.kind == "count"}

    def sums(self) -> dict[str, StateSpec]:
        """Program output -> its running-sum state (concurrent schedule)."""
        return {s.node: s for s in self.states if s.kind == "sum"}


class _Lowering:
    def __init__(self, program: Program):
        self.program = program
        self.b = GraphBuilder()
        self.states: list[StateSpec] = []
        self.values: dict[str, str] = {}

    def state(self, node: str, kind: str, shape, initial) -> str:
        name = f"{node}.{kind}"
        init = np.ascontiguousarray(np.broadcast_to(np.asarray(initial, np.float32), shape), np.float32)
        self.b.add_input(name, shape)
        self.states.append(StateSpec(name, f"{name}.next", node, kind, init))
        return name

    def finish_state(self, name: str, value: str, shape) -> None:
        self.b.add_output(value, f"{name}.next", shape)

    def count(self, kernel, spikes: str, signed: bool = False) -> None:
        """count += spikes (|spikes| when signed), as `NeuronKernel.step`."""
        previous = self.state(kernel.name, "count", kernel.shape, 0.0)
        if signed:
            spikes = self.b.op("Abs", [spikes], f"{kernel.name}.abs")
        self.finish_state(previous, self.b.op("Add", [previous, spikes], f"{kernel.name}.counted"), kernel.shape)


def _frontier(program: Program, static: frozenset[str]) -> list[str]:
    """Static nodes that a non-static node or a graph output reads, in program order."""
    read = {s for k in program.kernels if k.name not in static for s in k.inputs} | set(program.outputs)
    return [k.name for k in program.kernels if k.name in static and k.name in read]


def _prologue(program: Program, static: frozenset[str], frontier: list[str]) -> onnx.ModelProto:
    low = _Lowering(program)
    for kernel in program.kernels:
        if kernel.name in static:
            low.values[kernel.name] = _LOWERINGS[kernel.op](low, kernel, [low.values[s] for s in kernel.inputs])
    for name in frontier:
        low.b.add_output(low.values[name], f"{name}.static", program.shapes[name])
    model = low.b.model("snncc_static_prologue")
    onnx.checker.check_model(model, full_check=True)
    return model


def lower_program(program: Program, static: frozenset[str] = frozenset()) -> StepModel:
    """The ONNX step model of `program` (see the module docstring); with `static`, the static values come from a
    prologue model."""
    static = frozenset(static) if program.schedule == "concurrent" else frozenset()
    frontier = _frontier(program, static) if static else []
    low = _Lowering(program)
    b = low.b
    windowed = program.schedule == "windowed"
    for kernel in program.kernels:
        if kernel.name in static:
            if kernel.name in frontier:
                low.values[kernel.name] = b.add_input(kernel.name, program.shapes[kernel.name])
            continue
        inputs = [low.values[s] for s in kernel.inputs]
        lower = _LOWERINGS.get(kernel.op)
        if lower is None:
            raise ProgramError(f"node %{kernel.name} ({kernel.op}): no ONNX step lowering for this op")
        if windowed and kernel.op in ("if_neuron", "signed_neuron"):
            kernel.fail("is a concurrent-schedule neuron in a windowed program")
        low.values[kernel.name] = lower(low, kernel, inputs)
    readouts = {}
    for out in program.outputs:
        shape = program.shapes[out]
        readouts[out] = b.add_output(low.values[out], f"{out}.value", shape)
        if not windowed:
            total = low.state(out, "sum", shape, 0.0)
            low.finish_state(total, b.op("Add", [total, low.values[out]], f"{out}.summed"), shape)
    doc = (f"snncc step model ({program.schedule} schedule, coding {program.meta.get('coding', '?')}): "
           "inputs are the input frames and the state; outputs the next state (<name>.next) and the readout.")
    model = b.model("snncc_step", doc)
    onnx.checker.check_model(model, full_check=True)
    frames = tuple(k.name for k in program.kernels if k.op == "input" and k.name not in static)
    if not frontier:
        return StepModel(model, program.schedule, frames, tuple(low.states), readouts)
    return StepModel(model, program.schedule, frames, tuple(low.states), readouts,
                     _prologue(program, static, frontier), tuple(frontier))


# -- per-op lowerings: (lowering, kernel, input value names) -> output value name -------------------------------

def _input(low, kernel, inputs):
    return low.b.add_input(kernel.name, kernel.shape)


def _if_neuron(low, kernel, inputs):
    v = low.state(kernel.name, "v", kernel.shape, np.float32(kernel.v0) * kernel.theta)
    value, spikes, v_next = neurons.if_neuron(low.b, kernel, inputs[0], v)
    low.finish_state(v, v_next, kernel.shape)
    low.count(kernel, spikes)
    return value


def _signed_neuron(low, kernel, inputs):
    v = low.state(kernel.name, "v", kernel.shape, np.float32(kernel.v0) * kernel.theta)
    n = low.state(kernel.name, "n", kernel.shape, 0.0)
    value, spikes, v_next, n_next = neurons.signed_neuron(low.b, kernel, inputs[0], v, n)
    low.finish_state(v, v_next, kernel.shape)
    low.finish_state(n, n_next, kernel.shape)
    low.count(kernel, spikes, signed=True)
    return value


def _windowed(lower_neuron):
    def lowering(low, kernel, inputs):
        value, spikes = lower_neuron(low.b, kernel, inputs[0])
        low.count(kernel, spikes)
        return value
    return lowering


def _dense(low, kernel, inputs):
    b, n = low.b, kernel.name
    x = inputs[0]
    rank = len(kernel.input_shapes[0]) + 1
    axis = kernel.axis + 1
    weight_t = b.const(kernel.weight_t, f"{n}.weight_t")
    if kernel.last_axis:
        y = b.op("MatMul", [x, weight_t], f"{n}.matmul")
    else:
        perm = [0] + [a for a in range(1, rank) if a != axis] + [axis]
        moved = b.op("Transpose", [x], f"{n}.moved", perm=perm)
        y = b.op("MatMul", [moved, weight_t], f"{n}.matmul")
        y = b.op("Transpose", [y], f"{n}.back", perm=[int(i) for i in np.argsort(perm)])
    if kernel.bias is not None:
        y = b.op("Add", [y, b.const(kernel.bias, f"{n}.bias")], f"{n}.biased")
    return y


def _conv(low, kernel, inputs):
    b, n = low.b, kernel.name
    weight = b.const(kernel.const("weight"), f"{n}.weight")
    y = b.op("Conv", [inputs[0], weight], f"{n}.conv", group=kernel.groups, strides=list(kernel.strides),
             pads=list(kernel.pads), dilations=list(kernel.dilations))
    if kernel.bias is not None:
        y = b.op("Add", [y, b.const(kernel.bias.reshape(-1, 1, 1), f"{n}.bias")], f"{n}.biased")
    return y


def _graph_conv(low, kernel, inputs):
    b, n = low.b, kernel.name
    xw = b.op("MatMul", [inputs[0], b.const(kernel.weight_t, f"{n}.weight_t")], f"{n}.xw")
    y = b.op("MatMul", [b.const(kernel.adjacency, f"{n}.adjacency"), xw], f"{n}.axw")
    if kernel.bias is not None:
        y = b.op("Add", [y, b.const(kernel.bias, f"{n}.bias")], f"{n}.biased")
    return y


def _pool_windows(low, kernel, x, base):
    """(batch, C, KH*KW, OH*OW)-free formulation: zero-pad explicitly (padding counts as 0, as in `PaddedInput`)."""
    top, left, bottom, right = kernel.pads
    if any(kernel.pads):
        pads = low.b.const(np.array([0, 0, top, left, 0, 0, bottom, right], np.int64), "pads", np.int64)
        x = low.b.op("Pad", [x, pads], f"{base}.padded")
    return x


def _avg_pool(low, kernel, inputs):
    """The window's taps as strided slices of the zero-padded input, added in tap order, times 1 / count: the
    same float32 sums as the NumPy kernel (sequential over taps)."""
    b, n = low.b, kernel.name
    kh, kw = kernel.kernel
    (s0, s1), (oh, ow) = kernel.strides, kernel.shape[1:]
    x = _pool_windows(low, kernel, inputs[0], n)
    total = None
    for i in range(kh):
        for j in range(kw):
            starts = b.const(np.array([i, j], np.int64), "starts", np.int64)
            ends = b.const(np.array([i + s0 * (oh - 1) + 1, j + s1 * (ow - 1) + 1], np.int64), "ends", np.int64)
            axes = b.const(np.array([2, 3], np.int64), "axes", np.int64)
            steps = b.const(np.array([s0, s1], np.int64), "steps", np.int64)
            tap = b.op("Slice", [x, starts, ends, axes, steps], f"{n}.tap")
            total = tap if total is None else b.op("Add", [total, tap], f"{n}.sum")
    inv = kernel.inv_count.reshape(1, oh, ow)
    if kernel.tiles:
        inv = kernel.inv_count[0]
    return b.op("Mul", [total, b.const(inv, f"{n}.inv_count")], f"{n}.avg")


def _global_avg_pool(low, kernel, inputs):
    return low.b.op("GlobalAveragePool", [inputs[0]], f"{kernel.name}.gap")


def _first_spike_pool(low, kernel, inputs):
    b, n = low.b, kernel.name
    kh, kw = kernel.attr("kernel")
    x = _pool_windows(low, kernel, inputs[0], n)
    y = b.op("MaxPool", [x], f"{n}.max", kernel_shape=[kh, kw], strides=list(kernel.strides))
    spikes = neurons.spikes_of(b, b.op("Greater", [y, b.const(0.0, "zero")], f"{n}.fired"), f"{n}.spikes")
    low.count(kernel, spikes)
    return y


def _add(low, kernel, inputs):
    """The NumPy kernel's c0 x0 + c1 x1 + ... in order, where a coefficient of 1 adds the input as it is and -1
    negates it (x * 1 = x and a + x * -1 = a - x exactly in float32)."""
    b, n = low.b, kernel.name
    first = kernel.coeffs[0]
    if first == 1:
        out = inputs[0]
    elif first == -1:
        out = b.op("Neg", [inputs[0]], f"{n}.term")
    else:
        out = b.op("Mul", [inputs[0], b.const(first, f"{n}.c0")], f"{n}.term")
    for i, (coeff, value) in enumerate(zip(kernel.coeffs[1:], inputs[1:]), start=1):
        if coeff == -1:
            out = b.op("Sub", [out, value], f"{n}.sum")
            continue
        term = value if coeff == 1 else b.op("Mul", [value, b.const(coeff, f"{n}.c{i}")], f"{n}.term")
        out = b.op("Add", [out, term], f"{n}.sum")
    return out


def _affine(low, kernel, inputs):
    b, n = low.b, kernel.name
    y = inputs[0]
    if kernel.scale is not None:
        y = b.op("Mul", [y, b.const(kernel.scale, f"{n}.scale")], f"{n}.scaled")
    if kernel.shift is not None:
        y = b.op("Add", [y, b.const(kernel.shift, f"{n}.shift")], f"{n}.shifted")
    return y


def _mul(low, kernel, inputs):
    return low.b.op("Mul", inputs, f"{kernel.name}.mul")


def _reshape(low, kernel, inputs):
    shape = low.b.const(np.array([-1, *kernel.shape], np.int64), f"{kernel.name}.shape", np.int64)
    return low.b.op("Reshape", [inputs[0], shape], f"{kernel.name}.reshaped")


def _transpose(low, kernel, inputs):
    return low.b.op("Transpose", inputs, f"{kernel.name}.transposed", perm=[0] + [p + 1 for p in kernel.perm])


def _concat(low, kernel, inputs):
    return low.b.op("Concat", inputs, f"{kernel.name}.concat", axis=kernel.axis + 1)


def _delay(low, kernel, inputs):
    return inputs[0]


_LOWERINGS = {
    "input": _input,
    "if_neuron": _if_neuron,
    "signed_neuron": _signed_neuron,
    "phase_neuron": _windowed(neurons.phase_neuron),
    "bits_neuron": _windowed(neurons.bits_neuron),
    "fs_neuron": _windowed(neurons.fs_neuron),
    "ttfs_neuron": _windowed(neurons.ttfs_neuron),
    "dense": _dense,
    "conv": _conv,
    "graph_conv": _graph_conv,
    "avg_pool": _avg_pool,
    "global_avg_pool": _global_avg_pool,
    "first_spike_pool": _first_spike_pool,
    "add": _add,
    "affine": _affine,
    "mul": _mul,
    "flatten": _reshape,
    "reshape": _reshape,
    "transpose": _transpose,
    "concat": _concat,
    "delay": _delay,
}
"""op name -> its lowering; an op without one (a plugin's kernel) is refused with a clear error."""
