"""Pooling: average pools (pass-through linear maps) and the first-spike max pool of phase and TTFS coding."""

import numpy as np

from .base import Kernel, Signal, pass_through_signal, register_kernel, zeros_buffer
from .windows import PaddedInput, conv_index_maps

@register_kernel("avg_pool")
class AvgPoolKernel(Kernel):
    """y[c, p] = (1 / n_p) sum_{tap in window p} x_padded[c, gather[tap, p]] with n_p = KH*KW (count_include_pad or
    no padding) or the number of non-padding cells of window p."""

    def setup(self):
        (in_shape,) = self.input_shapes
        kernel = tuple(self.attr("kernel"))
        self.strides = tuple(self.attr("strides", kernel))
        self.pads = tuple(self.attr("pads", (0, 0, 0, 0)))
        self.gather, self.scatter = conv_index_maps(in_shape, kernel, self.shape, self.strides, self.pads, (1, 1))
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
        self.out = zeros_buffer(batch, self.shape)
        self.out_flat = self.out.reshape(batch, self.shape[0], self.out_pixels)
        if self.tiles:
            c, oh, ow = self.shape
            self.tiled = source.value.reshape(batch, c, oh, self.kernel[0], ow, self.kernel[1])
        else:
            self.padded = PaddedInput(source.value, self.pads)
            self.cols = np.zeros((batch, self.shape[0], self.taps, self.out_pixels), dtype=np.float32)
        self.output = pass_through_signal(self.out, inputs)
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
        self.out = zeros_buffer(batch, self.shape)
        self.output = pass_through_signal(self.out, inputs)
        return self.output

    def step(self, t):
        np.mean(self.x, axis=(2, 3), keepdims=True, out=self.out)


@register_kernel("first_spike_pool")
class FirstSpikePoolKernel(Kernel):
    """Max pooling of a single-spike population (phase, TTFS) on the windowed schedule: the levels decrease with
    the step, so an output relays the first spike of its pooling window, i.e. y = max over the window of x (padding
    never fires). Each output emits at most one spike (counted, with the fan-out of what it feeds); each input spike
    is one event into the pool."""

    def setup(self):
        (in_shape,) = self.input_shapes
        kernel = tuple(self.attr("kernel"))
        self.strides = tuple(self.attr("strides", kernel))
        self.pads = tuple(self.attr("pads", (0, 0, 0, 0)))
        self.gather, _ = conv_index_maps(in_shape, kernel, self.shape, self.strides, self.pads, (1, 1))
        self.out_pixels = self.shape[1] * self.shape[2]

    def bind(self, inputs, batch, run):
        (source,) = inputs
        self.padded = PaddedInput(source.value, self.pads)
        self.cols = np.zeros((batch, self.shape[0], self.gather.shape[0], self.out_pixels), dtype=np.float32)
        self.out = zeros_buffer(batch, self.shape)
        self.out_flat = self.out.reshape(batch, self.shape[0], self.out_pixels)
        self.spikes = zeros_buffer(batch, self.shape)
        self.counts = zeros_buffer(batch, self.shape)
        self.output = Signal(self.out, events=self.spikes, spike_derived=True)
        return self.output

    def step(self, t):
        self.padded.refresh()
        np.take(self.padded.flat, self.gather, axis=2, out=self.cols, mode="clip")
        np.max(self.cols, axis=2, out=self.out_flat)
        np.greater(self.out, 0, out=self.spikes, casting="unsafe")
        self.counts += self.spikes
