"""2-D convolution synapses: im2col, depthwise strided slices and an event-driven active-pixel path."""

from functools import partial

import numpy as np

from .base import (EVENT_CROSSOVER_CONV, EVENT_MIN_GROUP_CHANNELS, EVENT_MIN_MACS, PROBE_STEPS, Kernel, Signal,
                   per_sample, register_kernel, zeros_buffer)
from .windows import PaddedInput, conv_index_maps

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
    pays when few pixels are active: with synaptic_path "auto" the layer takes it for the rest of the batch when the
    fraction of active pixels over the first PROBE_STEPS steps is below EVENT_CROSSOVER_CONV (and the layer is big
    enough, see base.py). Its sums run in another order than BLAS's im2col product, so membranes can differ from the
    dense path's by float32 rounding.
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
        self.gather, self.scatter = conv_index_maps(in_shape, (kh, kw), self.shape, self.strides, self.pads,
                                                     self.dilations)
        self.weight_mat = np.ascontiguousarray(weight.reshape(g, o // g, cg * kh * kw))          # (G, Og, Cg*KK)
        self.weight_taps = np.ascontiguousarray(                                                  # (KK, G, Cg, Og)
            weight.reshape(g, o // g, cg, kh * kw).transpose(3, 0, 2, 1))
        self.bias = self.const("bias")
        self.bias_plane = None if self.bias is None else per_sample(self.bias.reshape(o, 1), (o, self.out_pixels))
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
                             per_sample(per_tap[:, i * kw + j].reshape(o, 1, 1), self.shape))
                            for i in range(kh) for j in range(kw) if np.any(per_tap[:, i * kw + j] != 0)]

    def ann_macs(self):
        return int(self._synapses().sum())

    def bias_adds(self):
        return 0 if self.bias is None else int(np.prod(self.shape, dtype=np.int64))

    def input_fanout(self, index, output_fanout):
        return self._synapses()

    def _synapses(self):
        """Per input element (C, H, W): the synapses that exist from it, sum over the taps that land inside the
        output of the output channels whose weight on that channel and tap is non-zero."""
        weight = self.weight_mat.reshape(self.groups, self.group_out, self.group_in, self.taps)
        nonzero = np.count_nonzero(weight, axis=1).reshape(self.in_channels, self.taps).astype(np.float64)
        landing = (self.scatter < self.out_pixels).astype(np.float64)                 # (taps, input pixels)
        return (nonzero @ landing).reshape(self.input_shapes[0])

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
            self.padded = PaddedInput(source.value, self.pads)
            self._dw_term = zeros_buffer(batch, self.shape)
        else:
            self.padded = PaddedInput(source.value, self.pads)
            self.cols = np.zeros((batch, self.in_channels, self.taps, self.out_pixels), dtype=np.float32)
            self.cols_grouped = self.cols.reshape(batch, g, self.group_in * self.taps, self.out_pixels)
        self.out = zeros_buffer(batch, self.shape)
        self.out_grouped = self.out.reshape(batch, g, self.group_out, self.out_pixels)
        self.out_flat = self.out.reshape(batch, self.out_channels, self.out_pixels)
        if source.events is not None:
            self.events_flat = source.events.reshape(batch, self.in_channels, self.in_pixels)
            self._pixel_mask = np.zeros((batch, self.in_pixels), dtype=bool)
            self.value_flat = source.value.reshape(batch, self.in_channels, self.in_pixels)
            # one discard row per sample after its output pixels; (sample, pixel) rows of O channels
            self.scatter_acc = np.zeros((batch * (self.out_pixels + 1), self.out_channels), dtype=np.float32)
        dense_macs = batch * self.out_pixels * self.out_channels * self.group_in * self.taps
        self.event_worthwhile = (not self.depthwise and self.group_in >= EVENT_MIN_GROUP_CHANNELS
                                 and dense_macs >= EVENT_MIN_MACS)
        self._probe, self._decided = [], None
        self._always_dense = (source.events is None or run.synaptic_path == "dense"
                              or (run.synaptic_path == "auto" and not self.event_worthwhile))
        self.analog_input = not source.spike_derived
        # without a bias, a synaptic map of spike trains is still one (a max-pool tree's taps feeding the next layer)
        self.output = Signal(self.out, static=source.static, spike_derived=source.spike_derived and self.bias is None)
        return self.output

    def step(self, t):
        if self._choose_path(t) == "dense":
            self._dense_step()
        else:
            self._event_step()
        if self.bias_plane is not None:
            self.out_flat += self.bias_plane

    def step_ops(self):
        """The dense step's numpy calls, when this batch never takes the event path."""
        if not self._always_dense:
            return None
        ops = []
        if not self.pointwise and self.padded.interior is not None:
            ops.append(partial(np.copyto, self.padded.interior, self.padded.value))
        if self.depthwise and not self.pointwise:
            buffer = self.padded.buffer
            if not self.dw_taps:
                ops.append(partial(self.out.fill, 0))
            for index, (window, weight) in enumerate(self.dw_taps):
                if index == 0:
                    ops.append(partial(np.multiply, buffer[window], weight, out=self.out))
                else:
                    ops += [partial(np.multiply, buffer[window], weight, out=self._dw_term),
                            partial(np.add, self.out, self._dw_term, out=self.out)]
        else:
            if not self.pointwise:
                ops.append(partial(np.take, self.padded.flat, self.gather, axis=2, out=self.cols, mode="clip"))
            ops.append(partial(np.matmul, self.weight_mat, self.cols_grouped, out=self.out_grouped))
        if self.bias_plane is not None:
            ops.append(partial(np.add, self.out_flat, self.bias_plane, out=self.out_flat))
        return ops

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

    def _choose_path(self, t):
        """"dense" or "event": forced by run.synaptic_path, else decided once per batch from the density of active
        pixels over the first PROBE_STEPS steps (each probe step goes by the mean so far)."""
        mode = self.run.synaptic_path
        if self.source.events is None or mode == "dense" or (mode == "auto" and not self.event_worthwhile):
            return "dense"
        if mode == "auto" and self._decided == "dense":
            self.run.count_path(self.name, "dense")
            return "dense"
        np.any(self.events_flat, axis=1, out=self._pixel_mask)
        self._active = np.divmod(np.flatnonzero(self._pixel_mask), self.in_pixels)   # (sample, input pixel)
        path = "event"
        if mode == "auto" and self._decided is None:
            self._probe.append(self._active[0].size / self._pixel_mask.size)
            path = "event" if np.mean(self._probe) < EVENT_CROSSOVER_CONV else "dense"
            if len(self._probe) >= PROBE_STEPS:
                self._decided = path
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
