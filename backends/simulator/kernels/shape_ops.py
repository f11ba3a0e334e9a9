"""Ops that move values without computing: reshape, flatten, transpose, concat and the windowed delay line."""

import numpy as np

from .base import Kernel, Signal, pass_through_signal, register_kernel, zeros_buffer

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


@register_kernel("transpose")
class TransposeKernel(Kernel):
    """y = x with its per-sample axes permuted by `perm`; a linear map, so spike-derived values stay so."""

    def setup(self):
        self.perm = tuple(int(p) for p in self.attr("perm", ()))
        self.inverse = tuple(int(i) for i in np.argsort(self.perm))

    def input_fanout(self, index, output_fanout):
        return np.ascontiguousarray(np.transpose(output_fanout, self.inverse))

    def bind(self, inputs, batch, run):
        self.x = inputs[0].value
        self.out = zeros_buffer(batch, self.shape)
        self.axes = (0,) + tuple(p + 1 for p in self.perm)
        self.output = pass_through_signal(self.out, inputs)
        return self.output

    def step(self, t):
        np.copyto(self.out, np.transpose(self.x, self.axes))


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
        self.out = zeros_buffer(batch, self.shape)
        self.output = pass_through_signal(self.out, inputs)
        self.events_in = None
        if all(s.events is not None and s.binary for s in inputs):
            self.events_in = [s.events for s in inputs]
            self.events = zeros_buffer(batch, self.shape)
            scales = [np.ones(shape, np.float32) if s.event_scale is None else s.event_scale
                      for s, shape in zip(inputs, self.input_shapes)]
            self.output = Signal(self.out, self.events, True, np.concatenate(scales, axis=self.axis),
                                 self.output.static, True)
        return self.output

    def step(self, t):
        np.concatenate(self.values, axis=self.axis + 1, out=self.out)
        if self.events_in is not None:
            np.concatenate(self.events_in, axis=self.axis + 1, out=self.events)


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
