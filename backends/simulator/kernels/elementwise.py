"""Elementwise ops: weighted sums, affine maps and the (non-spiking) product of two values."""

from functools import partial

import numpy as np

from .base import Kernel, Signal, pass_through_signal, per_sample, register_kernel, zeros_buffer


@register_kernel("add")
class AddKernel(Kernel):
    """y = sum_i coeffs[i] x_i."""

    def setup(self):
        self.coeffs = [np.float32(c) for c in self.attr("coeffs", (1.0, 1.0))]
        if len(self.coeffs) != len(self.inputs):
            self.fail(f"{len(self.inputs)} inputs but {len(self.coeffs)} coefficients")
        # x0 * 1 + x1 * (+-1) in one call: 1 * x0 and -1 * x1 are exact, and x0 + (-x1) is x0 - x1 bit for bit
        self._pair = None
        if len(self.coeffs) >= 2 and self.coeffs[0] == 1 and self.coeffs[1] in (1, -1):
            self._pair = np.add if self.coeffs[1] == 1 else np.subtract

    def input_fanout(self, index, output_fanout):
        return output_fanout.copy()

    def bind(self, inputs, batch, run):
        self.values = [s.value for s in inputs]
        self.out = zeros_buffer(batch, self.shape)
        self._term = zeros_buffer(batch, self.shape)
        self.output = pass_through_signal(self.out, inputs)
        return self.output

    def step(self, t):
        if self._pair is not None:
            self._pair(self.values[0], self.values[1], out=self.out)
            rest = 2
        else:
            np.multiply(self.values[0], self.coeffs[0], out=self.out)
            rest = 1
        for coeff, value in zip(self.coeffs[rest:], self.values[rest:]):
            if coeff == 1:
                self.out += value
            else:
                np.multiply(value, coeff, out=self._term)
                self.out += self._term

    def step_ops(self):
        out = self.out
        if self._pair is not None:
            ops, rest = [partial(self._pair, self.values[0], self.values[1], out=out)], 2
        else:
            ops, rest = [partial(np.multiply, self.values[0], self.coeffs[0], out=out)], 1
        for coeff, value in zip(self.coeffs[rest:], self.values[rest:]):
            if coeff == 1:
                ops.append(partial(np.add, out, value, out=out))
            else:
                ops += [partial(np.multiply, value, coeff, out=self._term), partial(np.add, out, self._term, out=out)]
        return ops


@register_kernel("affine")
class AffineKernel(Kernel):
    """y = x * scale + shift (both optional, broadcast against the per-sample shape). A shift makes the output
    dense, so spike events do not pass through an affine with a shift."""

    def setup(self):
        self.scale = self.const("scale")
        self.shift = self.const("shift")
        self._scale = None if self.scale is None else self._spread(self.scale)
        self._shift = None if self.shift is None else self._spread(self.shift)

    def _spread(self, array):
        """The constant over the whole per-sample shape when it broadcasts to it (faster, same floats)."""
        try:
            fits = np.broadcast_shapes(array.shape, self.shape) == self.shape
            return per_sample(array, self.shape) if fits else array
        except ValueError:
            return array

    def input_fanout(self, index, output_fanout):
        return output_fanout.copy()

    def bias_adds(self):
        return 0 if self.shift is None else int(np.prod(self.shape, dtype=np.int64))

    def multiplies(self):
        return 0 if self.scale is None else int(np.prod(self.shape, dtype=np.int64))

    def bind(self, inputs, batch, run):
        (source,) = inputs
        self.x = source.value
        self.out = zeros_buffer(batch, self.shape)
        signal = pass_through_signal(self.out, inputs)
        if self.shift is not None and signal.spike_derived:
            signal = Signal(self.out, static=source.static)
        self.output = signal
        return self.output

    def step(self, t):
        if self._scale is not None:
            np.multiply(self.x, self._scale, out=self.out)
        else:
            np.copyto(self.out, self.x)
        if self._shift is not None:
            self.out += self._shift

    def step_ops(self):
        ops = [partial(np.multiply, self.x, self._scale, out=self.out) if self._scale is not None
               else partial(np.copyto, self.out, self.x)]
        if self._shift is not None:
            ops.append(partial(np.add, self.out, self._shift, out=self.out))
        return ops


def reduce_to_shape(array, shape):
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
        return reduce_to_shape(output_fanout, self.input_shapes[index])

    def multiplies(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def bind(self, inputs, batch, run):
        if len(inputs) != 2:
            self.fail(f"takes 2 inputs, got {len(inputs)}")
        self.a, self.b = inputs[0].value, inputs[1].value
        self.out = zeros_buffer(batch, self.shape)
        self.output = Signal(self.out, static=inputs[0].static and inputs[1].static)
        return self.output

    def step(self, t):
        np.multiply(self.a, self.b, out=self.out)
