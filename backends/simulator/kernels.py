"""Step kernels of the snncc simulator: one self-contained NumPy module that runs a *program description*.

This file is copied verbatim into every emitted program (`snn_program.py`), so it imports only NumPy and the standard
library (tqdm lazily, and only when a progress bar is asked for). The in-process runner and the emitted program run
this same code, so they agree by construction.

Program description (JSON-able; nodes in topological order, shapes per sample, the batch dimension implicit):

    {"format": "snncc-sim-program", "version": 1, "schedule": "concurrent",
     "inputs": ["x"], "outputs": ["fc2"], "meta": {"coding": "rate", ...},
     "nodes": [{"name": "x", "op": "input", "inputs": [], "shape": [64], "attrs": {}, "consts": {}},
               {"name": "fc1", "op": "dense", "inputs": ["x"], "shape": [32], "attrs": {"axis": -1},
                "consts": {"weight": "fc1.weight", "bias": "fc1.bias"}},
               {"name": "if1", "op": "if_neuron", "inputs": ["fc1"], "shape": [32], "attrs": {"v0": 0.5},
                "consts": {"theta": "if1.theta"}}, ...]}

and a mapping of constant name -> array (`weights.npz` in an emitted program).

Time model (concurrent schedule, rate coding). Steps t = 1..T; at every step every node runs in topological order:
- the input node gives the analog sample x as a constant current (`analog`), or Bernoulli spikes
  s(t) ~ Bernoulli(clip(x, 0, 1)) from a seeded numpy Generator (`poisson`);
- a linear op applies its map to the current values of its inputs (a bias is a constant current every step);
- a neuron population integrates its input current and emits spikes (see `IFNeuronKernel`);
- each graph output accumulates its values, and is decoded as out_hat(t) = (1/t) sum_{u<=t} out(u).

Event-driven synapses. A value whose non-zeros are spike events (`Signal.events`) lets a dense or conv consumer do
work proportional to the number of events instead of the number of inputs; the consumer picks the cheaper of its
dense and event-driven paths each step from the observed event count (`synaptic_path="auto"`).

Extension points (for other codings and schedules):
- `@register_neuron_kernel("op_name")` on a `NeuronKernel` subclass adds a neuron type (implement `setup`, `reset`
  and `fire`; see `NeuronKernel`);
- `@register_kernel("op_name")` on a `Kernel` subclass adds a non-spiking op;
- `@register_schedule("name")` adds a time schedule; the description's `"schedule"` key selects it.
Kernels must live in this file to be carried by emitted programs.
"""

import argparse
import json
import os
import sys

import numpy as np

FORMAT = "snncc-sim-program"
FORMAT_VERSION = 1

# 45 nm energy figures (Horowitz, ISSCC 2014), float32: one accumulate (a synaptic event) and one multiply-accumulate.
ENERGY_PJ_PER_ACCUMULATE = 0.9
ENERGY_PJ_PER_MAC = 4.6

# Relative per-element costs used to choose between the dense and event-driven synaptic paths, in units of one
# multiply-add inside a BLAS matrix product (measured on x86 with OpenBLAS; only their ratios matter).
COST_GATHER = 2.0        # copying one float through a fancy index (im2col, gathering spike values)
COST_ROW_GATHER = 20.0   # gathering one weight element by spike index and summing it (dense, per-row events)
COST_SCATTER = 25.0      # adding one float at a fancy index (conv event scatter, stride 1)
COST_SCATTER_STRIDED = 50.0  # the same with stride > 1, where each tap also gathers its landing pixels
COST_DETECT = 40.0       # finding the events of one input element (mask, flat search, per-row counts)


class ProgramError(ValueError):
    """The program description is malformed or asks for something the simulator does not have."""


class NotLoweredError(ProgramError):
    """A node has ANN-only semantics (relu, max_pool, ...) and no spiking kernel."""


def not_lowered_message(name: str, op: str) -> str:
    """The error text for a node that was not lowered to spiking neurons."""
    return (f"node %{name} ({op}) is not lowered to spiking neurons; "
            f"compile with a --coding pipeline first")


KERNELS = {}
"""op name -> Kernel subclass that simulates it."""

SCHEDULES = {}
"""schedule name -> function(batch_run, checkpoints) that steps a bound batch; see `run_concurrent`."""


def register_kernel(op):
    """Class decorator: simulate nodes with op name `op` with this `Kernel` subclass."""
    def wrap(cls):
        if not (isinstance(cls, type) and issubclass(cls, Kernel)):
            raise TypeError(f"kernel for {op!r} must be a Kernel subclass")
        existing = KERNELS.get(op)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ValueError(f"op {op!r} already has the kernel {existing.__name__}")
        cls.op = op
        KERNELS[op] = cls
        return cls
    return wrap


def register_neuron_kernel(op):
    """Class decorator: simulate the spiking population op `op` with this `NeuronKernel` subclass."""
    def wrap(cls):
        if not (isinstance(cls, type) and issubclass(cls, NeuronKernel)):
            raise TypeError(f"neuron kernel for {op!r} must be a NeuronKernel subclass")
        return register_kernel(op)(cls)
    return wrap


def register_schedule(name):
    """Function decorator: make `fn(batch_run, checkpoints)` the time schedule called `name`."""
    def wrap(fn):
        SCHEDULES[name] = fn
        return fn
    return wrap


# ---------------------------------------------------------------------------------------------------------------
# Values flowing between kernels
# ---------------------------------------------------------------------------------------------------------------

class Signal:
    """What a node emits at the current step. All arrays are (batch, *shape) float32 buffers that the producing
    kernel overwrites in place every step, so a consumer binds to them once per batch.

    value:       the node's value at this step.
    events:      None, or an array whose non-zeros are this step's events (spikes). For a spike train,
                 value = events * event_scale when `binary`; otherwise consumers read event values from `value`.
    binary:      events are 0/1 and value = events * event_scale.
    event_scale: per-sample-shape float32 array, or None for 1 (only meaningful when `binary`).
    static:      the value is the same at every step (analog input and linear maps of it); computed once.
    spike_derived: the value is a linear map of spike trains only, so a synaptic consumer does accumulates
                 (SynOps) rather than MACs.
    """

    __slots__ = ("value", "events", "binary", "event_scale", "static", "spike_derived")

    def __init__(self, value, events=None, binary=False, event_scale=None, static=False, spike_derived=False):
        self.value = value
        self.events = events
        self.binary = binary
        self.event_scale = event_scale
        self.static = static
        self.spike_derived = spike_derived


class RunOptions:
    """Per-run settings shared by all kernels: input coding, seed, the synaptic path ("auto", "dense" or "event"),
    and the current batch: its input arrays by input name and the index of its first sample."""

    __slots__ = ("input_coding", "seed", "synaptic_path", "batch_inputs", "batch_start", "path_counts")

    def __init__(self, input_coding="analog", seed=0, synaptic_path="auto"):
        if input_coding not in ("analog", "poisson"):
            raise ProgramError(f"unknown input coding {input_coding!r}; use 'analog' or 'poisson'")
        if synaptic_path not in ("auto", "dense", "event"):
            raise ProgramError(f"unknown synaptic path {synaptic_path!r}; use 'auto', 'dense' or 'event'")
        self.input_coding = input_coding
        self.seed = int(seed)
        self.synaptic_path = synaptic_path
        self.batch_inputs = {}
        self.batch_start = 0
        self.path_counts = {}

    def batch_generator(self, stream=0):
        """A Generator for the current batch, seeded by (seed, first sample, stream): a batch's random numbers do
        not depend on T or on earlier batches, so snapshots equal separate runs."""
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(self.batch_start, stream)))

    def count_path(self, node_name, path):
        """Record which synaptic path a node took at one step (a diagnostic for benchmarks)."""
        per_node = self.path_counts.setdefault(node_name, {})
        per_node[path] = per_node.get(path, 0) + 1


# ---------------------------------------------------------------------------------------------------------------
# Kernel base classes
# ---------------------------------------------------------------------------------------------------------------

class Kernel:
    """Simulates one node. Lifecycle: `__init__` (once per program: read attributes and constants, precompute index
    maps), `bind` (once per batch: allocate buffers, return the output `Signal`), `step(t)` (every step: overwrite
    the output buffers in place).

    Subclasses implement `setup`, `bind` and `step`, and, for accounting, `ann_macs` (multiply-accumulates per sample
    in ANN mode) and `input_fanout` (per input element, the synaptic events one unit on that input causes).
    """

    op = ""
    synaptic = False    # does multiply-accumulates over weights (dense, conv): MACs on analog input, SynOps on spikes

    def __init__(self, node, constants, input_shapes):
        self.name = node["name"]
        self.inputs = list(node.get("inputs", []))
        self.shape = tuple(int(d) for d in node["shape"])
        self.attrs = dict(node.get("attrs", {}))
        self.const_names = dict(node.get("consts", {}))
        self.input_shapes = [tuple(s) for s in input_shapes]
        self._constants = constants
        self.output = None
        self.counts = None   # (batch, *shape) spikes per neuron this batch, for spiking sources
        self.setup()

    # -- helpers for subclasses ----------------------------------------------------------------------------
    def attr(self, key, default=None):
        """A plain attribute (lists come back as tuples)."""
        value = self.attrs.get(key, default)
        return tuple(value) if isinstance(value, list) else value

    def const(self, key):
        """A referenced constant as a float32 array, or None when the node does not reference one."""
        ref = self.const_names.get(key)
        if ref is None:
            return None
        if ref not in self._constants:
            raise ProgramError(f"node %{self.name} ({self.op}) references missing constant @{ref}")
        return np.asarray(self._constants[ref], dtype=np.float32)

    def fail(self, message):
        """Raise a ProgramError that names this node."""
        raise ProgramError(f"node %{self.name} ({self.op}): {message}")

    # -- interface -----------------------------------------------------------------------------------------
    def setup(self):
        """Read attributes and constants, precompute what does not depend on the batch."""

    def bind(self, inputs, batch, run):
        """Allocate per-batch buffers for `inputs` (a list of Signals) and return this node's output Signal."""
        raise NotImplementedError

    def step(self, t):
        """Compute this node's output for step t (1-based) into its buffers."""

    def ann_macs(self):
        """Multiply-accumulates per sample in ANN mode (dense and conv only)."""
        return 0

    def input_fanout(self, index, output_fanout):
        """Synaptic events caused per unit on each element of input `index` (per-sample shape). `output_fanout` is
        what each element of this node's output causes downstream; pass-through ops forward it, synaptic ops
        return their own fan-out."""
        return np.ones(self.input_shapes[index])


def _buffer(batch, shape):
    return np.zeros((batch,) + tuple(shape), dtype=np.float32)


class NeuronKernel(Kernel):
    """Base of spiking populations. One step: `fire(current, t)` updates the membrane state from the input current
    and writes this step's spikes into `self.spikes` in place; the base class then emits

        value(t) = spikes(t) * out_scale      (out_scale: the optional `out_scale` constant; absent = 1)

    and counts spikes per neuron. A subclass sets `signed = True` when spikes can be -1 (counted as |s|), and
    `multi_spike = True` when a neuron can emit an integer count > 1 per step.

    To add a neuron type (phase, AMOS/FS, bits, signed, ...), in this file:

        @register_neuron_kernel("my_neuron")
        class MyNeuronKernel(NeuronKernel):
            def setup(self):                 # once per program
                super().setup()              # reads out_scale
                self.theta = self.const("theta")
            def reset(self, batch):          # once per batch: allocate and initialise the state
                self.v = np.zeros((batch,) + self.shape, np.float32)
            def fire(self, current, t):      # every step: integrate, write spikes in place
                ...

    A neuron whose output weight changes with t (e.g. phase coding's 2^-k) overrides `emit(t)` to write
    `self.value` and sets `time_varying_scale = True`, so consumers read event values from `value`.
    """

    signed = False
    multi_spike = False
    time_varying_scale = False

    def setup(self):
        scale = self.const("out_scale")
        self.out_scale = scale
        self.event_scale = None if scale is None else np.ascontiguousarray(
            np.broadcast_to(scale, self.shape), dtype=np.float32)

    def reset(self, batch):
        """Allocate and initialise the membrane state for a batch."""
        raise NotImplementedError

    def fire(self, current, t):
        """Integrate `current` (batch, *shape) for step t and write this step's spikes into `self.spikes`."""
        raise NotImplementedError

    def emit(self, t):
        """Write value(t) = spikes(t) * out_scale into `self.value`."""
        if self.out_scale is not None:
            np.multiply(self.spikes, self.out_scale, out=self.value)

    def bind(self, inputs, batch, run):
        if len(inputs) != 1:
            self.fail(f"a neuron population takes 1 input current, got {len(inputs)}")
        self.current = inputs[0].value
        self.spikes = _buffer(batch, self.shape)
        self.value = self.spikes if (self.out_scale is None and not self.time_varying_scale) else _buffer(batch, self.shape)
        self.counts = _buffer(batch, self.shape)
        self._abs = _buffer(batch, self.shape) if self.signed else None
        self.reset(batch)
        self.output = Signal(self.value, events=self.spikes, binary=not (self.signed or self.multi_spike
                                                                         or self.time_varying_scale),
                             event_scale=self.event_scale, spike_derived=True)
        return self.output

    def step(self, t):
        self.fire(self.current, t)
        self.emit(t)
        if self.signed:
            np.abs(self.spikes, out=self._abs)
            self.counts += self._abs
        else:
            self.counts += self.spikes


# ---------------------------------------------------------------------------------------------------------------
# Neurons
# ---------------------------------------------------------------------------------------------------------------

@register_neuron_kernel("if_neuron")
class IFNeuronKernel(NeuronKernel):
    """Soft-reset (reset-by-subtraction) integrate-and-fire population:

        v(0) = v0 * theta
        v(t) = v(t-1) + I(t);  s(t) = [v(t) >= theta];  v(t) <- v(t) - theta * s(t)

    theta is a scalar or broadcast-ready per channel, e.g. (C, 1, 1). With constant current I and v0 = 1/2 the spike
    count after T steps is clip(floor(I T / theta + 1/2), 0, T).
    """

    def setup(self):
        super().setup()
        self.theta = self.const("theta")
        if self.theta is None:
            self.fail("has no theta")
        if np.any(self.theta <= 0):
            self.fail("theta must be positive")
        self.v0 = float(self.attr("v0", 0.0))

        # rate coding reads a spike as theta (out_scale = theta): the emitted value is then the reset charge itself
        self.scale_is_theta = self.out_scale is not None and self.out_scale.shape == self.theta.shape \
            and np.array_equal(self.out_scale, self.theta)

    def reset(self, batch):
        self.v = _buffer(batch, self.shape)
        self.v[...] = np.float32(self.v0) * self.theta
        self._fired = np.zeros((batch,) + self.shape, dtype=bool)
        self._charge = self.value if self.scale_is_theta else _buffer(batch, self.shape)

    def fire(self, current, t):
        self.v += current
        np.greater_equal(self.v, self.theta, out=self._fired)
        np.copyto(self.spikes, self._fired)
        # v - theta * s: the same floats as subtracting theta where s = 1 (a masked subtract is ~10x slower)
        np.multiply(self.spikes, self.theta, out=self._charge)
        self.v -= self._charge

    def emit(self, t):
        if not self.scale_is_theta:      # else fire() already wrote spikes * theta into the value
            super().emit(t)


# ---------------------------------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------------------------------

@register_kernel("input")
class InputKernel(Kernel):
    """A graph input. `analog`: the sample x as a constant current every step. `poisson`: every step, independent
    spikes s(t) = [u < clip(x, 0, 1)] with u ~ U[0, 1) from a generator seeded by (seed, first sample of the batch,
    input index), so the spikes are reproducible for a given seed and batch size."""

    input_index = 0     # position among the program's inputs (set by Program), one random stream each

    def bind(self, inputs, batch, run):
        x = run.batch_inputs.get(self.name)
        if x is None:
            self.fail("no data for this graph input")
        if tuple(x.shape[1:]) != self.shape:
            self.fail(f"expects per-sample shape {list(self.shape)}, got {list(x.shape[1:])}")
        self.poisson = run.input_coding == "poisson"
        if not self.poisson:
            self.counts = None
            self.output = Signal(np.ascontiguousarray(x, dtype=np.float32), static=True)
            return self.output
        self.rng = run.batch_generator(self.input_index)
        self.probability = np.clip(np.asarray(x, dtype=np.float32), 0, 1)
        self._uniform = _buffer(batch, self.shape)
        self._fired = np.zeros((batch,) + self.shape, dtype=bool)
        self.spikes = _buffer(batch, self.shape)
        self.counts = _buffer(batch, self.shape)
        self.output = Signal(self.spikes, events=self.spikes, binary=True, spike_derived=True)
        return self.output

    def step(self, t):
        if self.poisson:
            self.rng.random(out=self._uniform, dtype=np.float32)
            np.less(self._uniform, self.probability, out=self._fired)
            np.copyto(self.spikes, self._fired)
            self.counts += self.spikes


# ---------------------------------------------------------------------------------------------------------------
# Synaptic ops: dense and conv, with dense and event-driven paths
# ---------------------------------------------------------------------------------------------------------------

def _event_coordinates(events, mask, width):
    """Row and column of every non-zero of `events` (viewed as rows of `width`), row-major; `mask` is a bool buffer
    of the same size. (A flat search plus divmod is several times faster than np.nonzero on a 2-D array.)"""
    np.not_equal(events, 0, out=mask)
    return np.divmod(np.flatnonzero(mask), width)


@register_kernel("dense")
class DenseKernel(Kernel):
    """y = W x + b contracting per-sample axis `axis` of x with W[out, in]; the bias broadcasts against y.

    Rows: x is viewed as R = batch * (other axes) rows of K inputs, y as R rows of O outputs: Y = X W^T + b.

    Event-driven paths when x is a spike train X = S diag(scale):
    - per row: y_r = b + sum_{k: S_rk != 0} S_rk scale_k W[:, k]. The active columns of each row are packed into a
      (width, R) index table (width = the most events in any row, short rows padded with a zero row of W^T), and
      y += (W^T)[table[j]] for j < width: work ~ width * R * O gathered adds instead of K * R * O multiply-adds;
    - column union: Y = S[:, U] (W^T)[U] + b with U the columns active anywhere: work ~ R |U| O.
    The cheapest of dense, per-row and union is taken each step (cost model in COST_*). The scale is folded into
    W^T once when it is constant along the non-contracted axes; otherwise event values are read from x.
    """

    synaptic = True

    def setup(self):
        weight = self.const("weight")
        if weight is None or weight.ndim != 2:
            self.fail("needs a 2-D weight")
        (in_shape,) = self.input_shapes
        self.axis = int(self.attr("axis", -1)) % len(in_shape)
        self.out_features, self.in_features = weight.shape
        if in_shape[self.axis] != self.in_features:
            self.fail(f"weight {weight.shape} does not fit input {list(in_shape)} on axis {self.axis}")
        self.weight_t = np.ascontiguousarray(weight.T)          # (K, O)
        self.bias = self.const("bias")
        self.last_axis = self.axis == len(in_shape) - 1
        self.rows_per_sample = int(np.prod(in_shape, dtype=np.int64)) // self.in_features

    def ann_macs(self):
        return int(np.prod(self.shape, dtype=np.int64)) * self.in_features

    def input_fanout(self, index, output_fanout):
        return np.full(self.input_shapes[0], float(self.out_features))

    def bind(self, inputs, batch, run):
        (source,) = inputs
        self.source = source
        self.run = run
        self.out = _buffer(batch, self.shape)
        rows = batch * self.rows_per_sample
        if self.last_axis:
            self.x_rows = source.value.reshape(rows, self.in_features)
            self.y_rows = self.out.reshape(rows, self.out_features)
            self.events_rows = None if source.events is None else source.events.reshape(rows, self.in_features)
        else:
            # move the contracted axis last into scratch buffers (copies each step)
            moved = (batch,) + tuple(np.delete(self.input_shapes[0], self.axis)) + (self.in_features,)
            self._x_moved = np.zeros(moved, dtype=np.float32)
            self._e_moved = np.zeros(moved, dtype=np.float32) if source.events is not None else None
            self._y_moved = np.zeros(moved[:-1] + (self.out_features,), dtype=np.float32)
            self.x_rows = self._x_moved.reshape(rows, self.in_features)
            self.y_rows = self._y_moved.reshape(rows, self.out_features)
            self.events_rows = None if self._e_moved is None else self._e_moved.reshape(rows, self.in_features)
        self.analog_input = not source.spike_derived
        if source.events is not None:
            self._mask = np.zeros((rows, self.in_features), dtype=bool)
            self._gathered = np.zeros((rows, self.out_features), dtype=np.float32)
            self._prepare_event_weights(source)
        self.output = Signal(self.out, static=source.static)
        return self.output

    def _prepare_event_weights(self, source):
        """W^T with a zero row appended (the padding target), the spike scale folded in when the events are binary
        and the scale is constant along the other axes (then `events_are_values` is False)."""
        weight_t = self.weight_t
        self.events_are_values = True
        if source.binary:
            if source.event_scale is None:
                self.events_are_values = False
            else:
                scale = np.moveaxis(source.event_scale, self.axis, -1).reshape(-1, self.in_features)
                if np.all(scale == scale[:1]):
                    weight_t = self.weight_t * scale[0][:, None]
                    self.events_are_values = False
        self.event_weight_t = np.concatenate([weight_t, np.zeros((1, self.out_features), np.float32)])

    def step(self, t):
        source = self.source
        if not self.last_axis:
            np.copyto(self._x_moved, np.moveaxis(source.value, self.axis + 1, -1))
            if source.events is not None:
                np.copyto(self._e_moved, np.moveaxis(source.events, self.axis + 1, -1))
        path = self._choose_path()
        if path == "dense":
            np.matmul(self.x_rows, self.weight_t, out=self.y_rows)
        elif path == "union":
            self._union_step()
        else:
            self._row_step()
        if not self.last_axis:
            np.copyto(self.out, np.moveaxis(self._y_moved, -1, self.axis + 1))
        if self.bias is not None:
            self.out += self.bias

    def _choose_path(self):
        mode = self.run.synaptic_path
        if self.source.events is None or mode == "dense":
            return "dense"
        if mode == "auto" and self.out_features <= COST_DETECT:
            return "dense"      # finding the events would cost more than the dense product
        rows, cols = _event_coordinates(self.events_rows, self._mask, self.in_features)
        self._rows, self._cols = rows, cols
        n_rows, k, o = self.x_rows.shape[0], self.in_features, self.out_features
        self._row_counts = np.bincount(rows, minlength=n_rows)
        width = int(self._row_counts.max(initial=0))
        union = int(np.count_nonzero(self._mask.any(axis=0)))
        costs = {"row": width * n_rows * o * COST_ROW_GATHER,
                 "union": n_rows * union * (o + COST_GATHER) + union * o * COST_GATHER}
        if mode == "auto":
            costs["dense"] = n_rows * k * o
        path = min(costs, key=costs.get)
        self.run.count_path(self.name, path)
        return path

    def _union_step(self):
        active = np.flatnonzero(self._mask.any(axis=0))
        if self.events_are_values:
            np.matmul(self.x_rows[:, active], self.weight_t[active], out=self.y_rows)
        else:
            np.matmul(self.events_rows[:, active], self.event_weight_t[active], out=self.y_rows)

    def _row_step(self):
        rows, cols, counts = self._rows, self._cols, self._row_counts
        n_rows, k = self.x_rows.shape
        self.y_rows.fill(0)
        if rows.size == 0:
            return
        width = int(counts.max())
        rank = np.arange(rows.size) - (np.cumsum(counts) - counts)[rows]     # position of each event in its row
        table = np.full((width, n_rows), k, dtype=np.intp)                   # k: the appended zero row
        table[rank, rows] = cols
        if self.events_are_values:
            values = np.zeros((width, n_rows, 1), dtype=np.float32)
            values[rank, rows, 0] = self.x_rows[rows, cols]
        gathered = self._gathered
        for j in range(width):
            np.take(self.event_weight_t, table[j], axis=0, out=gathered, mode="clip")
            if self.events_are_values:
                gathered *= values[j]
            self.y_rows += gathered


def _conv_index_maps(in_shape, kernel, out_shape, strides, pads, dilations):
    """Index maps of a 2-D convolution or pooling window, built once per layer.

    gather (KH*KW, OH*OW): flat index into the zero-padded (Hp, Wp) input plane of tap (i, j) of output pixel
        (oh, ow): (s0 oh + d0 i) * Wp + (s1 ow + d1 j)  (im2col).
    scatter (KH*KW, H*W): for input pixel q = (h, w), the output pixel p that tap (i, j) sends it to, i.e. the p with
        s0 oh + d0 i - top = h and s1 ow + d1 j - left = w, or OH*OW (a discard slot) when there is none. For a
        fixed tap the map is injective, so a scatter through it has no collisions.
    """
    _, h, w = in_shape
    kh, kw = kernel
    _, oh, ow = out_shape
    s0, s1 = strides
    d0, d1 = dilations
    top, left, bottom, right = pads
    padded_w = w + left + right
    rows = np.arange(oh)[None, :] * s0 + np.arange(kh)[:, None] * d0      # (KH, OH), padded coordinates
    cols = np.arange(ow)[None, :] * s1 + np.arange(kw)[:, None] * d1      # (KW, OW)
    gather = (rows[:, None, :, None] * padded_w + cols[None, :, None, :]).reshape(kh * kw, oh * ow)
    n_out = oh * ow
    scatter = np.full((kh * kw, h * w), n_out, dtype=np.intp)
    for i in range(kh):
        in_rows = rows[i] - top
        ok_r = (in_rows >= 0) & (in_rows < h)
        for j in range(kw):
            in_cols = cols[j] - left
            ok_c = (in_cols >= 0) & (in_cols < w)
            q = in_rows[ok_r][:, None] * w + in_cols[ok_c][None, :]
            p = np.arange(oh)[ok_r][:, None] * ow + np.arange(ow)[ok_c][None, :]
            scatter[i * kw + j, q.ravel()] = p.ravel()
    return gather.astype(np.intp), scatter


class _PaddedInput:
    """A zero-padded (batch, C, Hp*Wp) copy of a (batch, C, H, W) value, refreshed each step; a plain view when there
    is no padding."""

    def __init__(self, value, pads):
        top, left, bottom, right = pads
        batch, c, h, w = value.shape
        self.value = value
        if any(pads):
            self.buffer = np.zeros((batch, c, h + top + bottom, w + left + right), dtype=np.float32)
            self.interior = self.buffer[:, :, top:top + h, left:left + w]
        else:
            self.buffer = value
            self.interior = None
        self.flat = self.buffer.reshape(batch, c, -1)

    def refresh(self):
        if self.interior is not None:
            np.copyto(self.interior, self.value)


@register_kernel("conv")
class ConvKernel(Kernel):
    """2-D convolution y[o] = b[o] + sum_{c,i,j} W[o,c,i,j] x[g(o) Cg + c, s0 oh + d0 i - top, s1 ow + d1 j - left]
    with `groups` channel blocks (Cg = C / groups input, Og = O / groups output channels per block).

    Dense path (im2col): cols = x_padded[:, :, gather] of shape (N, G, Cg*KH*KW, OH*OW), then y = W_g @ cols per
    group, a batched matrix product straight into the (N, O, OH*OW) output.

    Event-driven path (active pixels): let A be the (sample, input pixel) pairs where any channel has an event, and
    X_A their (|A|, C) values. Z[t] = X_A W_t with W_t[c, o] = W[o, c, t] is, per active pixel, the O-vector that
    tap t sends to output pixel scatter[t, q]; the KH*KW scatter-adds have no collisions within a tap (see
    `_conv_index_maps`). Work ~ |A| * KH*KW * (Cg + scatter cost) * O instead of N * OH*OW * Cg*KH*KW * O, so it
    pays when few pixels are active.
    """

    synaptic = True

    def setup(self):
        weight = self.const("weight")
        if weight is None or weight.ndim != 4:
            self.fail("needs a 4-D weight (O, C/groups, KH, KW)")
        (in_shape,) = self.input_shapes
        if len(in_shape) != 3:
            self.fail(f"needs a (C, H, W) input, got {list(in_shape)}")
        self.groups = int(self.attr("groups", 1))
        self.strides = tuple(self.attr("strides", (1, 1)))
        self.pads = tuple(self.attr("pads", (0, 0, 0, 0)))
        self.dilations = tuple(self.attr("dilations", (1, 1)))
        o, cg, kh, kw = weight.shape
        c, h, w = in_shape
        g = self.groups
        if cg * g != c or o % g:
            self.fail(f"weight {weight.shape} with groups={g} does not fit {c} input channels")
        self.in_channels, self.group_in, self.out_channels, self.group_out = c, cg, o, o // g
        self.taps = kh * kw
        self.in_pixels = h * w
        self.out_pixels = self.shape[1] * self.shape[2]
        self.gather, self.scatter = _conv_index_maps(in_shape, (kh, kw), self.shape, self.strides, self.pads,
                                                     self.dilations)
        self.weight_mat = np.ascontiguousarray(weight.reshape(g, o // g, cg * kh * kw))          # (G, Og, Cg*KK)
        self.weight_taps = np.ascontiguousarray(                                                  # (KK, G, Cg, Og)
            weight.reshape(g, o // g, cg, kh * kw).transpose(3, 0, 2, 1))
        # mean number of taps through which an input pixel reaches the output (KH*KW / stride^2 inside)
        self.landing_taps = np.count_nonzero(self.scatter < self.out_pixels) / self.in_pixels
        self.bias = self.const("bias")
        self.bias_column = None if self.bias is None else self.bias.reshape(o, 1)
        # depthwise (one input and one output channel per group, e.g. MaxPool's one-hot selection convs): one
        # strided slice of the padded input per tap with a non-zero weight, times that tap's per-channel weight,
        # instead of im2col plus C tiny matrix products
        self.depthwise = cg == 1 and self.group_out == 1
        if self.depthwise:
            oh, ow = self.shape[1], self.shape[2]
            (s0, s1), (d0, d1) = self.strides, self.dilations
            per_tap = weight.reshape(o, kh * kw)
            self.dw_taps = [((slice(None), slice(None), slice(d0 * i, d0 * i + s0 * (oh - 1) + 1, s0),
                              slice(d1 * j, d1 * j + s1 * (ow - 1) + 1, s1)),
                             np.ascontiguousarray(per_tap[:, i * kw + j].reshape(o, 1, 1)))
                            for i in range(kh) for j in range(kw) if np.any(per_tap[:, i * kw + j] != 0)]

    def ann_macs(self):
        return self.out_channels * self.out_pixels * self.group_in * self.taps

    def input_fanout(self, index, output_fanout):
        touched = np.count_nonzero(self.scatter != self.out_pixels, axis=0)      # output pixels per input pixel
        per_pixel = (touched * self.group_out).astype(np.float64).reshape(self.input_shapes[0][1:])
        return np.broadcast_to(per_pixel, self.input_shapes[0]).copy()

    def bind(self, inputs, batch, run):
        (source,) = inputs
        self.source = source
        self.run = run
        self.batch = batch
        g = self.groups
        # a 1x1 kernel with stride 1 and no padding reads the input as it is: no im2col copy
        self.pointwise = self.taps == 1 and self.in_pixels == self.out_pixels and not any(self.pads)
        if self.pointwise:
            self.cols_grouped = source.value.reshape(batch, g, self.group_in, self.out_pixels)
        elif self.depthwise:
            self.padded = _PaddedInput(source.value, self.pads)
            self._dw_term = _buffer(batch, self.shape)
        else:
            self.padded = _PaddedInput(source.value, self.pads)
            self.cols = np.zeros((batch, self.in_channels, self.taps, self.out_pixels), dtype=np.float32)
            self.cols_grouped = self.cols.reshape(batch, g, self.group_in * self.taps, self.out_pixels)
        self.out = _buffer(batch, self.shape)
        self.out_grouped = self.out.reshape(batch, g, self.group_out, self.out_pixels)
        self.out_flat = self.out.reshape(batch, self.out_channels, self.out_pixels)
        if source.events is not None:
            self.events_flat = source.events.reshape(batch, self.in_channels, self.in_pixels)
            self._pixel_mask = np.zeros((batch, self.in_pixels), dtype=bool)
            self.value_flat = source.value.reshape(batch, self.in_channels, self.in_pixels)
            # one discard row per sample after its output pixels; (sample, pixel) rows of O channels
            self.scatter_acc = np.zeros((batch * (self.out_pixels + 1), self.out_channels), dtype=np.float32)
        self.analog_input = not source.spike_derived
        self.output = Signal(self.out, static=source.static)
        return self.output

    def step(self, t):
        if self._choose_path() == "dense":
            self._dense_step()
        else:
            self._event_step()
        if self.bias_column is not None:
            self.out_flat += self.bias_column

    def _dense_step(self):
        if self.depthwise and not self.pointwise:
            self._depthwise_step()
            return
        if not self.pointwise:
            self.padded.refresh()
            np.take(self.padded.flat, self.gather, axis=2, out=self.cols, mode="clip")
        np.matmul(self.weight_mat, self.cols_grouped, out=self.out_grouped)

    def _depthwise_step(self):
        self.padded.refresh()
        buffer = self.padded.buffer
        if not self.dw_taps:
            self.out.fill(0)
        for index, (window, weight) in enumerate(self.dw_taps):
            if index == 0:
                np.multiply(buffer[window], weight, out=self.out)
            else:
                np.multiply(buffer[window], weight, out=self._dw_term)
                self.out += self._dw_term

    def _choose_path(self):
        mode = self.run.synaptic_path
        if self.source.events is None or mode == "dense":
            return "dense"
        if mode == "auto" and self.depthwise and not self.pointwise:
            return "dense"      # a few strided multiply-adds: cheaper than finding the events
        np.any(self.events_flat, axis=1, out=self._pixel_mask)
        self._active = np.divmod(np.flatnonzero(self._pixel_mask), self.in_pixels)   # (sample, input pixel)
        n_active = self._active[0].size
        path = "event"
        if mode == "auto":
            kk, o, c = self.taps, self.out_channels, self.in_channels
            scatter = COST_SCATTER if self.strides == (1, 1) else COST_SCATTER_STRIDED
            dense_cost = self.batch * self.out_pixels * (self.group_in * kk * o + c * kk * COST_GATHER)
            event_cost = n_active * (self.landing_taps * o * (self.group_in + scatter) + c * COST_GATHER)
            path = "event" if event_cost < dense_cost else "dense"
        self.run.count_path(self.name, path)
        return path

    def _event_step(self):
        samples, pixels = self._active
        n_active = samples.size
        g, kk, o = self.groups, self.taps, self.out_channels
        acc = self.scatter_acc
        acc.fill(0)
        if n_active:
            x_active = self.value_flat[samples, :, pixels]                               # (A, C)
            x_grouped = x_active.reshape(n_active, g, self.group_in).transpose(1, 0, 2)  # (G, A, Cg)
            base = samples * (self.out_pixels + 1)
            if self.strides == (1, 1):
                # nearly every (pixel, tap) lands inside the output: one batched product for all taps
                z = np.matmul(x_grouped[None], self.weight_taps)                         # (KK, G, A, Og)
                z = z.transpose(0, 2, 1, 3).reshape(kk, n_active, o)                     # (KK, A, O)
                for tap in range(kk):
                    self._scatter_add(base + self.scatter[tap, pixels], z[tap])
            else:
                # with stride s only ~1/s^2 of the (pixel, tap) pairs land: multiply only those
                for tap in range(kk):
                    targets = self.scatter[tap, pixels]
                    keep = np.flatnonzero(targets < self.out_pixels)
                    if keep.size:
                        z = np.matmul(x_grouped[:, keep], self.weight_taps[tap])         # (G, A_t, Og)
                        z = z.transpose(1, 0, 2).reshape(keep.size, o)
                        self._scatter_add(base[keep] + targets[keep], z)
        per_sample = acc.reshape(self.batch, self.out_pixels + 1, o)[:, :self.out_pixels]
        np.copyto(self.out_flat, per_sample.transpose(0, 2, 1))

    def _scatter_add(self, rows, values):
        """scatter_acc[rows] += values for rows that are unique except for discard slots (whose content is never
        read). take / add / put is several times faster than the in-place fancy `+=`."""
        partial = np.take(self.scatter_acc, rows, axis=0)
        partial += values
        self.scatter_acc[rows] = partial


# ---------------------------------------------------------------------------------------------------------------
# Pass-through linear ops (their synaptic events are attributed to the synapses they feed)
# ---------------------------------------------------------------------------------------------------------------

def _pass_through_signal(value, sources):
    """Signal of a linear map of `sources`: static if all are, spike-derived (events = the value's non-zeros) if all
    are."""
    static = all(s.static for s in sources)
    spike_derived = all(s.spike_derived for s in sources)
    return Signal(value, events=value if spike_derived else None, binary=False, static=static,
                  spike_derived=spike_derived)


@register_kernel("avg_pool")
class AvgPoolKernel(Kernel):
    """y[c, p] = (1 / n_p) sum_{tap in window p} x_padded[c, gather[tap, p]] with n_p = KH*KW (count_include_pad or
    no padding) or the number of non-padding cells of window p."""

    def setup(self):
        (in_shape,) = self.input_shapes
        kernel = tuple(self.attr("kernel"))
        self.strides = tuple(self.attr("strides", kernel))
        self.pads = tuple(self.attr("pads", (0, 0, 0, 0)))
        self.gather, self.scatter = _conv_index_maps(in_shape, kernel, self.shape, self.strides, self.pads, (1, 1))
        self.taps = kernel[0] * kernel[1]
        self.out_pixels = self.shape[1] * self.shape[2]
        if self.attr("count_include_pad", False) or not any(self.pads):
            counts = np.full(self.out_pixels, self.taps, dtype=np.float64)
        else:
            counts = np.bincount(self.scatter[self.scatter < self.out_pixels], minlength=self.out_pixels)
        self.inv_count = (1.0 / counts).astype(np.float32)
        # non-overlapping windows tiling the input exactly: a reshape and a sum, no gather
        _, h, w = in_shape
        self.tiles = (self.strides == kernel and not any(self.pads)
                      and h == self.shape[1] * kernel[0] and w == self.shape[2] * kernel[1])
        self.kernel = kernel

    def input_fanout(self, index, output_fanout):
        # a unit on input pixel q reaches every window p that covers it: sum of those windows' fan-outs
        c = self.shape[0]
        fan_out = output_fanout.reshape(c, self.out_pixels)
        padded = np.concatenate([fan_out, np.zeros((c, 1))], axis=1)
        return padded[:, self.scatter].sum(axis=1).reshape(self.input_shapes[0])

    def bind(self, inputs, batch, run):
        (source,) = inputs
        self.out = _buffer(batch, self.shape)
        self.out_flat = self.out.reshape(batch, self.shape[0], self.out_pixels)
        if self.tiles:
            c, oh, ow = self.shape
            self.tiled = source.value.reshape(batch, c, oh, self.kernel[0], ow, self.kernel[1])
        else:
            self.padded = _PaddedInput(source.value, self.pads)
            self.cols = np.zeros((batch, self.shape[0], self.taps, self.out_pixels), dtype=np.float32)
        self.output = _pass_through_signal(self.out, inputs)
        return self.output

    def step(self, t):
        if self.tiles:
            # one strided add per tap (a multi-axis np.sum over the same view is ~10x slower)
            kh, kw = self.kernel
            np.copyto(self.out, self.tiled[:, :, :, 0, :, 0])
            for tap in range(1, kh * kw):
                self.out += self.tiled[:, :, :, tap // kw, :, tap % kw]
            self.out *= self.inv_count[0]
            return
        self.padded.refresh()
        np.take(self.padded.flat, self.gather, axis=2, out=self.cols, mode="clip")
        np.sum(self.cols, axis=2, out=self.out_flat)
        self.out_flat *= self.inv_count


@register_kernel("global_avg_pool")
class GlobalAvgPoolKernel(Kernel):
    """y[c] = (1 / (H W)) sum_{h, w} x[c, h, w]; output (C, 1, 1)."""

    def input_fanout(self, index, output_fanout):
        return np.broadcast_to(output_fanout, self.input_shapes[0]).copy()

    def bind(self, inputs, batch, run):
        self.x = inputs[0].value
        self.out = _buffer(batch, self.shape)
        self.output = _pass_through_signal(self.out, inputs)
        return self.output

    def step(self, t):
        np.mean(self.x, axis=(2, 3), keepdims=True, out=self.out)


@register_kernel("add")
class AddKernel(Kernel):
    """y = sum_i coeffs[i] x_i."""

    def setup(self):
        self.coeffs = [np.float32(c) for c in self.attr("coeffs", (1.0, 1.0))]
        if len(self.coeffs) != len(self.inputs):
            self.fail(f"{len(self.inputs)} inputs but {len(self.coeffs)} coefficients")

    def input_fanout(self, index, output_fanout):
        return output_fanout.copy()

    def bind(self, inputs, batch, run):
        self.values = [s.value for s in inputs]
        self.out = _buffer(batch, self.shape)
        self._term = _buffer(batch, self.shape)
        self.output = _pass_through_signal(self.out, inputs)
        return self.output

    def step(self, t):
        np.multiply(self.values[0], self.coeffs[0], out=self.out)
        for coeff, value in zip(self.coeffs[1:], self.values[1:]):
            if coeff == 1:
                self.out += value
            else:
                np.multiply(value, coeff, out=self._term)
                self.out += self._term


@register_kernel("affine")
class AffineKernel(Kernel):
    """y = x * scale + shift (both optional, broadcast against the per-sample shape). A shift makes the output
    dense, so spike events do not pass through an affine with a shift."""

    def setup(self):
        self.scale = self.const("scale")
        self.shift = self.const("shift")

    def input_fanout(self, index, output_fanout):
        return output_fanout.copy()

    def bind(self, inputs, batch, run):
        (source,) = inputs
        self.x = source.value
        self.out = _buffer(batch, self.shape)
        signal = _pass_through_signal(self.out, inputs)
        if self.shift is not None and signal.spike_derived:
            signal = Signal(self.out, static=source.static)
        self.output = signal
        return self.output

    def step(self, t):
        if self.scale is not None:
            np.multiply(self.x, self.scale, out=self.out)
        else:
            np.copyto(self.out, self.x)
        if self.shift is not None:
            self.out += self.shift


class _ReshapeKernel(Kernel):
    """y = x reshaped (C-order); the output and its events are views of the input's buffers, so a step is free."""

    def input_fanout(self, index, output_fanout):
        return output_fanout.reshape(self.input_shapes[0])

    def bind(self, inputs, batch, run):
        (source,) = inputs
        shape = (batch,) + self.shape

        def view(a):
            return None if a is None else a.reshape(shape)

        scale = None if source.event_scale is None else source.event_scale.reshape(self.shape)
        self.output = Signal(view(source.value), view(source.events), source.binary, scale, source.static,
                             source.spike_derived)
        return self.output


@register_kernel("flatten")
class FlattenKernel(_ReshapeKernel):
    """y = x flattened to one axis per sample (C-order)."""


@register_kernel("reshape")
class ReshapeKernel(_ReshapeKernel):
    """y = x reshaped to the per-sample `shape` (C-order)."""


@register_kernel("concat")
class ConcatKernel(Kernel):
    """y = the inputs joined along per-sample `axis`; binary spike events stay binary (their scales are joined)."""

    def setup(self):
        self.axis = int(self.attr("axis", 0)) % len(self.shape)
        self.bounds = np.cumsum([s[self.axis] for s in self.input_shapes])[:-1]

    def input_fanout(self, index, output_fanout):
        return np.split(output_fanout, self.bounds, axis=self.axis)[index].copy()

    def bind(self, inputs, batch, run):
        self.values = [s.value for s in inputs]
        self.out = _buffer(batch, self.shape)
        self.output = _pass_through_signal(self.out, inputs)
        self.events_in = None
        if all(s.events is not None and s.binary for s in inputs):
            self.events_in = [s.events for s in inputs]
            self.events = _buffer(batch, self.shape)
            scales = [np.ones(shape, np.float32) if s.event_scale is None else s.event_scale
                      for s, shape in zip(inputs, self.input_shapes)]
            self.output = Signal(self.out, self.events, True, np.concatenate(scales, axis=self.axis),
                                 self.output.static, True)
        return self.output

    def step(self, t):
        np.concatenate(self.values, axis=self.axis + 1, out=self.out)
        if self.events_in is not None:
            np.concatenate(self.events_in, axis=self.axis + 1, out=self.events)


# ---------------------------------------------------------------------------------------------------------------
# Programs, schedules and runs
# ---------------------------------------------------------------------------------------------------------------

class Program:
    """A validated program description with its kernels built (index maps, transposed weights) and its static
    accounting: ANN MACs per sample and, per node, the synaptic events one unit on each of its elements causes
    downstream (`fanout`)."""

    def __init__(self, description, constants):
        if description.get("format") != FORMAT:
            raise ProgramError(f"not a simulator program (format {description.get('format')!r}, "
                               f"expected {FORMAT!r})")
        if description.get("version") != FORMAT_VERSION:
            raise ProgramError(f"program format version {description.get('version')} is not supported "
                               f"(this simulator reads version {FORMAT_VERSION})")
        self.schedule = description.get("schedule", "concurrent")
        if self.schedule not in SCHEDULES:
            raise ProgramError(f"unknown schedule {self.schedule!r}; available: {', '.join(sorted(SCHEDULES))}")
        self.meta = dict(description.get("meta", {}))
        self.kernels = []
        shapes = {}
        for node in description["nodes"]:
            name, op = node["name"], node["op"]
            cls = KERNELS.get(op)
            if cls is None:
                raise NotLoweredError(not_lowered_message(name, op))
            for src in node.get("inputs", []):
                if src not in shapes:
                    raise ProgramError(f"node %{name} ({op}) reads %{src}, which no earlier node produces")
            self.kernels.append(cls(node, constants, [shapes[s] for s in node.get("inputs", [])]))
            shapes[name] = tuple(node["shape"])
        self.shapes = shapes
        self.inputs = [k.name for k in self.kernels if k.op == "input"]
        for index, kernel in enumerate(k for k in self.kernels if k.op == "input"):
            kernel.input_index = index
        self.outputs = list(description["outputs"])
        for out in self.outputs:
            if out not in shapes:
                raise ProgramError(f"program output %{out} is not produced by any node")
        self.fanout = self._fanouts()
        self.ann_macs = sum(k.ann_macs() for k in self.kernels)

    def _fanouts(self):
        """Reverse sweep: fanout[v] = sum over consumers c of c.input_fanout(v's slot, fanout[c]); a graph output
        starts at 1 per element (its value is accumulated by the decoder)."""
        fan = {k.name: np.zeros(k.shape) for k in self.kernels}
        for out in self.outputs:
            fan[out] += 1.0
        for kernel in reversed(self.kernels):
            for index, src in enumerate(kernel.inputs):
                fan[src] = fan[src] + kernel.input_fanout(index, fan[kernel.name])
        return fan

    def bind(self, batch_inputs, batch, run, start=0):
        """Bind every kernel to a batch whose first sample is `start`; returns the output Signals by name."""
        run.batch_inputs = batch_inputs
        run.batch_start = start
        signals = {}
        for kernel in self.kernels:
            signals[kernel.name] = kernel.bind([signals[s] for s in kernel.inputs], batch, run)
        return {name: signals[name] for name in self.outputs}


class BatchRun:
    """One bound batch: the program's kernels and the graph-output Signals, ready to be stepped by a schedule."""

    def __init__(self, program, outputs, batch):
        self.program = program
        self.outputs = outputs
        self.batch = batch


@register_schedule("concurrent")
def run_concurrent(batch_run, checkpoints):
    """Concurrent schedule: for t = 1..max(checkpoints) step every kernel in topological order (static kernels only
    at t = 1), accumulate every output, and at each checkpoint T record the decoded outputs sum_{t<=T} out(t) / T.
    Returns {T: {output name: (batch, *shape) array}}."""
    kernels = batch_run.program.kernels
    moving = [k for k in kernels if not k.output.static]
    sums = {name: np.zeros_like(sig.value) for name, sig in batch_run.outputs.items()}
    wanted = set(checkpoints)
    decoded = {}
    for t in range(1, max(checkpoints) + 1):
        for kernel in (kernels if t == 1 else moving):
            kernel.step(t)
        for name, sig in batch_run.outputs.items():
            sums[name] += sig.value
        if t in wanted:
            decoded[t] = {name: s / np.float32(t) for name, s in sums.items()}
    return decoded


def _progress(iterable, total, enabled):
    if not enabled:
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, total=total, unit="batch", desc="simulate")


def simulate_program(program, inputs, timesteps, *, input_coding="analog", seed=0, batch_size=256,
                     progress=False, synaptic_path="auto"):
    """Run `program` (a `Program`) on `inputs` ({input name: (N, *shape) array}) for max(timesteps) steps in batches.

    Returns a dict:
        timesteps          sorted checkpoints
        outputs            {output name: {T: (N, *shape) decoded output at T}}
        spikes_per_layer   {spiking node: mean spikes per sample over the whole run}
        spikes_per_sample  total over spiking nodes (input spikes included under poisson coding)
        synops_per_sample  sum over spikes of the spiking neuron's fan-out (program.fanout)
        ann_macs_per_sample, snn_macs_per_sample (synaptic ops on analog input, x max T)
        ann_energy_pj, snn_energy_pj (per sample), energy_ratio = ann / snn
        max_spikes_per_neuron, n_samples, path_counts
        latency_steps, pipeline_interval_steps (windowed: K x spiking depth and K; concurrent: max T for both)
    """
    checkpoints = sorted({int(t) for t in ([timesteps] if np.isscalar(timesteps) else timesteps)})
    if not checkpoints or checkpoints[0] < 1:
        raise ProgramError(f"timesteps must be positive integers, got {timesteps}")
    if batch_size < 1:
        raise ProgramError(f"batch size must be positive, got {batch_size}")
    missing = [name for name in program.inputs if name not in inputs]
    if missing:
        raise ProgramError(f"no data for program input(s) {', '.join('%' + m for m in missing)}")
    arrays = {name: np.asarray(inputs[name], dtype=np.float32) for name in program.inputs}
    sizes = {a.shape[0] for a in arrays.values()}
    if len(sizes) != 1:
        raise ProgramError(f"inputs differ in sample count: {sorted(sizes)}")
    n = sizes.pop()
    t_max = checkpoints[-1]
    run = RunOptions(input_coding, seed, synaptic_path)
    schedule = SCHEDULES[program.schedule]
    outputs = {name: {t: np.zeros((n,) + program.shapes[name], np.float32) for t in checkpoints}
               for name in program.outputs}
    spikes = {}
    synops = 0.0
    snn_macs = 0
    max_per_neuron = 0.0
    starts = range(0, n, batch_size)
    for start in _progress(starts, len(starts), progress):
        stop = min(start + batch_size, n)
        batch = stop - start
        bound = program.bind({name: a[start:stop] for name, a in arrays.items()}, batch, run, start)
        decoded = schedule(BatchRun(program, bound, batch), checkpoints)
        for t, per_output in decoded.items():
            for name, value in per_output.items():
                outputs[name][t][start:stop] = value
        for kernel in program.kernels:
            if kernel.counts is not None:
                counts = kernel.counts.astype(np.float64)
                spikes[kernel.name] = spikes.get(kernel.name, 0.0) + float(counts.sum())
                synops += float((counts * program.fanout[kernel.name]).sum())
                max_per_neuron = max(max_per_neuron, float(counts.max(initial=0.0)))
            if kernel.synaptic and kernel.analog_input:
                # windowed schedule: a layer integrates its analog input once per window, not every step
                snn_macs += kernel.ann_macs() * (1 if program.schedule == "windowed" else t_max) * batch
    spikes_per_layer = {name: total / n for name, total in spikes.items()} if n else {}
    # latency in steps and steps between pipelined samples (windowed: K x depth and K; concurrent: T and T)
    latency, interval = window_latency(program) if program.schedule == "windowed" else (t_max, t_max)
    ann_energy = ENERGY_PJ_PER_MAC * program.ann_macs
    synops_per_sample = synops / n if n else 0.0
    snn_macs_per_sample = snn_macs / n if n else 0.0
    snn_energy = ENERGY_PJ_PER_ACCUMULATE * synops_per_sample + ENERGY_PJ_PER_MAC * snn_macs_per_sample
    return {
        "timesteps": checkpoints,
        "outputs": outputs,
        "spikes_per_layer": spikes_per_layer,
        "spikes_per_sample": float(sum(spikes_per_layer.values())),
        "synops_per_sample": synops_per_sample,
        "ann_macs_per_sample": int(program.ann_macs),
        "snn_macs_per_sample": snn_macs_per_sample,
        "ann_energy_pj": ann_energy,
        "snn_energy_pj": snn_energy,
        "energy_ratio": ann_energy / snn_energy if snn_energy > 0 else float("inf"),
        "max_spikes_per_neuron": int(max_per_neuron),
        "n_samples": n,
        "latency_steps": latency,
        "pipeline_interval_steps": interval,
        "path_counts": run.path_counts,
    }


def predictions_of(decoded):
    """Class predictions: argmax over the last axis of a decoded output."""
    return np.argmax(decoded, axis=-1)


# ---------------------------------------------------------------------------------------------------------------
# Standalone program entry point (used by the emitted snn_program.py)
# ---------------------------------------------------------------------------------------------------------------

PROGRAM_FILE = "program.json"
WEIGHTS_FILE = "weights.npz"


def load_program(directory):
    """Read `program.json` and `weights.npz` (no pickles) from an emitted program's folder."""
    with open(os.path.join(directory, PROGRAM_FILE), encoding="utf-8") as f:
        description = json.load(f)
    with np.load(os.path.join(directory, WEIGHTS_FILE), allow_pickle=False) as weights:
        constants = {name: weights[name] for name in weights.files}
    return Program(description, constants)


def _parse_timesteps(text):
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"timesteps must be integers like 32 or 4,8,16, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"timesteps must be positive, got {text!r}")
    return values


def program_main(argv, directory):
    """Command line of an emitted program:

        python snn_program.py INPUT.npz [--timesteps T[,T2,...]] [--batch-size B] [--input-coding analog|poisson]
                                        [--seed S] [--json] [--progress]

    INPUT.npz holds the samples under the input's name (or `x` for a single-input program) and optional labels `y`.
    Prints one prediction per line for the largest T (accuracy, when `y` is given, on stderr), or with --json one
    JSON object with predictions and accuracy per T and the spike, SynOps and energy counts.
    """
    program = load_program(directory)
    default_t = program.meta.get("timesteps", "32")
    parser = argparse.ArgumentParser(prog="snn_program.py", description="Run a compiled spiking network.")
    parser.add_argument("input", help="npz with the samples (key: input name, or x) and optional labels y")
    parser.add_argument("--timesteps", type=_parse_timesteps, default=_parse_timesteps(default_t),
                        help=f"steps, or a comma list of snapshot steps (default {default_t})")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--input-coding", choices=("analog", "poisson"), default="analog")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object with all results")
    parser.add_argument("--progress", action="store_true", help="show a progress bar (needs tqdm)")
    args = parser.parse_args(argv)
    with np.load(args.input, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    inputs = {}
    for name in program.inputs:
        if name in arrays:
            inputs[name] = arrays[name]
        elif len(program.inputs) == 1 and "x" in arrays:
            inputs[name] = arrays["x"]
        else:
            parser.error(f"{args.input} has no array {name!r} for program input %{name}")
    labels = arrays.get("y")
    result = simulate_program(program, inputs, args.timesteps, input_coding=args.input_coding, seed=args.seed,
                              batch_size=args.batch_size, progress=args.progress)
    first = program.outputs[0]
    predictions = {t: predictions_of(v) for t, v in result["outputs"][first].items()}
    accuracy = None
    if labels is not None:
        accuracy = {t: float(np.mean(p == labels)) for t, p in predictions.items()}
    if args.json:
        report = {key: result[key] for key in ("timesteps", "spikes_per_layer", "spikes_per_sample",
                                               "synops_per_sample", "ann_macs_per_sample", "snn_macs_per_sample",
                                               "ann_energy_pj", "snn_energy_pj", "energy_ratio",
                                               "max_spikes_per_neuron", "n_samples", "latency_steps",
                                               "pipeline_interval_steps")}
        report["output"] = first
        report["predictions"] = {str(t): p.tolist() for t, p in predictions.items()}
        if accuracy is not None:
            report["accuracy"] = {str(t): a for t, a in accuracy.items()}
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
    else:
        last = result["timesteps"][-1]
        for row in predictions[last].reshape(predictions[last].shape[0], -1):
            sys.stdout.write(" ".join(str(int(v)) for v in row) + "\n")
        if accuracy is not None:
            for t, a in accuracy.items():
                sys.stderr.write(f"accuracy at T={t}: {a:.4f}\n")
    return 0


# ---------------------------------------------------------------------------------------------------------------
# Layer-windowed schedule (phase, AMOS/FS, bits codings; algorithms.md §0) -- owned by the phase-coding developer
# ---------------------------------------------------------------------------------------------------------------

class WindowedNeuronKernel(NeuronKernel):
    """Base of populations on the layer-windowed schedule. Each window the population reads the complete
    pre-activation V that it integrated while its producers emitted (the previous window), runs its own K-step
    dynamics and emits K spike frames:

        frames, weights = self.window_frames(V)   # frames (K, batch, *shape) in {0, 1}; weights (K, *broadcast)
        value = self.decode(frames, weights)      # sum_k weights[k] * frames[k], in phase order

    Frame k reaches the consumers with weight w_k (phase: theta B^-k; AMOS: d(k); bits: Delta 2^(T-k)). Synapses
    are linear, so a consumer's integrated input is its linear map of `value` (bias once per window): simulating a
    window is one pass over the graph in topological order, exact and fast. Spikes are counted from the frames
    (SynOps = spikes x fan-out); `spikes` holds each neuron's spike count in the window, the events consumers see.

    To add a windowed neuron type, in this file:

        @register_neuron_kernel("my_neuron")
        class MyKernel(WindowedNeuronKernel):
            single_spike = True                    # check at most one spike per neuron per window
            def setup(self): ...                   # read constants; call super().setup()
            def window_steps(self): return K       # steps of the emission window
            def window_frames(self, v): return frames, weights
    """

    single_spike = False
    time_varying_scale = True

    def window_steps(self):
        """Steps of this population's emission window (K)."""
        raise NotImplementedError

    def window_frames(self, v):
        """(frames (K, batch, *shape) float32 0/1, per-frame weights (K, ...)) for pre-activations v."""
        raise NotImplementedError

    def reset(self, batch):
        pass

    def fire(self, current, t):
        self.fail("runs on the layer-windowed schedule only (the graph header must say schedule \"windowed\")")

    def step(self, t):
        frames, weights = self.window_frames(self.current)
        if frames.shape[0] != self.window_steps():
            self.fail(f"emitted {frames.shape[0]} frames for a window of {self.window_steps()} steps")
        np.sum(frames, axis=0, out=self.spikes)
        if self.single_spike and self.spikes.size and self.spikes.max() > 1:
            self.fail("a neuron fired more than once in one window (single-spike coding violated)")
        self.decode(frames, weights, self.value)
        self.counts += self.spikes

    def decode(self, frames, weights, out):
        """Write the decoded value sum_k weights[k] frames[k] (in phase order) into `out`."""
        out.fill(0)
        for k in range(frames.shape[0]):
            out += frames[k] * weights[k]


@register_neuron_kernel("phase_neuron")
class PhaseNeuronKernel(WindowedNeuronKernel):
    """Single-spike phase coding (Hwang & Kung 2024): with levels L_k = theta B^-k (k = 0..K-1)

        single spike:  s_k = [V >= theta c_k] and no spike before k; c_k = B^-k (no shift) or
                       (B^-k + B^-(k+1)) / 2 with B^-K read as 0 (threshold shift: the nearest level)
        multi_spike:   r = V; s_k = [r >= L_k]; r -= L_k s_k   (B = 2: the K-bit floor expansion)

    and the spike at phase k weighs L_k. Same numerics as `snncc.ir.ops_phase.phase_frames` (tested bit for bit)."""

    def setup(self):
        super().setup()
        self.theta = self.const("theta")
        if self.theta is None or np.any(self.theta <= 0):
            self.fail("needs a positive theta")
        self.base = float(self.attr("base", 2.0))
        self.phases = int(self.attr("phases", 8))
        self.multi_spike = bool(self.attr("multi_spike", False))
        self.single_spike = not self.multi_spike
        shift = bool(self.attr("shift", True)) and not self.multi_spike
        if self.phases < 1 or not 1.0 < self.base <= 2.0:
            self.fail(f"phases={self.phases} must be >= 1 and base={self.base} in (1, 2]")
        k = np.arange(self.phases, dtype=np.float64)
        levels = self.base ** -k
        thresholds = (levels + np.append(levels[1:], 0.0)) / 2 if shift else levels
        level_f, thr_f = levels.astype(np.float32), thresholds.astype(np.float32)
        self.weights = np.stack([self.theta * f for f in level_f])
        self.thresholds = [self.theta * f for f in thr_f]

    def window_steps(self):
        return self.phases

    def decode(self, frames, weights, out):
        if not self.multi_spike:
            return super().decode(frames, weights, out)
        # the integer level n = sum_k 2^(K-1-k) s_k (exact) times Delta: one rounding, like the IR op
        out.fill(0)
        for k in range(self.phases):
            out += frames[k] * np.float32(2 ** (self.phases - 1 - k))
        out *= weights[-1]

    def window_frames(self, v):
        frames = np.zeros((self.phases,) + v.shape, dtype=np.float32)
        if self.multi_spike:
            residual = v.copy()
            for k in range(self.phases):
                fired = residual >= self.weights[k]
                frames[k] = fired
                residual = np.where(fired, residual - self.weights[k], residual)
        else:
            silent = np.ones(v.shape, dtype=bool)
            for k in range(self.phases):
                fired = silent & (v >= self.thresholds[k])
                frames[k] = fired
                silent &= ~fired
        return frames, self.weights


@register_kernel("delay")
class DelayKernel(Kernel):
    """y(t) = x(t - steps): a delay buffer of `steps` steps on a skip edge of a windowed graph. The windowed
    schedule evaluates one window per layer in dataflow order, so the delayed operand is the same sample's value:
    the output is a view of the input. (The buffer's cost, `steps` x size values, is the mapper's concern.)"""

    def setup(self):
        self.steps = int(self.attr("steps", 0))

    def input_fanout(self, index, output_fanout):
        return output_fanout.copy()

    def bind(self, inputs, batch, run):
        (source,) = inputs
        self.output = Signal(source.value, source.events, source.binary, source.event_scale, source.static,
                             source.spike_derived)
        return self.output


@register_kernel("graph_conv")
class GraphConvKernel(Kernel):
    """One graph layer on (nodes, features): y = A (x W^T) + b with the constant adjacency A[nodes, nodes].
    A unit on input (j, f) causes nnz(A[:, j]) x nnz(W[:, f]) synaptic events."""

    synaptic = True

    def setup(self):
        self.adjacency = self.const("adjacency")
        self.weight = self.const("weight")
        (in_shape,) = self.input_shapes
        if self.adjacency is None or self.weight is None or len(in_shape) != 2 \
                or self.adjacency.shape != (in_shape[0], in_shape[0]) or self.weight.shape[1] != in_shape[1]:
            self.fail(f"adjacency and weight do not fit input {list(in_shape)}")
        self.weight_t = np.ascontiguousarray(self.weight.T)
        self.bias = self.const("bias")

    def ann_macs(self):
        nodes, features = self.input_shapes[0]
        return nodes * features * self.shape[1] + int(np.count_nonzero(self.adjacency)) * self.shape[1]

    def input_fanout(self, index, output_fanout):
        return np.outer(np.count_nonzero(self.adjacency, axis=0), np.count_nonzero(self.weight, axis=0)).astype(
            np.float64)

    def bind(self, inputs, batch, run):
        (source,) = inputs
        self.x = source.value
        self.out = _buffer(batch, self.shape)
        self.analog_input = not source.spike_derived
        self.output = Signal(self.out, static=source.static)
        return self.output

    def step(self, t):
        y = np.matmul(self.adjacency, np.matmul(self.x, self.weight_t))
        if self.bias is not None:
            y = y + self.bias
        np.copyto(self.out, y)


@register_kernel("first_spike_pool")
class FirstSpikePoolKernel(Kernel):
    """Max pooling of a single-spike phase population on the windowed schedule: the levels decrease with the
    phase, so an output relays the first spike of its pooling window, i.e. y = max over the window of x (padding
    never fires). Each output emits at most one spike (counted, with the fan-out of what it feeds); each input spike
    is one event into the pool."""

    def setup(self):
        (in_shape,) = self.input_shapes
        kernel = tuple(self.attr("kernel"))
        self.strides = tuple(self.attr("strides", kernel))
        self.pads = tuple(self.attr("pads", (0, 0, 0, 0)))
        self.gather, _ = _conv_index_maps(in_shape, kernel, self.shape, self.strides, self.pads, (1, 1))
        self.out_pixels = self.shape[1] * self.shape[2]

    def bind(self, inputs, batch, run):
        (source,) = inputs
        self.padded = _PaddedInput(source.value, self.pads)
        self.cols = np.zeros((batch, self.shape[0], self.gather.shape[0], self.out_pixels), dtype=np.float32)
        self.out = _buffer(batch, self.shape)
        self.out_flat = self.out.reshape(batch, self.shape[0], self.out_pixels)
        self.spikes = _buffer(batch, self.shape)
        self.counts = _buffer(batch, self.shape)
        self.output = Signal(self.out, events=self.spikes, spike_derived=True)
        return self.output

    def step(self, t):
        self.padded.refresh()
        np.take(self.padded.flat, self.gather, axis=2, out=self.cols, mode="clip")
        np.max(self.cols, axis=2, out=self.out_flat)
        np.greater(self.out, 0, out=self.spikes, casting="unsafe")
        self.counts += self.spikes


def window_latency(program):
    """(latency, pipeline interval) in steps of a windowed program: a value is ready max(inputs) + K after its
    inputs for a windowed population, + steps for a delay, at max(inputs) for any other op; the latency is the
    latest output (K x spiking layers on the longest path), the interval the longest window (one sample per K)."""
    ready = {}
    interval = 0
    for kernel in program.kernels:
        start = max((ready[s] for s in kernel.inputs), default=0)
        own = kernel.window_steps() if isinstance(kernel, WindowedNeuronKernel) else 0
        if isinstance(kernel, DelayKernel):
            own = kernel.steps
        else:
            interval = max(interval, own)
        ready[kernel.name] = start + own
    return max((ready[o] for o in program.outputs), default=0), interval


@register_schedule("windowed")
def run_windowed(batch_run, checkpoints):
    """Layer-windowed schedule: every kernel steps once, in topological order; a windowed population turns the
    pre-activation it integrated over its producers' windows into its K spike frames and their decoded value.
    The output layer's membrane holds the complete logits after the last window (no division by T), so every
    checkpoint T gets the same decoded outputs; latency and throughput come from `window_latency`."""
    for kernel in batch_run.program.kernels:
        if isinstance(kernel, NeuronKernel) and not isinstance(kernel, WindowedNeuronKernel):
            kernel.fail("is a concurrent-schedule neuron in a windowed program")
        if getattr(kernel, "poisson", False):
            kernel.fail("poisson input coding is not available on the windowed schedule; use analog input")
        kernel.step(1)
    decoded = {name: sig.value.copy() for name, sig in batch_run.outputs.items()}
    return {t: decoded for t in checkpoints}


# ---------------------------------------------------------------------------------------------------------------
# Low-latency codings: bits (bit-serial IF, windowed) and signed (dual-threshold IF, concurrent; signed spikes)
# -- owned by the bits/signed developer; same numerics as snncc/ir/ops_bits.py and ops_signed.py (tested)
# ---------------------------------------------------------------------------------------------------------------

@register_neuron_kernel("bits_neuron")
class BitsNeuronKernel(WindowedNeuronKernel):
    """Bit-serial (MSB-first) IF population (Datta et al.; algorithms.md §3): T = timesteps, Delta = theta/(2^T-1),

        v = V;  for t = 1..T:  w_t = Delta 2^(T-t);  s(t) = [v >= w_t];  v -= w_t s(t)

    and the spike of step t weighs w_t, so the window decodes to Delta clip(floor(V / Delta), 0, 2^T - 1); a neuron
    spikes popcount(level) times. Same float32 operations as `snncc.ir.ops_bits.bit_serial` (tested bit for bit)."""

    def setup(self):
        super().setup()
        self.theta = self.const("theta")
        if self.theta is None or np.any(self.theta <= 0):
            self.fail("needs a positive theta")
        self.steps = int(self.attr("timesteps", 0))
        if not 1 <= self.steps <= 24:
            self.fail(f"timesteps={self.steps} must be in 1..24")
        delta = (self.theta / np.float32((1 << self.steps) - 1)).astype(np.float32)
        self.weights = np.stack([(delta * np.float32(1 << (self.steps - t))).astype(np.float32)
                                 for t in range(1, self.steps + 1)])

    def window_steps(self):
        return self.steps

    def window_frames(self, v):
        residual = np.array(v, dtype=np.float32, copy=True)
        frames = np.zeros((self.steps,) + residual.shape, dtype=np.float32)
        for k in range(self.steps):
            fired = residual >= self.weights[k]
            frames[k] = fired
            np.subtract(residual, self.weights[k], out=residual, where=fired)
        return frames, self.weights


@register_neuron_kernel("signed_neuron")
class SignedNeuronKernel(NeuronKernel):
    """Dual-threshold soft-reset IF population with signed spikes (error-compensation learning; algorithms.md §5):

        v(0) = v0 theta;  n(0) = 0
        v += I(t);  s = +1 if v >= theta;  s = -1 if v < theta_n theta and n > 0;  else 0
        v -= theta s;  n += s

    (theta_n and v0 are fractions of theta; theta_n = -inf: plain IF). Spikes are events of value +-1 (counted as
    |s|). Same float32 operations as `snncc.ir.ops_signed.dual_threshold` (tested bit for bit)."""

    signed = True

    def setup(self):
        super().setup()
        self.theta = self.const("theta")
        if self.theta is None or np.any(self.theta <= 0):
            self.fail("needs a positive theta")
        self.v0 = float(self.attr("v0", 0.5))
        theta_n = self.attr("theta_n", 0.0)
        theta_n = float("-inf") if theta_n is None else float(theta_n)
        self.low = (np.float32(theta_n) * self.theta).astype(np.float32) if np.isfinite(theta_n) else None

    def reset(self, batch):
        self.v = _buffer(batch, self.shape)
        self.v[...] = np.float32(self.v0) * self.theta
        self.n = _buffer(batch, self.shape)
        self._pos = np.zeros((batch,) + self.shape, dtype=bool)
        self._neg = np.zeros((batch,) + self.shape, dtype=bool)

    def fire(self, current, t):
        self.v += current
        np.greater_equal(self.v, self.theta, out=self._pos)
        np.copyto(self.spikes, self._pos)
        if self.low is not None:
            np.less(self.v, self.low, out=self._neg)
            self._neg &= self.n > 0
            self._neg &= ~self._pos
            self.spikes -= self._neg
        np.subtract(self.v, self.theta * self.spikes, out=self.v)
        self.n += self.spikes


# ---------------------------------------------------------------------------------------------------------------
# AMOS / FS circuits (`--coding amos`, algorithms.md §2; windowed) and the non-spiking product they leave in
# squeeze-excitation blocks -- owned by the AMOS developer; same numerics as snncc/ir/ops_amos.py (tested)
# ---------------------------------------------------------------------------------------------------------------

@register_neuron_kernel("fs_neuron")
class FSNeuronKernel(WindowedNeuronKernel):
    """FS / AMOS circuit population (Stoeckl & Maass): every unit runs K sub-neurons on its window's pre-activation

        v(1) = V;  z(t) = [v(t) > T(t)] ([>=] when ge);  v(t+1) = v(t) - h(t) z(t);  value = sum_t d(t) z(t) + e

    Sub-neuron t is evaluated once, at step t of the window, so it spikes at most once (checked every window); a
    unit emits at most K spikes. The membrane and the decoded value are float64 like `snncc.gates.fs_forward`
    (the IR op's ANN semantics), then float32; a test checks the two agree bit for bit."""

    def setup(self):
        super().setup()
        self.steps = int(self.attr("steps", 0))
        self.thresholds = [float(v) for v in self.attr("thresholds", ())]
        self.resets = [float(v) for v in self.attr("resets", ())]
        self.weights = np.asarray([float(v) for v in self.attr("weights", ())], dtype=np.float64)
        self.ge = bool(self.attr("ge", False))
        self.bias_offset = float(self.attr("bias_offset", 0.0))
        if self.steps < 1 or not (len(self.thresholds) == len(self.resets) == len(self.weights) == self.steps):
            self.fail(f"needs steps >= 1 and {self.steps} thresholds, resets and weights")
        if not (np.all(np.isfinite(self.thresholds)) and np.all(np.isfinite(self.resets))
                and np.all(np.isfinite(self.weights)) and np.isfinite(self.bias_offset)):
            self.fail("has a non-finite circuit parameter")

    def window_steps(self):
        return self.steps

    def window_frames(self, v):
        membrane = np.array(v, dtype=np.float64)
        frames = np.zeros((self.steps,) + membrane.shape, dtype=np.float32)
        for t in range(self.steps):
            z = (membrane >= self.thresholds[t]) if self.ge else (membrane > self.thresholds[t])
            frames[t] = z
            membrane -= self.resets[t] * z
        return frames, self.weights

    def step(self, t):
        super().step(t)
        # each frame holds one evaluation of each sub-neuron (0 or 1), so a unit spikes at most K times a window
        if self.spikes.size and self.spikes.max() > self.steps:
            self.fail("a sub-neuron fired more than once in one window")

    def decode(self, frames, weights, out):
        y = np.zeros(frames.shape[1:], dtype=np.float64)
        for t in range(self.steps):
            y += weights[t] * (frames[t] != 0)
        y += self.bias_offset
        np.copyto(out, y, casting="same_kind")


def _reduce_to_shape(array, shape):
    """Sum `array` (a per-sample output shape) over the axes that broadcasting added to `shape`."""
    shape = tuple(shape)
    lead = array.ndim - len(shape)
    out = array.sum(axis=tuple(range(lead))) if lead > 0 else array
    axes = tuple(i for i, d in enumerate(shape) if d == 1 and out.shape[i] != 1)
    return out.sum(axis=axes, keepdims=True) if axes else out.copy()


@register_kernel("mul")
class MulKernel(Kernel):
    """y = a * b elementwise (broadcast): the product of two decoded values, e.g. a squeeze-excitation
    x * sigmoid(s). It is not spiking (the AMOS EfficientNet run kept it exact too); its output is an analog value,
    so a dense or conv consumer does MACs on it."""

    def input_fanout(self, index, output_fanout):
        return _reduce_to_shape(output_fanout, self.input_shapes[index])

    def bind(self, inputs, batch, run):
        if len(inputs) != 2:
            self.fail(f"takes 2 inputs, got {len(inputs)}")
        self.a, self.b = inputs[0].value, inputs[1].value
        self.out = _buffer(batch, self.shape)
        self.output = Signal(self.out, static=inputs[0].static and inputs[1].static)
        return self.output

    def step(self, t):
        np.multiply(self.a, self.b, out=self.out)
