"""The MaxPool ReLU tree (maxpool-to-relu-tree) fused into one kernel over the pooling windows, event-driven."""

import numpy as np

from . import base
from .base import Kernel

TREE_OPS = ("add", "affine", "if_neuron", "signed_neuron")
NEURON_OPS = ("if_neuron", "signed_neuron")


def _one_tap(kernel):
    """The tap index of a depthwise one-hot selection conv (no bias, one non-zero tap), else None."""
    if kernel.op != "conv" or not kernel.depthwise or kernel.bias is not None or len(kernel.dw_taps) != 1:
        return None
    per_tap = np.any(kernel.weight_mat.reshape(kernel.out_channels, kernel.taps) != 0, axis=0)
    return int(np.flatnonzero(per_tap)[0])


def find_pool_trees(kernels, outputs):
    """The fusable max-pool trees of a program, as `PoolTreeKernel`s. A tree is the selection convs reading one value
    (same window geometry) plus every later add / affine without shift / if_neuron whose inputs all lie in the tree;
    it is fused when exactly one member (the root) is read outside it or is a program output, and is the last
    member."""
    readers = {}
    for kernel in kernels:
        for src in kernel.inputs:
            readers.setdefault(src, []).append(kernel.name)
    by_source = {}
    for kernel in kernels:
        if _one_tap(kernel) is not None:
            geometry = (kernel.inputs[0], kernel.shape, kernel.strides, kernel.pads, kernel.dilations)
            by_source.setdefault(geometry, []).append(kernel)
    trees = []
    for sels in by_source.values():
        if len(sels) < 2:
            continue
        members = {k.name for k in sels}
        group = list(sels)
        start = kernels.index(sels[0])
        for kernel in kernels[start:]:
            if kernel.name in members or kernel.op not in TREE_OPS or not kernel.inputs:
                continue
            if kernel.shape != sels[0].shape or not all(s in members for s in kernel.inputs):
                continue
            if kernel.op == "affine" and kernel.shift is not None:
                continue
            members.add(kernel.name)
            group.append(kernel)
        leaving = [k for k in group if k.name in outputs or any(r not in members for r in readers.get(k.name, ()))]
        if len(leaving) == 1 and leaving[0] is group[-1] and group[-1].op != "conv":
            trees.append(PoolTreeKernel(group))
    return trees


class PoolTreeKernel(Kernel):
    """One step of a max-pool tree (selection convs, then m = b + relu(a - b) pairs of add / if_neuron / affine
    nodes) for the pooling windows that can change, with the members' own float32 operations in their own order, so
    every spike and value equals the unfused kernels'.

    A window is silent when none of its input taps has a non-zero value and none of its tree neurons holds v >= theta
    (`pending`): its selections are 0, its neurons (no bias, no leak) keep v and do not fire, and its output is 0.
    So each step: find the active windows (one compare and one or per tap over the window slices), gather the taps of
    those windows, run the members on the compact (active,) vectors, scatter the neurons' membranes and counts back,
    and write the root's values (0 elsewhere). The members stay in the program for accounting (counts, fan-out) and
    for the engines that step them one by one.
    """

    op = "pool_tree"

    def __init__(self, members):
        self.members = members
        self.root = members[-1]
        self.name = self.root.name
        self.inputs = list(members[0].inputs)
        self.shape = self.root.shape
        self.counts = None
        self.output = None
        sel = members[0]
        channels = sel.out_channels
        out_pixels = sel.out_pixels
        padded_pixels = (sel.input_shapes[0][1] + sel.pads[0] + sel.pads[2]) * \
            (sel.input_shapes[0][2] + sel.pads[1] + sel.pads[3])
        self.padded_size = channels * padded_pixels
        channel = np.repeat(np.arange(channels), out_pixels)
        pixel = np.tile(np.arange(out_pixels), channels)
        self.tap_index = {}     # sel name -> (C*OH*OW,) flat index into one sample's padded input
        self.per_position = {}  # (member name, constant) -> (C*OH*OW,) float32 per output position
        for kernel in members:
            if kernel.op == "conv":
                tap = _one_tap(kernel)
                self.tap_index[kernel.name] = channel * padded_pixels + kernel.gather[tap, pixel]
                weight = kernel.weight_mat.reshape(channels, kernel.taps)[:, tap]
                self.per_position[kernel.name, "weight"] = weight[channel]
            elif kernel.op == "affine" and kernel.scale is not None:
                self.per_position[kernel.name, "scale"] = self._spread(kernel.scale)
            elif kernel.op in NEURON_OPS:
                self.per_position[kernel.name, "theta"] = self._spread(kernel.theta)
                if kernel.op == "signed_neuron" and kernel.low is not None:
                    self.per_position[kernel.name, "low"] = self._spread(kernel.low)
                if kernel.out_scale is not None:
                    self.per_position[kernel.name, "out_scale"] = self._spread(kernel.out_scale)
        self.neurons = [k for k in members if k.op in NEURON_OPS]
        # a tap's input index is the first tap's plus a constant (d0 i Wp + d1 j in the padded plane)
        first = self.tap_index[members[0].name]
        self.tap_offset = {name: int(index[0] - first[0]) for name, index in self.tap_index.items()}
        self._shared_constants()

    def _spread(self, array):
        return np.ascontiguousarray(np.broadcast_to(array, self.shape), dtype=np.float32).reshape(-1)

    def _shared_constants(self):
        """Group equal per-position arrays (in a rate tree the selections' weights, the neurons' thresholds and the
        synapse scales are all the producer's theta), so each distinct one is gathered once per step."""
        distinct = []
        self.constant_slot = {}
        for key, array in self.per_position.items():
            for slot, other in enumerate(distinct):
                if np.array_equal(other, array):
                    break
            else:
                slot = len(distinct)
                distinct.append(array)
            self.constant_slot[key] = slot
        self.distinct_constants = distinct

    def bind_fused(self, signals, batch, run):
        """Bind to the members' buffers after the program bound them; False (run the members) when the selections
        read a static value (computed once anyway), run.synaptic_path is "dense" (the reference path), or it is
        "auto" and the batch has fewer than POOL_TREE_MIN_WINDOWS windows ("event" always fuses)."""
        source = signals[self.inputs[0]]
        if source.static or run.synaptic_path == "dense":
            return False
        if run.synaptic_path == "auto" and batch * int(np.prod(self.shape)) < base.POOL_TREE_MIN_WINDOWS:
            return False
        sel = self.members[0]
        self.run = run
        self.batch = batch
        self.output = self.root.output
        self.out_flat = self.root.output.value.reshape(-1)
        self.padded = sel.padded if sel.padded.interior is not None else None
        self.x_flat = sel.padded.buffer.reshape(-1)
        bits = sel.padded.buffer.view(np.int32)
        self.windows = [bits[k.dw_taps[0][0]] for k in self.members if k.op == "conv"]
        self.active = np.zeros((batch,) + self.shape, dtype=np.int32)
        self._mask = np.zeros((batch,) + self.shape, dtype=bool)
        self.pairs = self._tile_pairs(sel.padded.buffer)
        if self.pairs is not None:
            self.active = np.zeros((batch,) + self.shape, dtype=np.int64)
        self.pending = np.zeros((batch,) + self.shape, dtype=bool)
        for neuron in self.neurons:
            self.pending |= neuron.v >= neuron.theta
            if neuron.op == "signed_neuron" and neuron.low is not None:
                self.pending |= (neuron.v < neuron.low) & (neuron.n > 0)
        self.written = np.zeros(0, dtype=np.intp)
        return True

    def _tile_pairs(self, buffer):
        """For 2x2 stride-2 windows tiling an even-width input from its corner: the input's two rows of each window
        row as int64 views whose element j holds the float bits of columns 2j and 2j+1, i.e. (top, bottom) halves of
        window j; else None."""
        sel = self.members[0]
        batch, channels, height, width = buffer.shape
        _, out_h, out_w = self.shape
        if (len(self.windows) != 4 or sel.weight_taps.shape[0] != 4 or sel.strides != (2, 2) or any(sel.pads)
                or sel.dilations != (1, 1) or width % 2 or not buffer.flags.c_contiguous):
            return None
        rows = buffer.view(np.int64)[:, :, :2 * out_h].reshape(batch, channels, out_h, 2, width // 2)
        return rows[:, :, :, 0, :out_w], rows[:, :, :, 1, :out_w]

    def step(self, t):
        if self.padded is not None:
            self.padded.refresh()
        # a window is active when any tap's float bits are non-zero (-0.0 counts too: visiting a window is always
        # exact) or a neuron in it is pending; OR-ing the bits is one pass per tap (per two taps for 2x2 tiles)
        if self.pairs is not None:
            np.bitwise_or(self.pairs[0], self.pairs[1], out=self.active)
        else:
            np.bitwise_or(self.windows[0], self.windows[1], out=self.active)
            for window in self.windows[2:]:
                self.active |= window
        np.not_equal(self.active, 0, out=self._mask)        # np.flatnonzero is ~8x faster on bools than on ints
        self._mask |= self.pending
        index = np.flatnonzero(self._mask)
        self.run.count_path(self.name, "pool-tree")
        self.out_flat[self.written] = 0
        self.written = index
        if index.size == 0:
            return
        sample, position = np.divmod(index, self.active[0].size)
        corner = sample * self.padded_size + self.tap_index[self.members[0].name][position]
        constants = [array[position] for array in self.distinct_constants]
        const = {key: constants[slot] for key, slot in self.constant_slot.items()}
        values = {}
        pending = np.zeros(index.size, dtype=bool)
        for kernel in self.members:
            name = kernel.name
            if kernel.op == "conv":
                values[name] = self.x_flat[corner + self.tap_offset[name]] * const[name, "weight"]
            elif kernel.op == "add":
                out = values[kernel.inputs[0]] * kernel.coeffs[0]
                for coeff, src in zip(kernel.coeffs[1:], kernel.inputs[1:]):
                    if coeff == 1:
                        out += values[src]
                    else:
                        out += values[src] * coeff
                values[name] = out
            elif kernel.op == "affine":
                x = values[kernel.inputs[0]]
                values[name] = x * const[name, "scale"] if kernel.scale is not None else x
            elif kernel.op == "signed_neuron":
                values[name] = self._fire_signed(kernel, index, const, values[kernel.inputs[0]], pending)
            else:
                values[name] = self._fire(kernel, index, const, values[kernel.inputs[0]], pending)
        self.out_flat[index] = values[self.name]
        self.pending.reshape(-1)[index] = pending

    def _fire(self, neuron, index, const, current, pending):
        """IFNeuronKernel.fire on the active windows: v += I; s = [v >= theta]; v -= s * theta."""
        v_flat = neuron.v.reshape(-1)
        theta = const[neuron.name, "theta"]
        v = v_flat[index]
        v += current
        spikes = (v >= theta).astype(np.float32)
        v -= spikes * theta
        v_flat[index] = v
        pending |= v >= theta
        neuron.counts.reshape(-1)[index] += spikes
        scale = const.get((neuron.name, "out_scale"))
        return spikes if scale is None else spikes * scale

    def _fire_signed(self, neuron, index, const, current, pending):
        """SignedNeuronKernel.fire on the active windows: v += I; s = [v >= theta] - [v < low and n > 0 and not
        v >= theta]; v -= s * theta; n += s. A neuron is pending when it would fire without input: v >= theta, or
        v < low with n > 0."""
        v_flat, n_flat = neuron.v.reshape(-1), neuron.n.reshape(-1)
        theta = const[neuron.name, "theta"]
        v = v_flat[index]
        v += current
        positive = v >= theta
        spikes = positive.astype(np.float32)
        low = const.get((neuron.name, "low"))
        n = n_flat[index]
        if low is not None:
            spikes -= (v < low) & (n > 0) & ~positive
        v -= spikes * theta
        n += spikes
        v_flat[index] = v
        n_flat[index] = n
        pending |= v >= theta
        if low is not None:
            pending |= (v < low) & (n > 0)
        neuron.counts.reshape(-1)[index] += np.abs(spikes)
        scale = const.get((neuron.name, "out_scale"))
        return spikes if scale is None else spikes * scale
