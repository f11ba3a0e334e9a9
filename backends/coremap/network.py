"""The mapper's view of a compiled spiking graph: layers (neuron populations) joined by projections.

A *layer* is a spiking population (a neuron op of the coding table `NEURON_MODELS`), a *readout* (a non-spiking
graph output: its neurons integrate their input current and never fire) or a graph *input* (analog values injected
by the host; it holds no core). Every non-input layer's input current is

    I = sum over projections p of  W_p s_p + b          (s_p: the source layer's output, flattened in C order)

where the linear ops between populations (dense, conv, pools, add, affine, flatten, reshape, concat) are composed
into one projection per source layer:

- `ConvProjection`: a convolution read straight from an image source (the common case; kept structural so that a
  slice's halo, synapse count and shared kernel are computed from formulas, at any size);
- `MatrixProjection`: any other linear map, as an explicit sparse matrix composed from the ops' sparse Jacobians
  along the linear sub-graph (`_compose`: formulas in `JACOBIAN_FORMULAS`; an op without one is probed on its own
  with unit vectors, f(e_i) - f(0), up to `MAX_PROBE_ENTRIES` dense entries); limited to `MAX_COMPOSED_NONZEROS`
  nonzeros.

Layers use a 3-D view (channels, rows, cols): an image layer keeps its (C, H, W); any other shape is (size, 1, 1),
so a slice is always a channel range x row range x column range.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
from scipy import sparse

from snncc.errors import OptionError
from snncc.non_spiking import PRODUCT_OPS
from snncc.ir.graph import Graph
from snncc.ir.node import Node

MAX_PROBE_ENTRIES = 60_000_000          # dense entries of one probed op (a linear op without a Jacobian formula)
MAX_COMPOSED_NONZEROS = 60_000_000      # nonzeros of a composed projection matrix (and of every partial product)
_BLOCK_NONZEROS = 8_000_000             # a sparse product above this many (bounded) nonzeros is built in row blocks
COMPOSE_CONVS = True                    # a conv chain from a source composes as one conv (`conv_chain`)
_CANCEL_RTOL = 1e-10                    # |entry| <= this x (sum of |terms|): a cancellation, dropped
LINEAR_OPS = {"dense", "conv", "avg_pool", "global_avg_pool", "add", "affine", "flatten", "reshape", "concat",
              "delay", "graph_conv", "transpose"}


class MappingError(OptionError):
    """The graph cannot be mapped onto the profile (too big, fan-in too large, unsupported coding or op)."""


# ---------------------------------------------------------------------------------------------------------------
# Coding table: one entry per neuron op
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NeuronModel:
    """How one neuron op costs on a core.

    coding            the profile's neuron model name this op needs (profile.neuron_models)
    units             compartments per neuron (AMOS: K sub-neurons per gate); a function of the node
    unit_outputs      every unit spikes on its own axon (AMOS sub-neurons): consumers take `units` axons per neuron
    extra_state_bits  state bits per neuron beyond the membrane (spike counters, step counters)
    signed            spikes can be -1: without profile.signed_spikes each source neuron takes two axons (and two
                      synapses per connection, the second with the negated weight)
    steps             per-step synapse scaling (bits, phase): a spike at step k of a window carries w_k; without
                      profile.graded_spikes each source neuron takes `steps` axons and each connection `steps`
                      weight copies (one per step); with graded spikes the payload carries the scale
    """

    coding: str
    units: Callable[[Node], int] = lambda node: 1
    extra_state_bits: Callable[[Node], int] = lambda node: 0
    signed: bool = False
    steps: Callable[[Node], int] | None = None
    unit_outputs: bool = False      # each compartment is a neuron of its own with its own output (AMOS sub-neurons)


def _counter_bits(n: int) -> int:
    return max(1, int(n).bit_length())


NEURON_MODELS: dict[str, NeuronModel] = {
    "if_neuron": NeuronModel("rate"),
    # n: the running spike count that gates -1 spikes
    "signed_neuron": NeuronModel("signed", signed=True, extra_state_bits=lambda n: _counter_bits(n.timesteps) + 1),
    "bits_neuron": NeuronModel("bits", extra_state_bits=lambda n: _counter_bits(n.timesteps),
                               steps=lambda n: int(n.timesteps)),
    "phase_neuron": NeuronModel("phase", extra_state_bits=lambda n: _counter_bits(n.phases) + 1,
                                steps=lambda n: int(n.phases)),
    # relays the first spike of a pooling window (a depthwise projection of ones from the single-spike population
    # it pools: phase or ttfs); no neuron model of its own, the graph's coding decides
    "first_spike_pool": NeuronModel("", extra_state_bits=lambda n: 1),
    # one spike per neuron per window, at the step that codes its value: a step counter and a fired flag, and the
    # consumer weighs step k by Delta (K - k), the linear PSP's value at the window's end
    "ttfs_neuron": NeuronModel("ttfs", extra_state_bits=lambda n: _counter_bits(n.steps) + 1,
                               steps=lambda n: int(n.steps)),
    # K sub-neurons per gate are K neurons; sub-neuron t's spike carries d(t) through its own axon
    "fs_neuron": NeuronModel("amos", units=lambda n: int(n.steps), unit_outputs=True),
}


def register_neuron_model(op: str, model: NeuronModel) -> None:
    """Teach the mapper a new neuron op (one table entry per coding)."""
    NEURON_MODELS[op] = model


# ---------------------------------------------------------------------------------------------------------------
# Sparse rows (a tiny CSR: what the partitioner and the checker read)
# ---------------------------------------------------------------------------------------------------------------

class SparseRows:
    """A CSR matrix [targets, sources]: row r holds indices[indptr[r]:indptr[r+1]] with weights data[...]."""

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, shape: tuple[int, int]):
        # no copy when the arrays already have these types: projections share them (a composed matrix read by two
        # layers, a scaled copy's index arrays)
        self.indptr = np.asarray(indptr, np.int64)
        self.indices = np.asarray(indices, np.int64)
        self.data = np.asarray(data, np.float32)
        self.shape = shape

    @staticmethod
    def from_blocks(blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]], shape) -> "SparseRows":
        """From (rows, cols, vals) triples in any order."""
        if blocks:
            rows = np.concatenate([b[0] for b in blocks])
            cols = np.concatenate([b[1] for b in blocks])
            vals = np.concatenate([b[2] for b in blocks])
        else:
            rows = cols = np.zeros(0, np.int64)
            vals = np.zeros(0, np.float32)
        order = np.lexsort((cols, rows))
        rows, cols, vals = rows[order], cols[order], vals[order]
        indptr = np.zeros(shape[0] + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
        return SparseRows(indptr, cols, vals, shape)

    @staticmethod
    def from_dense(a: np.ndarray) -> "SparseRows":
        """Its nonzeros, row by row (np.nonzero lists them in C order: already sorted, no sort and no row array)."""
        nonzero = a != 0
        indptr = np.zeros(a.shape[0] + 1, np.int64)
        np.cumsum(nonzero.sum(axis=1), out=indptr[1:])
        return SparseRows(indptr, np.nonzero(nonzero)[1], a[nonzero], a.shape)

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    def positions(self, rows: np.ndarray) -> np.ndarray:
        """Positions in `indices`/`data` of every entry of the given rows."""
        starts = self.indptr[rows]
        lens = self.indptr[rows + 1] - starts
        total = int(lens.sum())
        if total == 0:
            return np.zeros(0, np.int64)
        offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lens)[:-1])), lens)
        return offsets + np.arange(total)

    def row_counts(self, rows: np.ndarray) -> np.ndarray:
        return self.indptr[rows + 1] - self.indptr[rows]

    def pattern(self) -> np.ndarray:
        """Dense boolean (rows, columns): which source each row reads."""
        out = np.zeros(self.shape, bool)
        out[np.repeat(np.arange(self.shape[0]), np.diff(self.indptr)), self.indices] = True
        return out

    def to_dense(self) -> np.ndarray:
        out = np.zeros(self.shape, np.float32)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        out[rows, self.indices] = self.data
        return out

    def scaled_rows(self, factor: np.ndarray) -> "SparseRows":
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        return SparseRows(self.indptr, self.indices, self.data * factor[rows], self.shape)

    def with_data(self, data: np.ndarray) -> "SparseRows":
        return SparseRows(self.indptr, self.indices, data, self.shape)

    def kept(self, keep: np.ndarray) -> "SparseRows":
        """The entries where `keep` holds, sorted by (row, column) as `from_blocks` sorts them; without a sort (or
        a per-entry row array) when each row's columns are already increasing, as they are in every matrix built
        here."""
        starts = np.zeros(self.indices.size, bool)
        starts[self.indptr[:-1][np.diff(self.indptr) > 0]] = True
        if self.indices.size > 1 and not np.all((np.diff(self.indices) > 0) | starts[1:]):
            rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
            return SparseRows.from_blocks([(rows[keep], self.indices[keep], self.data[keep])], self.shape)
        before = np.zeros(self.indices.size + 1, np.int64)
        np.cumsum(keep, out=before[1:])
        return SparseRows(before[self.indptr], self.indices[keep], self.data[keep], self.shape)


# ---------------------------------------------------------------------------------------------------------------
# Projections
# ---------------------------------------------------------------------------------------------------------------

def view3(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """The (channels, rows, cols) view of a layer shape."""
    if len(shape) == 3:
        return tuple(int(d) for d in shape)  # type: ignore[return-value]
    return (int(np.prod(shape, dtype=np.int64)), 1, 1)


def set_indices(shape3, c0, c1, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Flat C-order indices of channels [c0, c1) x the given rows x the given cols of a (C, H, W) layer."""
    _, h, w = shape3
    flat = np.arange(c0, c1)[:, None] * h + rows[None, :]
    return (flat[:, :, None] * w + cols[None, None, :]).ravel()


def box_indices(shape3, c0, c1, r0, r1, q0, q1) -> np.ndarray:
    """Flat C-order indices of a box in a (C, H, W) layer."""
    _, h, w = shape3
    rows = np.arange(c0, c1)[:, None] * h + np.arange(r0, r1)[None, :]
    return (rows[:, :, None] * w + np.arange(q0, q1)[None, None, :]).ravel()


@dataclass
class ConvProjection:
    """y[o, oh, ow] += sum_{c,i,j} W[o,c,i,j] x[g(o)*Cg + c, s*oh + d*i - p, s*ow + d*j - p] from an image source."""

    source: str
    src_shape: tuple[int, int, int]
    tgt_shape: tuple[int, int, int]
    weight: np.ndarray          # (O, C/groups, kh, kw)
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]
    dilations: tuple[int, int]
    groups: int
    kind: str = "conv"
    channel_offset: int = 0     # reads source channels [offset, offset + groups * C/groups) (a partial-sum relay)

    def __post_init__(self):
        self._valid = [self._valid_taps(a) for a in (0, 1)]
        # prefix sums of the taps inside the input per output row / column, as lists: `synapses` runs per slice tried
        self._cum = [np.concatenate(([0], np.cumsum(v))).tolist() for v in self._valid]
        self._ranges = all(self.strides[a] <= (self.weight.shape[2 + a] - 1) * self.dilations[a] + 1 for a in (0, 1))
        # input_box's terms per axis (it runs for every slice a packing tries): strides, leading pads, kernel span,
        # input size
        self._og = self.weight.shape[0] // self.groups
        self._box_terms = (tuple(self.strides), (self.pads[0], self.pads[1]),
                           tuple((self.weight.shape[2 + a] - 1) * self.dilations[a] + 1 for a in (0, 1)),
                           (self.src_shape[1], self.src_shape[2]))

    def _valid_taps(self, axis: int) -> np.ndarray:
        size_in = self.src_shape[1 + axis]
        size_out = self.tgt_shape[1 + axis]
        k = self.weight.shape[2 + axis]
        pos = (np.arange(size_out)[:, None] * self.strides[axis] - self.pads[axis]
               + np.arange(k)[None, :] * self.dilations[axis])
        return ((pos >= 0) & (pos < size_in)).sum(axis=1)

    def max_taps(self) -> int:
        """Kernel taps inside the input at the output position that has the most (one input channel)."""
        return int(self._valid[0].max()) * int(self._valid[1].max())

    def input_box(self, c0, c1, r0, r1, q0, q1) -> tuple[int, int, int, int, int, int]:
        """The source box (channels, rows, cols) the target box reads: the halo of the tile."""
        og, cg, off = self._og, self.weight.shape[1], self.channel_offset
        (sr, sq), (pr, pq), (er, eq), (hr, hq) = self._box_terms
        return (off + (c0 // og) * cg, off + ((c1 - 1) // og + 1) * cg,
                max(r0 * sr - pr, 0), min((r1 - 1) * sr - pr + er, hr),
                max(q0 * sq - pq, 0), min((q1 - 1) * sq - pq + eq, hq))

    def input_sets(self, c0, c1, r0, r1, q0, q1):
        """The source neurons the target box reads (kernel taps inside the input, zero weights included), exactly:
        a channel range and, per axis, the positions some tap of some output row (column) lands on. Returns
        ("box", c0, c1, r0, r1, q0, q1) when both position sets are ranges (stride <= kernel span), else
        ("sets", c0, c1, rows, cols) (a 1x1 stride-2 conv reads every other row of its halo box)."""
        box = self.input_box(c0, c1, r0, r1, q0, q1)
        if self._ranges:
            return ("box",) + box
        sets = []
        for axis, (a0, a1) in enumerate(((r0, r1), (q0, q1))):
            k = self.weight.shape[2 + axis]
            if self.strides[axis] <= (k - 1) * self.dilations[axis] + 1:
                sets.append(None)
                continue
            pos = (np.arange(a0, a1)[:, None] * self.strides[axis] - self.pads[axis]
                   + np.arange(k)[None, :] * self.dilations[axis])
            sets.append(np.unique(pos[(pos >= 0) & (pos < self.src_shape[1 + axis])]))
        if sets[0] is None and sets[1] is None:
            return ("box",) + box
        rows = np.arange(box[2], box[3]) if sets[0] is None else sets[0]
        cols = np.arange(box[4], box[5]) if sets[1] is None else sets[1]
        return ("sets", box[0], box[1], rows, cols)

    def synapses(self, c0, c1, r0, r1, q0, q1) -> int:
        """Synapses (kernel taps that land inside the input) of the target box."""
        rows = self._cum[0][r1] - self._cum[0][r0]
        cols = self._cum[1][q1] - self._cum[1][q0]
        return int((c1 - c0) * self.weight.shape[1] * rows * cols)

    def _live_taps(self, axis: int) -> np.ndarray:
        """Kernel rows (axis 0) or columns (axis 1) with a nonzero weight: the others read nothing."""
        return np.flatnonzero(np.any(self.weight != 0, axis=(0, 1, 3) if axis == 0 else (0, 1, 2)))

    def used_sources(self) -> int:
        """Source neurons read by at least one kernel tap with a nonzero row and column (an upper bound on the
        sources a nonzero weight reads, so lower bounds built on it stay valid)."""
        hit = []
        for axis in (0, 1):
            pos = (np.arange(self.tgt_shape[1 + axis])[:, None] * self.strides[axis] - self.pads[axis]
                   + self._live_taps(axis)[None, :] * self.dilations[axis])
            pos = pos[(pos >= 0) & (pos < self.src_shape[1 + axis])]
            hit.append(np.unique(pos).size)
        return int(self.groups * self.weight.shape[1] * hit[0] * hit[1])

    def min_axons(self) -> int:
        """A lower bound on the input axons all cores together need for this projection: through one kernel tap
        that lands inside the input for every output position, distinct positions read distinct inputs, so the cores
        holding the layer receive at least (output positions) x (input channels that tap reads with a nonzero
        weight) axons; 0 when no tap lands inside everywhere."""
        inside = []
        for axis in (0, 1):
            s, d, k = self.strides[axis], self.dilations[axis], self.weight.shape[2 + axis]
            last = (self.tgt_shape[1 + axis] - 1) * s - self.pads[axis]
            inside.append([t for t in range(k) if t * d >= self.pads[axis] and last + t * d < self.src_shape[1 + axis]])
        if not inside[0] or not inside[1]:
            return 0
        og, cg = self.weight.shape[0] // self.groups, self.weight.shape[1]
        group = (np.arange(self.weight.shape[0]) // og)[:, None]
        group_base = self.channel_offset + group * cg + np.arange(cg)[None, :]
        best = 0
        for t in inside[0]:
            for u in inside[1]:
                read = self.weight[:, :, t, u] != 0
                best = max(best, int(np.unique(group_base[read]).size))
        return int(self.tgt_shape[1] * self.tgt_shape[2] * best)

    def kernel_weights(self, c0, c1) -> int:
        """Weights of the shared kernels of output channels [c0, c1)."""
        return int((c1 - c0) * int(np.prod(self.weight.shape[1:])))

    def rows_csr(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row position, source index, weight) of every synapse of the given flat target rows (explicit form)."""
        o_all, oh_all, ow_all = self.tgt_shape
        o, rem = np.divmod(rows, oh_all * ow_all)
        oh, ow = np.divmod(rem, ow_all)
        cg, kh, kw = self.weight.shape[1:]
        og = self.weight.shape[0] // self.groups
        c = self.channel_offset + (o // og)[:, None, None, None] * cg + np.arange(cg)[None, :, None, None]
        ih = oh[:, None, None, None] * self.strides[0] - self.pads[0] + np.arange(kh)[None, None, :, None] * self.dilations[0]
        iw = ow[:, None, None, None] * self.strides[1] - self.pads[1] + np.arange(kw)[None, None, None, :] * self.dilations[1]
        c, ih, iw = np.broadcast_arrays(c, ih, iw)
        w = self.weight[o]
        pos = np.broadcast_to(np.arange(len(rows))[:, None, None, None], c.shape)
        ok = (ih >= 0) & (ih < self.src_shape[1]) & (iw >= 0) & (iw < self.src_shape[2])
        src = (c * self.src_shape[1] + ih) * self.src_shape[2] + iw
        return pos[ok], src[ok], w[ok]

    def scaled(self, factor: np.ndarray) -> "ConvProjection":
        """Weights multiplied per output channel."""
        return replace(self, weight=(self.weight * factor.reshape(-1, 1, 1, 1)).astype(np.float32))

    def max_abs_per_channel(self) -> np.ndarray:
        return np.abs(self.weight).reshape(self.weight.shape[0], -1).max(axis=1)


@dataclass
class MatrixProjection:
    """y_flat += M x_flat with an explicit sparse M [target size, source size]."""

    source: str
    src_shape: tuple[int, int, int]
    tgt_shape: tuple[int, int, int]
    matrix: SparseRows
    kind: str = "matrix"

    def rows_csr(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = self.matrix.positions(rows)
        counts = self.matrix.row_counts(rows)
        return np.repeat(np.arange(len(rows)), counts), self.matrix.indices[pos], self.matrix.data[pos]

    def used_sources(self) -> int:
        return int(np.unique(self.matrix.indices).size)

    def min_axons(self) -> int:
        """At least one core receives a whole row's sources."""
        return int(np.diff(self.matrix.indptr).max(initial=0))

    def sources_of(self, rows: np.ndarray) -> np.ndarray:
        return self.matrix.indices[self.matrix.positions(rows)]

    def synapse_count(self, rows: np.ndarray) -> int:
        return int(self.matrix.row_counts(rows).sum())

    def scaled(self, factor_per_row: np.ndarray) -> "MatrixProjection":
        return MatrixProjection(self.source, self.src_shape, self.tgt_shape, self.matrix.scaled_rows(factor_per_row))

    def max_abs_per_row(self) -> np.ndarray:
        out = np.zeros(self.matrix.shape[0], np.float32)
        rows = np.repeat(np.arange(self.matrix.shape[0]), np.diff(self.matrix.indptr))
        np.maximum.at(out, rows, np.abs(self.matrix.data))
        return out


Projection = ConvProjection | MatrixProjection


@dataclass
class Layer:
    """A population on cores (or the host input). `bias` is per neuron (flat, float32) or None."""

    name: str
    op: str
    kind: str                       # "input" | "population" | "readout"
    shape: tuple[int, ...]
    node: Node | None = None
    model: NeuronModel | None = None
    projections: list = field(default_factory=list)
    bias: np.ndarray | None = None
    theta: np.ndarray | None = None     # the population's threshold constant (broadcast-ready), if it has one
    circuits: tuple | None = None       # an fs_neuron's per-channel circuits (T, h, d, e) (`FSNeuron.parameters`)

    @property
    def shape3(self) -> tuple[int, int, int]:
        return view3(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def units(self) -> int:
        return 1 if self.model is None else max(1, int(self.model.units(self.node)))

    @property
    def signed(self) -> bool:
        return bool(self.model is not None and self.model.signed)

    @property
    def steps(self) -> int:
        """Weight copies per step schedule (1 unless the coding scales synapses per step)."""
        if self.model is None or self.model.steps is None:
            return 1
        return max(1, int(self.model.steps(self.node)))


@dataclass
class Network:
    """Layers in topological order (inputs first) and the graph's coding."""

    layers: list[Layer]
    coding: str
    timesteps: int

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def by_name(self) -> dict[str, Layer]:
        return {layer.name: layer for layer in self.layers}


# ---------------------------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------------------------

def _terms(value: str, coeff: float, nodes: dict, is_source) -> list | None:
    """Structural decomposition of a current into (source, op node or None, coeff) terms, or None."""
    if is_source(value):
        return [(value, None, coeff)]
    node = nodes[value]
    if node.op == "add":
        out = []
        for src, c in zip(node.inputs, node.coeffs):
            sub = _terms(src, coeff * float(c), nodes, is_source)
            if sub is None:
                return None
            out += sub
        return out
    if node.op == "conv" and is_source(node.inputs[0]):
        return [(node.inputs[0], node, coeff)]
    summed = nodes[node.inputs[0]] if node.op == "conv" else None
    if summed is not None and summed.op == "add" and all(is_source(i) for i in summed.inputs) \
            and len(set(summed.inputs)) == len(summed.inputs):
        # conv(sum_i c_i a_i) = sum_i c_i conv(a_i): a conv of each summed population (a HardSwish lowered as relu +
        # a staircase is two), the bias once
        return [(src, node if k == 0 else replace(node, bias=None), coeff * float(c))
                for k, (src, c) in enumerate(zip(summed.inputs, summed.coeffs))]
    if node.op == "conv" and nodes[node.inputs[0]].op == "avg_pool" and is_source(nodes[node.inputs[0]].inputs[0]):
        pool = nodes[node.inputs[0]]
        return [(pool.inputs[0], (pool, node), coeff)]  # composed into one conv if exact (`_pool_conv`)
    if node.op in ("global_avg_pool", "avg_pool") and is_source(node.inputs[0]):
        if node.op == "global_avg_pool" or node.count_include_pad or not any(node.pads):
            return [(node.inputs[0], node, coeff)]  # a depthwise conv with weights 1 / window
    if node.op == "affine" and node.shift is None and node.scale is not None and is_source(node.inputs[0]):
        return [(node.inputs[0], node, coeff)]  # a synapse scale per channel: a depthwise 1x1 projection
    if node.op == "dense" and node.axis in (-1, len(node.type.shape) - 1) and len(node.type.shape) == 1:
        src = node.inputs[0]
        if is_source(src):
            return [(src, node, coeff)]
        inner = nodes[src]
        if inner.op in ("flatten", "reshape") and is_source(inner.inputs[0]):
            return [(inner.inputs[0], node, coeff)]
    return None


def _pool_conv(src, pool, conv, coeff, src3, tgt3, constants) -> "ConvProjection | None":
    """avg_pool (kp, stride sp, no padding) followed by conv (k, stride s, pads p, dilation 1) as one conv on the
    pool's input: kernel kp + (k-1) sp, stride sp s, pads p sp, W'[o,c,i,j] = sum_{a,b} W[o,c,a,b] / kp^2 over the
    taps with 0 <= i - a sp < kp and 0 <= j - b sp < kp. None unless a random probe shows it is exact (the pooled
    padding must land on the input's padding: no rows left over by the pool)."""
    if any(pool.pads) or tuple(conv.dilations) != (1, 1):
        return None
    (kh, kw), (sh, sw) = tuple(pool.kernel), tuple(pool.strides)
    w = constants[conv.weight].astype(np.float64) * coeff
    o, cg, k1, k2 = w.shape
    big = np.zeros((o, cg, kh + (k1 - 1) * sh, kw + (k2 - 1) * sw))
    for a in range(k1):
        for b in range(k2):
            big[:, :, a * sh:a * sh + kh, b * sw:b * sw + kw] += w[:, :, a:a + 1, b:b + 1] / (kh * kw)
    p = tuple(conv.pads)
    proj = ConvProjection(src, src3, tgt3, big.astype(np.float32), (sh * conv.strides[0], sw * conv.strides[1]),
                          (p[0] * sh, p[1] * sw, p[2] * sh, p[3] * sw), (1, 1), int(conv.groups))
    x = np.random.default_rng(0).uniform(0, 1, (2,) + src3).astype(np.float32)
    from snncc.ir import numeric

    pooled = pool.evaluate([x], constants)
    chain = numeric.conv2d(pooled, w.astype(np.float32), None, tuple(conv.strides), tuple(conv.pads), (1, 1),
                           int(conv.groups))
    try:
        direct = _conv_of(proj, x)
    except ValueError:
        return None
    if direct.shape != chain.shape or not np.allclose(direct, chain, rtol=1e-4, atol=1e-5):
        return None
    return proj


def _conv_of(p: "ConvProjection", x: np.ndarray) -> np.ndarray:
    from snncc.ir import numeric

    return numeric.conv2d(x, p.weight, None, p.strides, p.pads, p.dilations, p.groups)


def _structural(terms, nodes, constants, target_shape) -> tuple[list, np.ndarray] | None:
    by_source: dict[str, list] = {}
    for src, node, coeff in terms:
        by_source.setdefault(src, []).append((node, coeff))
    projections = []
    tgt3 = view3(target_shape)
    bias = np.zeros(target_shape, np.float32)
    for src, items in by_source.items():
        if len(items) != 1:
            return None
        node, coeff = items[0]
        src_shape = nodes[src].type.shape
        if node is None:
            if tuple(src_shape) != tuple(target_shape):
                return None
            if len(src_shape) == 3:
                c = src_shape[0]
                w = np.full((c, 1, 1, 1), coeff, np.float32)
                projections.append(ConvProjection(src, view3(src_shape), tgt3, w, (1, 1), (0, 0, 0, 0), (1, 1), c))
            else:
                n = int(np.prod(src_shape))
                m = SparseRows(np.arange(n + 1), np.arange(n), np.full(n, coeff, np.float32), (n, n))
                projections.append(MatrixProjection(src, view3(src_shape), tgt3, m))
        elif isinstance(node, tuple):
            proj = _pool_conv(src, node[0], node[1], coeff, view3(src_shape), tgt3, constants)
            if proj is None:
                return None
            projections.append(proj)
            if node[1].bias is not None:
                bias += (constants[node[1].bias] * np.float32(coeff)).reshape(-1, 1, 1)
        elif node.op in ("global_avg_pool", "avg_pool"):
            c, h, w = src_shape
            kh, kw = (h, w) if node.op == "global_avg_pool" else tuple(node.kernel)
            strides = (1, 1) if node.op == "global_avg_pool" else tuple(node.strides)
            pads = (0, 0, 0, 0) if node.op == "global_avg_pool" else tuple(node.pads)
            weight = np.full((c, 1, kh, kw), np.float32(coeff) / np.float32(kh * kw), np.float32)
            projections.append(ConvProjection(src, view3(src_shape), tgt3, weight, strides, pads, (1, 1), c))
        elif node.op == "affine":
            scale = np.broadcast_to(constants[node.scale] * np.float32(coeff), src_shape).astype(np.float32)
            if tuple(src_shape) != tuple(target_shape):
                return None
            if len(src_shape) == 3:
                per_channel = scale.reshape(src_shape[0], -1)
                if not np.all(per_channel == per_channel[:, :1]):
                    return None
                c = src_shape[0]
                # a copy: a view would keep the whole per-neuron broadcast alive
                projections.append(ConvProjection(src, view3(src_shape), tgt3,
                                                  per_channel[:, :1].reshape(c, 1, 1, 1).copy(), (1, 1), (0, 0, 0, 0),
                                                  (1, 1), c))
            else:
                n = int(np.prod(src_shape))
                m = SparseRows(np.arange(n + 1), np.arange(n), scale.reshape(-1), (n, n))
                projections.append(MatrixProjection(src, view3(src_shape), tgt3, m))
        elif node.op == "conv":
            w = constants[node.weight]
            if coeff != 1.0 or w.dtype != np.float32:   # else the graph's read-only kernel itself: no copy
                w = (w * np.float32(coeff)).astype(np.float32)
            projections.append(ConvProjection(src, view3(src_shape), tgt3, w, tuple(node.strides), tuple(node.pads),
                                              tuple(node.dilations), int(node.groups)))
            if node.bias is not None:
                bias += (constants[node.bias] * np.float32(coeff)).reshape(-1, 1, 1)
        else:  # dense on the flattened source
            w = (constants[node.weight] * np.float32(coeff)).astype(np.float32)
            projections.append(MatrixProjection(src, view3(src_shape), tgt3, SparseRows.from_dense(w)))
            if node.bias is not None:
                bias += constants[node.bias] * np.float32(coeff)
    return projections, bias.reshape(-1)


# ---------------------------------------------------------------------------------------------------------------
# Explicit projections: sparse Jacobians composed along the linear sub-graph
# ---------------------------------------------------------------------------------------------------------------

class _TooMany(Exception):
    """A sparse product over the nonzero limit (count: its nonzeros, or a lower bound of them)."""

    def __init__(self, count: int):
        super().__init__(count)
        self.count = count


def _csr(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape) -> sparse.csr_matrix:
    """A canonical float64 CSR matrix (sorted columns, duplicates summed, exact zeros dropped)."""
    m = sparse.coo_matrix((np.asarray(vals, np.float64), (np.asarray(rows, np.int64), np.asarray(cols, np.int64))),
                          shape=tuple(int(d) for d in shape)).tocsr()
    m.sum_duplicates()
    m.eliminate_zeros()
    m.sort_indices()
    return m


def _identity(n: int, scale=1.0) -> sparse.csr_matrix:
    return _csr(np.arange(n), np.arange(n), np.broadcast_to(np.asarray(scale, np.float64), (n,)), (n, n))


def _size(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _conv_jacobian(src3, tgt3, weight: np.ndarray, strides, pads, dilations, groups: int, where: str,
                   row_scale: np.ndarray | None = None) -> sparse.csr_matrix:
    """d conv(x) / d x: `ConvProjection.rows_csr` over all output rows (in row chunks), zero weights dropped,
    each row times row_scale[row] if given."""
    proj = ConvProjection("", tuple(src3), tuple(tgt3), np.asarray(weight, np.float64), tuple(strides), tuple(pads),
                          tuple(dilations), int(groups))
    n_out, n_in = _size(tgt3), _size(src3)
    chunk = max(1, 4_000_000 // max(1, int(np.prod(weight.shape[1:]))))
    blocks, total = [], 0
    for start in range(0, n_out, chunk):
        pos, src, w = proj.rows_csr(np.arange(start, min(start + chunk, n_out)))
        keep = w != 0
        total += int(keep.sum())
        if total > MAX_COMPOSED_NONZEROS:
            raise MappingError(f"{where} has a {n_out} x {n_in} Jacobian with more than {MAX_COMPOSED_NONZEROS:,} "
                               "nonzeros")
        blocks.append((pos[keep] + start, src[keep], w[keep]))
    rows, cols, vals = (np.concatenate(parts) for parts in zip(*blocks))
    if row_scale is not None:
        vals = vals * row_scale[rows]
    return _csr(rows, cols, vals, (n_out, n_in))


def _kron_csr(*factors) -> sparse.csr_matrix:
    m = factors[0]
    for f in factors[1:]:
        m = sparse.kron(m, f, format="csr")
    m = m.tocoo()
    return _csr(m.row, m.col, m.data, m.shape)


def _jac_identity(node, in_shapes, out_shape, constants, where):
    return [_identity(_size(out_shape))]


def _jac_add(node, in_shapes, out_shape, constants, where):
    return [_identity(_size(out_shape), float(c)) for c in node.coeffs]     # the IR's add does not broadcast


def _jac_affine(node, in_shapes, out_shape, constants, where):
    scale = 1.0 if node.scale is None else np.broadcast_to(constants[node.scale], out_shape).reshape(-1)
    return [_identity(_size(out_shape), scale)]                             # the shift is in the bias, f(0)


def _jac_conv(node, in_shapes, out_shape, constants, where):
    return [_conv_jacobian(view3(in_shapes[0]), view3(out_shape), constants[node.weight], node.strides, node.pads,
                           node.dilations, int(node.groups), where)]


def _jac_pool(node, in_shapes, out_shape, constants, where):
    """Average pools as depthwise convs of 1 / window; without count_include_pad a padded window divides by the
    taps inside the input."""
    c, h, w = in_shapes[0]
    if node.op == "global_avg_pool":
        kernel, strides, pads = (h, w), (1, 1), (0, 0, 0, 0)
    else:
        kernel, strides, pads = tuple(node.kernel), tuple(node.strides), tuple(node.pads)
    if node.op == "global_avg_pool" or node.count_include_pad or not any(pads):
        weight, scale = np.full((c, 1) + kernel, 1.0 / (kernel[0] * kernel[1])), None
    else:
        weight = np.ones((c, 1) + kernel)
        taps = ConvProjection("", (c, h, w), view3(out_shape), weight, strides, pads, (1, 1), c)._valid
        scale = np.tile(1.0 / np.multiply.outer(taps[0], taps[1]).reshape(-1).astype(np.float64), c)
    return [_conv_jacobian((c, h, w), view3(out_shape), weight, strides, pads, (1, 1), c, where, scale)]


def _jac_dense(node, in_shapes, out_shape, constants, where):
    """W applied along `axis`: I_pre (x) W (x) I_post on the flat index."""
    shape = in_shapes[0]
    axis = node.axis % len(shape)
    w = sparse.csr_matrix(np.asarray(constants[node.weight], np.float64))
    return [_kron_csr(sparse.identity(_size(shape[:axis])), w, sparse.identity(_size(shape[axis + 1:])))]


def _jac_graph_conv(node, in_shapes, out_shape, constants, where):
    """y[i, g] = sum_{j, f} A[i, j] W[g, f] x[j, f]: A (x) W."""
    a = sparse.csr_matrix(np.asarray(constants[node.adjacency], np.float64))
    return [_kron_csr(a, sparse.csr_matrix(np.asarray(constants[node.weight], np.float64)))]


def _jac_concat(node, in_shapes, out_shape, constants, where):
    """Each input lands on its own range of the concatenated axis."""
    axis = node.axis % len(out_shape)
    pre, post, total = _size(out_shape[:axis]), _size(out_shape[axis + 1:]), int(out_shape[axis])
    out, offset = [], 0
    for shape in in_shapes:
        n = _size(shape)
        p, x, q = np.unravel_index(np.arange(n), (pre, int(shape[axis]), post))
        out.append(_csr((p * total + offset + x) * post + q, np.arange(n), np.ones(n), (_size(out_shape), n)))
        offset += int(shape[axis])
    return out


def _jac_transpose(node, in_shapes, out_shape, constants, where):
    """A permutation: output j (flat) reads the input element at the permuted position."""
    n = _size(in_shapes[0])
    source = np.transpose(np.arange(n).reshape(in_shapes[0]), node.perm).reshape(-1)
    return [_csr(np.arange(n), source, np.ones(n), (n, n))]


# op -> fn(node, input shapes, output shape, constants, where) -> [d node / d input_i as float64 CSR, one per input]
# (flat C order on both sides). A linear op without an entry is probed on its own (`_probe_op`).
JACOBIAN_FORMULAS: dict[str, Callable] = {
    "flatten": _jac_identity, "reshape": _jac_identity, "delay": _jac_identity, "add": _jac_add,
    "affine": _jac_affine, "conv": _jac_conv, "avg_pool": _jac_pool, "global_avg_pool": _jac_pool,
    "dense": _jac_dense, "graph_conv": _jac_graph_conv, "concat": _jac_concat, "transpose": _jac_transpose,
}


def _probe_op(node: Node, index: int, in_shapes, out_shape, constants, where: str,
              chunk: int = 256) -> sparse.csr_matrix:
    """d node / d input[index] of one op, probed with unit vectors: f(e_i) - f(0), the other inputs at zero;
    limited to MAX_PROBE_ENTRIES dense entries."""
    n_in, n_out = _size(in_shapes[index]), _size(out_shape)
    if n_in * n_out > MAX_PROBE_ENTRIES:
        raise MappingError(f"{where} has no Jacobian formula (JACOBIAN_FORMULAS) and probing it gives a "
                           f"{n_out} x {n_in} matrix ({n_in * n_out:,} entries, limit {MAX_PROBE_ENTRIES:,})")

    def run(batch: np.ndarray | None, size: int) -> np.ndarray:
        feed = [np.zeros((size,) + tuple(s), np.float64) for s in in_shapes]
        if batch is not None:
            feed[index] = batch.reshape((size,) + tuple(in_shapes[index]))
        return np.asarray(node.evaluate(feed, constants), np.float64).reshape(size, -1)

    base = run(None, 1)
    blocks = []
    for start in range(0, n_in, chunk):
        stop = min(start + chunk, n_in)
        batch = np.zeros((stop - start, n_in), np.float64)
        batch[np.arange(stop - start), np.arange(start, stop)] = 1.0
        out = run(batch, stop - start) - base
        cols, rows = np.nonzero(out)
        blocks.append((rows, cols + start, out[cols, rows]))
    rows, cols, vals = (np.concatenate(parts) for parts in zip(*blocks))
    return _csr(rows, cols, vals, (n_out, n_in))


def _matmul(j: sparse.csr_matrix, m: sparse.csr_matrix) -> sparse.csr_matrix:
    """j @ m in canonical CSR. When a bound on its nonzeros exceeds MAX_COMPOSED_NONZEROS it is built in row blocks
    of about _BLOCK_NONZEROS, so that a product over the limit is refused (_TooMany) before it is built whole."""
    counts = np.diff(m.indptr).astype(np.float64)          # nonzeros per row of m
    per_entry = counts[j.indices]
    if per_entry.sum() <= MAX_COMPOSED_NONZEROS:
        out = (j @ m).tocsr()
    else:
        ends = np.concatenate(([0.0], np.cumsum(per_entry)))[j.indptr[1:]]    # bound of rows [0, r] together
        blocks, total, start, n = [], 0, 0, j.shape[0]
        while start < n:
            stop = int(np.searchsorted(ends, (ends[start - 1] if start else 0.0) + _BLOCK_NONZEROS, side="right"))
            stop = min(max(stop, start + 1), n)
            block = (j[start:stop] @ m).tocsr()
            total += block.nnz
            if total > MAX_COMPOSED_NONZEROS:
                raise _TooMany(total)
            blocks.append(block)
            start = stop
        out = sparse.vstack(blocks, format="csr")
    if out.nnz > MAX_COMPOSED_NONZEROS:
        raise _TooMany(out.nnz)
    out.sum_duplicates()
    out.sort_indices()
    return out


def _compose(graph: Graph, nodes: dict, value: str, sources: list[str], target: Layer, convs: bool = False):
    """Explicit matrices of the linear sub-graph from `sources` to `value`, composed along the DAG (in graph order)
    from each op's sparse Jacobian:

        M(v <- s) = sum over the inputs i of v:  J(v, i) @ M(i <- s),      M(s <- s) = I

    The bias is f(0), one forward pass with every source at zero. Alongside M, the same products of |J| bound the
    magnitude of the terms summed into each entry; an entry at most _CANCEL_RTOL times its bound is a cancellation
    (x - y + y) left over by rounding and is dropped with the exact zeros. With `convs`, a source whose sub-graph is
    a chain of convs is composed as one conv (`conv_chain`) without building its matrix."""
    source_set = set(sources)
    order = {name: k for k, name in enumerate(nodes)}
    sub, stack = set(), [value]
    while stack:
        name = stack.pop()
        if name not in sub and name not in source_set:
            sub.add(name)
            stack.extend(nodes[name].inputs)
    sub_order = sorted(sub, key=order.__getitem__)

    memo: dict[str, np.ndarray] = {}

    def evaluate(name: str) -> np.ndarray:
        if name in source_set:
            return np.zeros((1,) + tuple(nodes[name].type.shape), np.float32)
        if name not in memo:
            node = nodes[name]
            memo[name] = node.evaluate([evaluate(i) for i in node.inputs], graph.constants)
        return memo[name]

    base = evaluate(value).reshape(-1).astype(np.float32)
    n_tgt = base.size
    jacobians: dict[tuple[str, int], tuple[sparse.csr_matrix, sparse.csr_matrix]] = {}

    def jacobian(name: str, index: int):
        if (name, index) not in jacobians:
            node = nodes[name]
            where = f"layer %{target.name}: op %{name} ({node.op}) between its sources and it"
            in_shapes = [tuple(nodes[i].type.shape) for i in node.inputs]
            formula = JACOBIAN_FORMULAS.get(node.op)
            if formula is not None:
                found = dict(enumerate(formula(node, in_shapes, tuple(node.type.shape), graph.constants, where)))
            else:
                found = {index: _probe_op(node, index, in_shapes, tuple(node.type.shape), graph.constants, where)}
            for k, j in found.items():
                jacobians[(name, k)] = (j, abs(j).astype(np.float32))
        return jacobians[(name, index)]

    readers: dict[str, int] = {}
    for name in sub_order:
        for i in nodes[name].inputs:
            readers[i] = readers.get(i, 0) + 1
    projections = []
    for s in sources:
        if convs:
            from snncc.backends.coremap.conv_chain import compose_conv

            direct = compose_conv(nodes, graph.constants, value, s, sub_order)
            if direct is not None:
                projections.append(replace(direct, tgt_shape=target.shape3))
                continue
        shape = nodes[s].type.shape
        n_src = _size(shape)
        what = f"layer %{target.name}: the linear ops between %{s} and it compose into a {n_tgt} x {n_src} matrix"
        hint = "; only a conv or a dense read straight from a population is mapped structurally"
        exact = {s: _identity(n_src)}
        bound = {s: exact[s].astype(np.float32)}
        left = dict(readers)
        for name in sub_order:
            node = nodes[name]
            acc = acc_abs = None
            try:
                for k, i in enumerate(node.inputs):
                    if i not in exact:
                        continue
                    j, j_abs = jacobian(name, k)
                    part, part_abs = _matmul(j, exact[i]), _matmul(j_abs, bound[i])
                    acc = part if acc is None else acc + part
                    acc_abs = part_abs if acc_abs is None else acc_abs + part_abs
            except _TooMany as too_many:
                raise MappingError(f"{what}: its partial product at %{name} has {too_many.count:,} or more "
                                   f"nonzeros (limit {MAX_COMPOSED_NONZEROS:,}){hint}") from None
            for i in node.inputs:
                left[i] -= 1
                if left[i] == 0:        # no reader left: free it
                    exact.pop(i, None)
                    bound.pop(i, None)
            if acc is not None:
                if acc_abs.nnz > MAX_COMPOSED_NONZEROS:
                    raise MappingError(f"{what}: its partial sum at %{name} has {acc_abs.nnz:,} nonzeros (limit "
                                       f"{MAX_COMPOSED_NONZEROS:,}){hint}")
                exact[name], bound[name] = acc.tocsr(), acc_abs.tocsr()
        if value in exact:
            matrix = _sparse_rows(exact[value], bound[value])
        else:
            matrix = _sparse_rows(sparse.csr_matrix((n_tgt, n_src)), sparse.csr_matrix((n_tgt, n_src)))
        if matrix.nnz > MAX_COMPOSED_NONZEROS:
            raise MappingError(f"{what} ({matrix.nnz:,} nonzeros, limit {MAX_COMPOSED_NONZEROS:,}){hint}")
        projections.append(MatrixProjection(s, view3(shape), target.shape3, matrix))
    return projections, base


def _sparse_rows(m: sparse.csr_matrix, bound: sparse.csr_matrix) -> SparseRows:
    """A composed matrix as SparseRows (float32, sorted columns) without cancellation residues or zeros."""
    m, bound = m.tocsr(), bound.tocsr()
    for a in (m, bound):
        a.sum_duplicates()
        a.sort_indices()
    if np.array_equal(m.indptr, bound.indptr) and np.array_equal(m.indices, bound.indices):
        keep = np.abs(m.data) > bound.data.astype(np.float64) * _CANCEL_RTOL      # the same entries: compare data
    else:   # m lost exact zeros that its bound kept: its entries are a subset of the bound's
        pos = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
        at = np.asarray(bound[pos, m.indices]).reshape(-1).astype(np.float64)
        keep = np.abs(m.data) > at * _CANCEL_RTOL
    keep &= m.data.astype(np.float32) != 0
    if keep.all():
        return SparseRows(m.indptr, m.indices, m.data, m.shape)
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))[keep]
    indptr = np.zeros(m.shape[0] + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=m.shape[0]), out=indptr[1:])
    return SparseRows(indptr, m.indices[keep], m.data[keep], m.shape)    # m is canonical: columns stay sorted


def _linear_sources(value: str, nodes: dict, is_source, target: str) -> list[str]:
    found: list[str] = []
    stack, seen = [value], set()
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        if is_source(name):
            found.append(name)
            continue
        node = nodes[name]
        if node.op not in LINEAR_OPS:
            raise MappingError(f"node %{name} ({node.op}) feeds layer %{target} but is neither a neuron population "
                               f"nor a linear op; the mapper maps lowered spiking graphs only (compile with a "
                               f"--coding pipeline; linear ops: {', '.join(sorted(LINEAR_OPS))})")
        stack.extend(node.inputs)
    return sorted(set(found), key=list(nodes).index)


PRODUCT_OP = "product"


@dataclass
class OperandProjection(MatrixProjection):
    """A product relay's projection: it adds into operand `operand` (0 or 1) of the product, not into one sum."""

    operand: int = 0


def _operand_matrices(graph: Graph, nodes: dict, operand: str, is_source, product: Node) -> list[MatrixProjection]:
    """The populations an operand of a product sums (through delays and other linear ops), one matrix each over
    the operand's own elements."""
    shape = tuple(nodes[operand].type.shape)
    if is_source(operand):
        n = int(np.prod(shape, dtype=np.int64))
        eye = SparseRows(np.arange(n + 1), np.arange(n), np.ones(n, np.float32), (n, n))
        return [MatrixProjection(operand, view3(shape), view3(shape), eye)]
    sources = _linear_sources(operand, nodes, is_source, product.name)
    projections, bias = _compose(graph, nodes, operand, sources, Layer(product.name, PRODUCT_OP, "relay", shape))
    if np.any(bias):
        raise MappingError(f"node %{product.name} (mul): its operand %{operand} has a constant offset; a product "
                           "stage multiplies the population values that arrive (no offset)")
    return projections


def _product_layer(graph: Graph, nodes: dict, node: Node, is_source) -> Layer:
    """A product of two activations (squeeze-excitation x * s) as a relay stage: one neuron per output element
    receives each operand's value (the weighted sum of the populations it reads, broadcast as the mul broadcasts)
    as graded input, multiplies the two and sends the product as a graded spike. Each projection is an
    `OperandProjection` saying which operand it adds into; row r reads the operand element that numpy
    broadcasting pairs with r."""
    shape = tuple(node.type.shape)
    layer = Layer(node.name, PRODUCT_OP, "relay", shape, node)
    seen = set()
    for index, operand in enumerate(node.inputs):
        op_shape = tuple(nodes[operand].type.shape)
        row_of = np.broadcast_to(np.arange(int(np.prod(op_shape, dtype=np.int64))).reshape(op_shape),
                                 shape).reshape(-1)
        for p in _operand_matrices(graph, nodes, operand, is_source, node):
            if p.source in seen:
                raise MappingError(f"node %{node.name} (mul): both operands read %{p.source}; a product stage "
                                   "reads each population into one operand")
            seen.add(p.source)
            m = p.matrix
            pos = m.positions(row_of)
            indptr = np.concatenate(([0], np.cumsum(m.row_counts(row_of))))
            layer.projections.append(OperandProjection(
                p.source, p.src_shape, layer.shape3,
                SparseRows(indptr, m.indices[pos], m.data[pos], (layer.size, m.shape[1])), operand=index))
    return layer


def extract(graph: Graph) -> Network:
    """The graph's layers and projections. MappingError for an op the mapper does not know."""
    nodes = graph.node_map()
    spiking = {n.name for n in graph.nodes if n.spiking}
    unknown = sorted(n.op for n in graph.nodes if n.spiking and n.op not in NEURON_MODELS)
    if unknown:
        raise MappingError(f"neuron op(s) {', '.join(sorted(set(unknown)))} have no entry in the mapper's coding "
                           f"table (backends/coremap/network.py NEURON_MODELS); known: "
                           f"{', '.join(sorted(NEURON_MODELS))}")
    inputs = {n.name for n in graph.inputs}

    stages = pool_stage_nodes(graph, spiking)
    products = [n.name for n in graph.nodes if n.op in PRODUCT_OPS]

    def is_source(name: str) -> bool:
        return name in spiking or name in inputs or name in stages or name in products

    layers = [Layer(n.name, "input", "input", tuple(n.type.shape), n) for n in graph.inputs]
    for name in stages:
        layers.append(_pool_stage(nodes[name], nodes, spiking))
    for name in products:
        layers.append(_product_layer(graph, nodes, nodes[name], is_source))
    targets = [n for n in graph.nodes if n.spiking]
    targets += [nodes[o] for o in graph.outputs if o not in spiking and o not in inputs]
    seen = set()
    composed: dict[str, tuple[list, np.ndarray]] = {}     # current -> its composed projections and bias
    for node in targets:
        if node.name in seen:
            continue
        seen.add(node.name)
        if node.spiking:
            if len(node.inputs) != 1:
                raise MappingError(f"population %{node.name} ({node.op}) has {len(node.inputs)} inputs; the mapper "
                                   "expects one input current")
            value, kind, model = node.inputs[0], "population", NEURON_MODELS[node.op]
        else:
            value, kind, model = node.name, "readout", None
        layer = Layer(node.name, node.op, kind, tuple(node.type.shape), node, model)
        theta_ref = getattr(node, "theta", None)
        if theta_ref is not None and theta_ref in graph.constants:
            layer.theta = np.asarray(graph.constants[theta_ref])
        if node.op == "fs_neuron" and node.channel_circuits is not None:
            layer.circuits = node.parameters(graph.constants)
        shape = tuple(nodes[value].type.shape)
        if node.op == "first_spike_pool":
            src3 = view3(nodes[value].type.shape)
            weight = np.ones((src3[0], 1) + tuple(node.kernel), np.float32)
            layer.projections = [ConvProjection(value, src3, layer.shape3, weight, tuple(node.strides),
                                                tuple(node.pads), (1, 1), src3[0])]
            layers.append(layer)
            continue
        if shape != layer.shape:
            raise MappingError(f"population %{node.name} has shape {list(layer.shape)} but its input current "
                               f"%{value} has {list(shape)}")
        terms = _terms(value, 1.0, nodes, is_source) if not is_source(value) or kind == "population" else None
        if kind == "readout" and is_source(value):
            raise MappingError(f"graph output %{value} is a population itself; nothing to read out")
        built = _structural(terms, nodes, graph.constants, layer.shape) if terms is not None else None
        if built is None and value in composed:
            built = composed[value]
        elif built is None:
            sources = _linear_sources(value, nodes, is_source, node.name)
            projections, bias = _compose(graph, nodes, value, sources, layer, convs=COMPOSE_CONVS)
            from snncc.backends.coremap.as_conv import matrix_as_conv

            built = [p if isinstance(p, ConvProjection) else matrix_as_conv(p) or p for p in projections], bias
            # populations that read the same current (a HardSwish's relu and rest halves) share its projections:
            # one composed matrix in memory, not one per reader
            composed[value] = built
        layer.projections, layer.bias = [_per_window(p, nodes) if p.source in stages else p for p in built[0]], \
            built[1]
        if not np.any(layer.bias):
            layer.bias = None
        layers.append(layer)
    order = {n.name: i for i, n in enumerate(graph.nodes)}
    layers.sort(key=lambda l: order[l.name])
    coding = str(graph.meta.get("coding", "rate"))
    from snncc.ir.serialize import header_timesteps

    return Network(layers, coding, header_timesteps(graph))   # range-checked: a file cannot ask for 1e11 steps


POOL_STAGE_OP = "pool_sum"


# ops that pass a pooled vector on to its head unchanged in size: flatten, reshape, transpose (and a per-channel
# affine such as a folded BatchNorm); the head itself is a dense or a conv over the (C, 1, 1) pooled image
_HEAD_PASSTHROUGH = ("flatten", "reshape", "transpose", "affine")


def _pooled_sources(name: str, nodes: dict, spiking: set[str]) -> list[str] | None:
    """The populations a global average pool's input sums with unit coefficients (a population itself, or an add
    of distinct populations: a HardSwish lowered for AMOS as relu + rest), else None."""
    if name in spiking:
        return [name]
    node = nodes[name]
    if node.op != "add" or any(float(c) != 1.0 for c in node.coeffs) or len(set(node.inputs)) != len(node.inputs):
        return None
    return list(node.inputs) if all(i in spiking for i in node.inputs) else None


def pool_stage_nodes(graph: Graph, spiking: set[str]) -> list[str]:
    """Global average pools of a population (or of a unit sum of populations) that are read only by a head: dense
    ops or convs, directly or through flatten / reshape / transpose / affine (the head of a standard ONNX export,
    GlobalAveragePool -> Flatten -> Gemm, the 1x1 conv head GlobalAveragePool -> Conv, and a squeeze-excitation's
    GlobalAveragePool -> Conv 1x1). Each becomes a pooling stage of its own instead of being composed with its head
    into one (outputs x C*H*W) matrix."""
    nodes = graph.node_map()
    readers: dict[str, list] = {}
    for node in graph.nodes:
        for i in node.inputs:
            readers.setdefault(i, []).append(node)

    def head_only(name: str) -> bool:
        found = readers.get(name, [])
        return bool(found) and name not in graph.outputs and all(
            r.op in ("dense", "conv") and r.inputs[0] == name and
            (r.op == "conv" or len(r.type.shape) == 1) or
            r.op in _HEAD_PASSTHROUGH and head_only(r.name) for r in found)

    return [n.name for n in graph.nodes if n.op == "global_avg_pool"
            and _pooled_sources(n.inputs[0], nodes, spiking) is not None and head_only(n.name)]


def _pool_stage(node: Node, nodes: dict, spiking: set[str]) -> Layer:
    """A pooling stage: one relay neuron per channel sums its channel's spikes each step (unit weights, so the sum
    is an exact integer; one projection per summed population); its readers take the 1 / window
    (`_per_window`)."""
    src3 = view3(nodes[node.inputs[0]].type.shape)
    c, h, w = src3
    weight = np.ones((c, 1, h, w), np.float32)
    projections = [ConvProjection(src, src3, view3(node.type.shape), weight, (1, 1), (0, 0, 0, 0), (1, 1), c)
                   for src in _pooled_sources(node.inputs[0], nodes, spiking)]
    return Layer(node.name, POOL_STAGE_OP, "relay", tuple(node.type.shape), node, None, projections)


def pool_window(layer: Layer) -> int:
    """Source neurons one neuron of a pooling stage sums."""
    p = layer.projections[0]
    return int(p.weight.shape[2] * p.weight.shape[3])


def _per_window(p, nodes: dict):
    """A projection from a pooling stage: its weights divided by the pooled window (the stage sends sums)."""
    c, h, w = view3(nodes[nodes[p.source].inputs[0]].type.shape)
    factor = np.float32(1.0 / (h * w))
    if isinstance(p, ConvProjection):
        return replace(p, weight=(p.weight * factor).astype(np.float32))
    return p.scaled(np.full(p.matrix.shape[0], factor, np.float32))


MAX_EXPLICIT_SYNAPSES = 20_000_000


def explicit_projection(p: ConvProjection) -> MatrixProjection:
    """A conv projection as an explicit sparse matrix, its zero weights dropped."""
    rows = np.arange(int(np.prod(p.tgt_shape)))
    pos, src, w = p.rows_csr(rows)
    keep = w != 0
    matrix = SparseRows.from_blocks([(pos[keep], src[keep], w[keep])], (rows.size, int(np.prod(p.src_shape))))
    return MatrixProjection(p.source, p.src_shape, p.tgt_shape, matrix)


def fits_explicit(p: ConvProjection) -> bool:
    return p.synapses(0, p.tgt_shape[0], 0, p.tgt_shape[1], 0, p.tgt_shape[2]) <= MAX_EXPLICIT_SYNAPSES


def has_zero_taps(p) -> bool:
    """A conv whose kernel has an all-zero row or column: its halo box holds sources it never reads (a max-pool
    selection composed with a conv reads every other row)."""
    if not isinstance(p, ConvProjection):
        return False
    used_rows = np.any(p.weight != 0, axis=(0, 1, 3))
    used_cols = np.any(p.weight != 0, axis=(0, 1, 2))
    return not (used_rows.all() and used_cols.all())


def with_explicit(network: Network, which) -> Network:
    """The network with every conv projection p for which which(layer, index, p) holds made explicit."""
    layers = []
    for layer in network.layers:
        projections = [explicit_projection(p) if isinstance(p, ConvProjection) and which(layer, i, p) else p
                       for i, p in enumerate(layer.projections)]
        layers.append(replace(layer, projections=projections))
    return Network(layers, network.coding, network.timesteps)


def explicit_synapses(network: Network, shared_conv_weights: bool) -> Network:
    """On a profile without conv weight sharing every synapse is stored on its own, so a conv projection becomes an
    explicit sparse matrix with its zero weights (after quantization) dropped: they need neither memory nor an axon.
    Conv projections above MAX_EXPLICIT_SYNAPSES stay structural (zeros then count)."""
    if shared_conv_weights:
        return network
    return with_explicit(network, lambda layer, i, p: fits_explicit(p))


def current_key(layer: Layer) -> tuple:
    """What a layer's current is made of: its shape and each projection's source and weight object. Layers with
    equal keys read one current (a HardSwish's relu and rest halves under AMOS share the graph's kernel)."""
    return (layer.shape3, tuple(sorted((p.source, id(getattr(p, "weight", None)), id(getattr(p, "matrix", None)),
                                        getattr(p, "channel_offset", 0)) for p in layer.projections)))


def with_recorded_kinds(network: Network, doc_layers: list[dict]) -> Network:
    """The network with the projection forms a mapping file records (`layers[].sources[].kind`): a conv the file
    lists as a matrix is made explicit (the mapper may map a sparse-tap conv that way)."""
    kinds = {d.get("name"): [s.get("kind") for s in d.get("sources", [])] for d in doc_layers
             if isinstance(d, dict)}
    return with_explicit(network, lambda layer, i, p: i < len(kinds.get(layer.name, []))
                         and kinds[layer.name][i] == "matrix")
