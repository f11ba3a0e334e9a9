"""Shared ground of the kernels: program format, errors, registries, the `Signal` that flows between
kernels, run options and the `Kernel` / `NeuronKernel` base classes."""

import numpy as np

FORMAT = "snncc-sim-program"
FORMAT_VERSION = 1

# 45 nm energy figures (Horowitz, ISSCC 2014), float32: one accumulate (a synaptic event, a bias add), one multiply
# and one multiply-accumulate (a synaptic event whose spike carries a weight that is not a power of two).
ENERGY_PJ_PER_ACCUMULATE = 0.9
ENERGY_PJ_PER_MULTIPLY = 3.7
ENERGY_PJ_PER_MAC = 4.6

# Relative per-element costs used to choose between the dense layer's per-row and union event paths, in units of one
# multiply-add inside a BLAS matrix product (measured on x86 with OpenBLAS; only their ratios matter).
COST_GATHER = 2.0        # copying one float through a fancy index (gathering spike values)
COST_ROW_GATHER = 20.0   # gathering one weight element by spike index and summing it (dense, per-row events)

# When the event-driven paths pay, decided once per layer and batch (not per step) from the event density measured
# over the first PROBE_STEPS steps (over its one step on the windowed schedule). Measured with
# `python benchmarks/event_crossover.py --batch 64` and `--batch 1` (one BLAS thread, 2-core x86 with OpenBLAS 0.3,
# shared machine at load ~7): mnist_cnn's conv 16->32 on 14x14 was faster on the event path up to an active-pixel
# fraction of 0.28 and its conv 32->32 on 7x7 up to 0.48 at batch 64; at batch 1 (0.9 and 0.45 M MACs a step) and
# for the one-channel conv 1->16 (7 M MACs at batch 64) the dense path won at every density down to 0.002; a dense
# 2048->512 layer was faster on the event path up to an element density of 0.02 at batch 64, mnist_cnn's 288->64
# never (1.2 M MACs at batch 64).
PROBE_STEPS = 4
EVENT_CROSSOVER_CONV = 0.25      # fraction of (sample, input pixel) pairs with an event on any channel
EVENT_CROSSOVER_DENSE = 0.02     # fraction of input elements with an event
EVENT_MIN_MACS = 16e6            # dense multiply-adds per step below which the dense path always wins
EVENT_MIN_GROUP_CHANNELS = 8     # fewer input channels per group leave an active pixel too little work to scatter
# A max-pool tree is fused (kernels/pool_tree.py) under "auto" when batch x windows reaches this: below it, finding,
# gathering and scattering the active windows costs more numpy calls than the members' whole-array ops save.
# Measured on mnist_cnn's three trees (3136, 1568 and 288 windows per sample) at batch 1-64, one BLAS thread: the
# unfused members were faster up to 12544 windows, the fused kernel from 25088 (at batch 1 the whole program ran
# 1.19x faster unfused).
POOL_TREE_MIN_WINDOWS = 16384


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

    def step_ops(self):
        """After `bind`: None, or a list of argument-free calls (numpy calls on the bound buffers) that do exactly what
        `step(t)` does at every t of this batch. A schedule runs them in one flat loop, which saves the kernels' Python
        frames per step (a third of the time at batch 1). A kernel whose step depends on t, draws random numbers or
        picks a path as it goes returns None."""
        return [] if type(self).step is Kernel.step else None

    def ann_macs(self):
        """Multiply-accumulates per sample in ANN mode (dense and conv only): one per synapse that exists (non-zero
        weight) and reaches an output (no padding)."""
        return 0

    def bias_adds(self):
        """Constant currents added per evaluation (a bias or shift on each output element)."""
        return 0

    def multiplies(self):
        """Multiplies per evaluation that are not synaptic (the product of two values, a scale)."""
        return 0

    def input_fanout(self, index, output_fanout):
        """Synaptic events caused per unit on each element of input `index` (per-sample shape). `output_fanout` is
        what each element of this node's output causes downstream; pass-through ops forward it, synaptic ops
        return their own fan-out."""
        return np.ones(self.input_shapes[index])


def zeros_buffer(batch, shape):
    return np.zeros((batch,) + tuple(shape), dtype=np.float32)


def per_sample(array, shape):
    """`array` (e.g. a per-channel (C, 1, 1) constant) spread to the full per-sample `shape`, contiguous: an operation
    on (batch, *shape) buffers then broadcasts only over the batch axis. A (C, 1, 1) operand makes numpy's inner loop
    one element long: 2-5x slower on large buffers (same floats either way)."""
    return np.ascontiguousarray(np.broadcast_to(array, tuple(shape)), dtype=np.float32)


class NeuronKernel(Kernel):
    """Base of spiking populations. One step: `fire(current, t)` updates the membrane state from the input current
    and writes this step's spikes into `self.spikes` in place; the base class then emits

        value(t) = spikes(t) * out_scale      (out_scale: the optional `out_scale` constant; absent = 1)

    and counts spikes per neuron. A subclass sets `signed = True` when spikes can be -1 (counted as |s|), and
    `multi_spike = True` when a neuron can emit an integer count > 1 per step.

    To add a neuron type (phase, AMOS/FS, bits, signed, ...), in a new module of this package (imported by its
    `__init__`):

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
    weighted_spikes = False   # a spike's weight needs a multiply at the synapse (not a power-of-two shift)

    def setup(self):
        scale = self.const("out_scale")
        self.out_scale = scale
        self.event_scale = None if scale is None else per_sample(scale, self.shape)

    def reset(self, batch):
        """Allocate and initialise the membrane state for a batch."""
        raise NotImplementedError

    def fire(self, current, t):
        """Integrate `current` (batch, *shape) for step t and write this step's spikes into `self.spikes`."""
        raise NotImplementedError

    def emit(self, t):
        """Write value(t) = spikes(t) * out_scale into `self.value`."""
        if self.out_scale is not None:
            np.multiply(self.spikes, self.event_scale, out=self.value)

    def bind(self, inputs, batch, run):
        if len(inputs) != 1:
            self.fail(f"a neuron population takes 1 input current, got {len(inputs)}")
        self.current = inputs[0].value
        self.spikes = zeros_buffer(batch, self.shape)
        plain = self.out_scale is None and not self.time_varying_scale
        self.value = self.spikes if plain else zeros_buffer(batch, self.shape)
        self.counts = zeros_buffer(batch, self.shape)
        self._abs = zeros_buffer(batch, self.shape) if self.signed else None
        self.reset(batch)
        self.output = Signal(self.value, events=self.spikes, binary=not (self.signed or self.multi_spike
                                                                         or self.time_varying_scale),
                             event_scale=self.event_scale, spike_derived=True)
        return self.output

    def step_ops(self):
        return None

    def step(self, t):
        self.fire(self.current, t)
        self.emit(t)
        if self.signed:
            np.abs(self.spikes, out=self._abs)
            self.counts += self._abs
        else:
            self.counts += self.spikes


def pass_through_signal(value, sources):
    """Signal of a linear map of `sources`: static if all are, spike-derived (events = the value's non-zeros) if all
    are."""
    static = all(s.static for s in sources)
    spike_derived = all(s.spike_derived for s in sources)
    return Signal(value, events=value if spike_derived else None, binary=False, static=static,
                  spike_derived=spike_derived)
