"""ONNX lowerings of the simulator's neuron kernels: the same float32 (float64 for FS) elementwise operations, in the
same order, as `backends/simulator/kernels/*_neuron.py`, so spikes agree bit for bit given the same input current."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from snncc.backends.onnx_step.builder import GraphBuilder


def spikes_of(b: GraphBuilder, fired: str, base: str) -> str:
    """A bool mask as float32 0/1."""
    return b.op("Cast", [fired], base, to=TensorProto.FLOAT)


def scaled(b: GraphBuilder, kernel, spikes: str) -> str:
    """value = spikes * out_scale (absent: the spikes themselves), like `NeuronKernel.emit`."""
    if kernel.out_scale is None:
        return spikes
    return b.op("Mul", [spikes, b.const(kernel.out_scale, f"{kernel.name}.out_scale")], f"{kernel.name}.value")


def if_neuron(b: GraphBuilder, kernel, current: str, v: str):
    """v += I;  s = [v >= theta];  v -= theta s.  Returns (value, spikes, next v)."""
    n = kernel.name
    theta = b.const(kernel.theta, f"{n}.theta")
    v = b.op("Add", [v, current], f"{n}.v_in")
    spikes = spikes_of(b, b.op("GreaterOrEqual", [v, theta], f"{n}.fired"), f"{n}.spikes")
    charge = b.op("Mul", [spikes, theta], f"{n}.charge")
    v_next = b.op("Sub", [v, charge], f"{n}.v_out")
    # rate coding reads a spike as theta: the value is the reset charge itself (one pass fewer)
    return (charge if kernel.scale_is_theta else scaled(b, kernel, spikes)), spikes, v_next


def signed_neuron(b: GraphBuilder, kernel, current: str, v: str, count: str):
    """v += I;  s = +1 if v >= theta, -1 if v < low and n > 0 (and not +1), else 0;  v -= theta s;  n += s.
    Returns (value, spikes, next v, next n)."""
    n = kernel.name
    theta = b.const(kernel.theta, f"{n}.theta")
    v = b.op("Add", [v, current], f"{n}.v_in")
    pos = b.op("GreaterOrEqual", [v, theta], f"{n}.pos")
    spikes = spikes_of(b, pos, f"{n}.up")
    if kernel.low is not None:
        neg = b.op("Less", [v, b.const(kernel.low, f"{n}.low")], f"{n}.below")
        neg = b.op("And", [neg, b.op("Greater", [count, b.const(0.0, "zero")], f"{n}.owed")], f"{n}.neg_owed")
        neg = b.op("And", [neg, b.op("Not", [pos], f"{n}.not_pos")], f"{n}.neg")
        spikes = b.op("Sub", [spikes, spikes_of(b, neg, f"{n}.down")], f"{n}.spikes")
    v_next = b.op("Sub", [v, b.op("Mul", [b.const(kernel.theta, f"{n}.theta"), spikes], f"{n}.charge")],
                  f"{n}.v_out")
    n_next = b.op("Add", [count, spikes], f"{n}.n_out")
    return scaled(b, kernel, spikes), spikes, v_next, n_next


def _frame_sum(b: GraphBuilder, name: str, terms: list[str], base: str) -> str:
    """terms[0] + terms[1] + ... in order (a windowed kernel's `out += ...` loop, starting from 0)."""
    total = terms[0]
    for term in terms[1:]:
        total = b.op("Add", [total, term], base)
    return total


def _weighted_decode(b: GraphBuilder, name: str, frames: list[str], weights) -> str:
    """sum_k frames[k] * weights[k], in phase order (`WindowedNeuronKernel.decode`)."""
    terms = [b.op("Mul", [f, b.const(weights[k], f"{name}.w{k}")], f"{name}.term") for k, f in enumerate(frames)]
    return _frame_sum(b, name, terms, f"{name}.decoded")


def phase_neuron(b: GraphBuilder, kernel, current: str):
    """Single spike: s_k = [V >= thr_k] and silent before k. Multi-spike: r = V; s_k = [r >= L_k]; r -= L_k s_k.
    Returns (value, spike count of the window)."""
    n = kernel.name
    frames = []
    if kernel.multi_spike:
        frames = _greedy_frames(b, n, current, kernel.weights[:kernel.phases])
        terms = [b.op("Mul", [f, b.const(np.float32(2 ** (kernel.phases - 1 - k)), f"{n}.pow")], f"{n}.term")
                 for k, f in enumerate(frames)]
        level = _frame_sum(b, n, terms, f"{n}.level")
        value = b.op("Mul", [level, b.const(kernel.weights[-1], f"{n}.w{kernel.phases - 1}")], f"{n}.value")
    else:
        silent = None
        for k in range(kernel.phases):
            fired = b.op("GreaterOrEqual", [current, b.const(kernel.thresholds[k], f"{n}.thr{k}")], f"{n}.above")
            if silent is not None:
                fired = b.op("And", [silent, fired], f"{n}.fired")
            frames.append(spikes_of(b, fired, f"{n}.frame{k}"))
            not_fired = b.op("Not", [fired], f"{n}.not_fired")
            silent = not_fired if silent is None else b.op("And", [silent, not_fired], f"{n}.silent")
        value = _weighted_decode(b, n, frames, kernel.weights)
    return value, _frame_sum(b, n, frames, f"{n}.spikes")


def _greedy_frames(b: GraphBuilder, n: str, current: str, weights) -> list[str]:
    """r = V; for each level w: s = [r >= w]; r -= w where s. The spike frames, one per level."""
    frames = []
    residual = current
    for k, w in enumerate(weights):
        level = b.const(w, f"{n}.w{k}")
        fired = b.op("GreaterOrEqual", [residual, level], f"{n}.fired{k}")
        frames.append(spikes_of(b, fired, f"{n}.frame{k}"))
        residual = b.op("Where", [fired, b.op("Sub", [residual, level], f"{n}.less"), residual], f"{n}.residual")
    return frames


def bits_neuron(b: GraphBuilder, kernel, current: str):
    """r = V; for each bit: s = [r >= w];  r -= w where s.  Returns (value, spike count of the window)."""
    n = kernel.name
    frames = _greedy_frames(b, n, current, kernel.weights[:kernel.steps])
    return _weighted_decode(b, n, frames, kernel.weights), _frame_sum(b, n, frames, f"{n}.spikes")


def fs_neuron(b: GraphBuilder, kernel, current: str):
    """FS circuit in float64: v = V; z_t = [v > T_t] (>= when ge); v -= h_t z_t; y = sum_t d_t z_t + e, then
    float32. Returns (value, spike count of the window)."""
    n = kernel.name
    membrane = b.op("Cast", [current], f"{n}.v64", to=TensorProto.DOUBLE)
    compare = "GreaterOrEqual" if kernel.ge else "Greater"
    frames, zs = [], []
    for t in range(kernel.steps):
        fired = b.op(compare, [membrane, b.const(kernel.thresholds[t], f"{n}.thr{t}", np.float64)], f"{n}.fired")
        z = b.op("Cast", [fired], f"{n}.z", to=TensorProto.DOUBLE)
        zs.append(z)
        frames.append(spikes_of(b, fired, f"{n}.frame{t}"))
        reset = b.op("Mul", [z, b.const(kernel.resets[t], f"{n}.h{t}", np.float64)], f"{n}.reset")
        membrane = b.op("Sub", [membrane, reset], f"{n}.v64")
    terms = [b.op("Mul", [z, b.const(kernel.weights[t], f"{n}.d{t}", np.float64)], f"{n}.term")
             for t, z in enumerate(zs)]
    y = _frame_sum(b, n, terms, f"{n}.y64")
    y = b.op("Add", [y, b.const(kernel.bias_offset, f"{n}.e", np.float64)], f"{n}.y64")
    value = b.op("Cast", [y], f"{n}.value", to=TensorProto.FLOAT)
    return value, _frame_sum(b, n, frames, f"{n}.spikes")


def ttfs_neuron(b: GraphBuilder, kernel, current: str):
    """s_k = [V + drive_k >= theta] and silent before k; the value is the weight of the step that fired (0 when
    none). Returns (value, spike count of the window)."""
    n = kernel.name
    theta = b.const(kernel.theta, f"{n}.theta")
    value, silent, frames = b.const(0.0, "zero"), None, []
    for k in range(kernel.steps):
        drive = b.op("Add", [current, b.const(kernel.drive[k], f"{n}.drive{k}")], f"{n}.u")
        fired = b.op("GreaterOrEqual", [drive, theta], f"{n}.above")
        if silent is not None:
            fired = b.op("And", [silent, fired], f"{n}.fired")
        frames.append(spikes_of(b, fired, f"{n}.frame{k}"))
        value = b.op("Where", [fired, b.const(kernel.weights[k], f"{n}.w{k}"), value], f"{n}.value")
        not_fired = b.op("Not", [fired], f"{n}.not_fired")
        silent = not_fired if silent is None else b.op("And", [silent, not_fired], f"{n}.silent")
    return value, _frame_sum(b, n, frames, f"{n}.spikes")
