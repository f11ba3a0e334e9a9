"""ANN ops: what the frontend produces before any spiking lowering.

Shapes are per sample (batch excluded); image tensors are (C, H, W). Per-channel constants are stored
broadcast-ready against the per-sample shape, e.g. a conv layer's channel-wise theta has shape (C, 1, 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from snncc.ir import numeric
from snncc.ir.node import ConstRef, Node, register_op
from snncc.ir.types import TensorType

Consts = Mapping[str, np.ndarray]


def _one_input(node: Node, types: list[TensorType]) -> TensorType:
    if len(types) != 1:
        raise ValueError(f"{node.op} takes 1 input, got {len(types)}")
    return types[0]


def _image(node: Node, t: TensorType) -> tuple[int, int, int]:
    if len(t.shape) != 3:
        raise ValueError(f"{node.op} needs a (C, H, W) input, got {t}")
    return t.shape  # type: ignore[return-value]


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class Input(Node):
    """A graph input; the batch dimension is implicit."""

    op = "input"

    def infer_type(self, input_types, constants):
        return self.type


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class Dense(Node):
    """y = W x + b contracting the per-sample `axis` of x with W[out, in] (axis -1: a fully connected layer;
    axis -2 on (nodes, features): a graph layer Â H). The bias broadcasts against the output."""

    op = "dense"
    weight: ConstRef
    bias: ConstRef | None = None
    axis: int = -1

    def infer_type(self, input_types, constants):
        t = _one_input(self, input_types)
        w = constants[self.weight]
        if w.ndim != 2 or not t.shape or t.shape[self.axis] != w.shape[1]:
            raise ValueError(f"dense weight {w.shape} does not fit input {t} on axis {self.axis}")
        shape = list(t.shape)
        shape[self.axis] = w.shape[0]
        if self.bias is not None and np.broadcast_shapes(tuple(shape), constants[self.bias].shape) != tuple(shape):
            raise ValueError(f"dense bias of shape {list(constants[self.bias].shape)} does not fit its output "
                             f"{shape}")
        return TensorType(tuple(shape), t.dtype)

    def evaluate(self, inputs, constants):
        x = inputs[0]
        w = constants[self.weight]
        y = np.moveaxis(np.tensordot(np.moveaxis(x, self.axis, -1), w, axes=([-1], [1])), -1, self.axis)
        if self.bias is not None:
            y = y + constants[self.bias]
        return y.astype(x.dtype, copy=False)


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class Conv(Node):
    """2-D convolution y[o] = sum_{c,i,j} W[o,c,i,j] x[c, s*h+d*i-p, s*w+d*j-p] + b[o], with `groups` blocks of
    channels (groups == C: depthwise). pads = (top, left, bottom, right)."""

    op = "conv"
    weight: ConstRef
    bias: ConstRef | None = None
    strides: tuple[int, ...] = (1, 1)
    pads: tuple[int, ...] = (0, 0, 0, 0)
    dilations: tuple[int, ...] = (1, 1)
    groups: int = 1

    def infer_type(self, input_types, constants):
        c, h, w = _image(self, _one_input(self, input_types))
        o, cg, kh, kw = constants[self.weight].shape
        if cg * self.groups != c or o % self.groups:
            raise ValueError(f"conv weight {(o, cg, kh, kw)} with groups={self.groups} does not fit {c} input channels")
        oh = numeric.conv_output_size(h, kh, self.strides[0], self.pads[0], self.pads[2], self.dilations[0])
        ow = numeric.conv_output_size(w, kw, self.strides[1], self.pads[1], self.pads[3], self.dilations[1])
        if self.bias is not None and constants[self.bias].size != o:
            raise ValueError(f"conv bias of shape {list(constants[self.bias].shape)} does not give one value to each "
                             f"of its {o} output channels")
        if oh <= 0 or ow <= 0:
            raise ValueError(f"conv output would be empty ({oh}x{ow})")
        return TensorType((o, oh, ow), input_types[0].dtype)

    def evaluate(self, inputs, constants):
        bias = constants[self.bias] if self.bias is not None else None
        return numeric.conv2d(inputs[0], constants[self.weight], bias, self.strides, self.pads, self.dilations,
                              self.groups)


def _pool_type(node, input_types, kernel, strides, pads) -> TensorType:
    c, h, w = _image(node, _one_input(node, input_types))
    oh = numeric.conv_output_size(h, kernel[0], strides[0], pads[0], pads[2])
    ow = numeric.conv_output_size(w, kernel[1], strides[1], pads[1], pads[3])
    if oh <= 0 or ow <= 0:
        raise ValueError(f"{node.op} output would be empty ({oh}x{ow})")
    return TensorType((c, oh, ow), input_types[0].dtype)


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class AvgPool(Node):
    """y = mean of each kernel window (padding counted only with count_include_pad)."""

    op = "avg_pool"
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    pads: tuple[int, ...] = (0, 0, 0, 0)
    count_include_pad: bool = False

    def infer_type(self, input_types, constants):
        return _pool_type(self, input_types, self.kernel, self.strides, self.pads)

    def evaluate(self, inputs, constants):
        return numeric.avg_pool2d(inputs[0], self.kernel, self.strides, self.pads, self.count_include_pad)


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class MaxPool(Node):
    """y = max of each kernel window."""

    op = "max_pool"
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    pads: tuple[int, ...] = (0, 0, 0, 0)

    def infer_type(self, input_types, constants):
        return _pool_type(self, input_types, self.kernel, self.strides, self.pads)

    def evaluate(self, inputs, constants):
        return numeric.max_pool2d(inputs[0], self.kernel, self.strides, self.pads)


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class GlobalAvgPool(Node):
    """y[c] = mean over h, w of x[c, h, w]; output (C, 1, 1)."""

    op = "global_avg_pool"

    def infer_type(self, input_types, constants):
        c, _, _ = _image(self, _one_input(self, input_types))
        return TensorType((c, 1, 1), input_types[0].dtype)

    def evaluate(self, inputs, constants):
        return inputs[0].mean(axis=(2, 3), keepdims=True)


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class Add(Node):
    """y = sum_i coeffs[i] * x_i (residual Add is coeffs (1, 1); a difference is (1, -1))."""

    op = "add"
    coeffs: tuple[float, ...] = (1.0, 1.0)

    def infer_type(self, input_types, constants):
        if len(input_types) != len(self.coeffs) or len(input_types) < 2:
            raise ValueError(f"add has {len(input_types)} inputs but {len(self.coeffs)} coefficients")
        if len({t.shape for t in input_types}) != 1:
            raise ValueError(f"add inputs differ in shape: {', '.join(str(t) for t in input_types)}")
        return input_types[0]

    def evaluate(self, inputs, constants):
        y = sum(np.float32(c) * x for c, x in zip(self.coeffs, inputs))
        return np.asarray(y, dtype=inputs[0].dtype)


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class Mul(Node):
    """y = a * b elementwise (a product of two activations, e.g. squeeze-excitation; not spiking)."""

    op = "mul"

    def infer_type(self, input_types, constants):
        if len(input_types) != 2:
            raise ValueError("mul takes 2 inputs")
        shape = np.broadcast_shapes(input_types[0].shape, input_types[1].shape)
        return TensorType(tuple(int(d) for d in shape), input_types[0].dtype)

    def evaluate(self, inputs, constants):
        return inputs[0] * inputs[1]


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class Concat(Node):
    """y = the inputs joined along per-sample `axis`."""

    op = "concat"
    axis: int = 0

    def infer_type(self, input_types, constants):
        ranks = {len(t.shape) for t in input_types}
        if len(ranks) != 1:
            raise ValueError("concat inputs differ in rank")
        axis = self.axis % len(input_types[0].shape)
        rest = {t.shape[:axis] + t.shape[axis + 1:] for t in input_types}
        if len(rest) != 1:
            raise ValueError(f"concat inputs differ outside axis {axis}")
        shape = list(input_types[0].shape)
        shape[axis] = sum(t.shape[axis] for t in input_types)
        return TensorType(tuple(shape), input_types[0].dtype)

    def evaluate(self, inputs, constants):
        return np.concatenate(inputs, axis=1 + self.axis % inputs[0][0].ndim)


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class Flatten(Node):
    """y = x reshaped to one axis per sample (C-order)."""

    op = "flatten"

    def infer_type(self, input_types, constants):
        return TensorType((_one_input(self, input_types).size,), input_types[0].dtype)

    def evaluate(self, inputs, constants):
        return inputs[0].reshape(inputs[0].shape[0], -1)


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class Reshape(Node):
    """y = x reshaped to the per-sample `shape` (C-order)."""

    op = "reshape"
    shape: tuple[int, ...]

    def infer_type(self, input_types, constants):
        t = _one_input(self, input_types)
        if int(np.prod(self.shape, dtype=np.int64)) != t.size:
            raise ValueError(f"cannot reshape {t} to {list(self.shape)}")
        return TensorType(tuple(self.shape), t.dtype)

    def evaluate(self, inputs, constants):
        return inputs[0].reshape((inputs[0].shape[0],) + tuple(self.shape))


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class Transpose(Node):
    """y = x with its per-sample axes permuted: y.shape[i] = x.shape[perm[i]] (the batch axis stays first)."""

    op = "transpose"
    perm: tuple[int, ...]

    def infer_type(self, input_types, constants):
        t = _one_input(self, input_types)
        if sorted(self.perm) != list(range(len(t.shape))):
            raise ValueError(f"transpose perm {list(self.perm)} is not a permutation of the {len(t.shape)} axes of {t}")
        return TensorType(tuple(t.shape[p] for p in self.perm), t.dtype)

    def evaluate(self, inputs, constants):
        return np.ascontiguousarray(np.transpose(inputs[0], (0,) + tuple(p + 1 for p in self.perm)))


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class Affine(Node):
    """y = x * scale + shift, both broadcast against the per-sample shape (input normalisation, unfoldable BN)."""

    op = "affine"
    scale: ConstRef | None = None
    shift: ConstRef | None = None

    def infer_type(self, input_types, constants):
        t = _one_input(self, input_types)
        for ref in (self.scale, self.shift):
            if ref is not None:
                np.broadcast_shapes(t.shape, constants[ref].shape)
        return t

    def evaluate(self, inputs, constants):
        y = inputs[0]
        if self.scale is not None:
            y = y * constants[self.scale]
        if self.shift is not None:
            y = y + constants[self.shift]
        return y.astype(inputs[0].dtype, copy=False)


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class BatchNorm(Node):
    """y = gamma (x - mean) / sqrt(var + epsilon) + beta per channel (axis 0 of the per-sample shape)."""

    op = "batch_norm"
    gamma: ConstRef
    beta: ConstRef
    mean: ConstRef
    var: ConstRef
    epsilon: float = 1e-5

    def infer_type(self, input_types, constants):
        t = _one_input(self, input_types)
        if constants[self.gamma].shape != (t.shape[0],):
            raise ValueError(f"batch_norm has {constants[self.gamma].shape} parameters for {t.shape[0]} channels")
        return t

    def scale_shift(self, constants) -> tuple[np.ndarray, np.ndarray]:
        """k = gamma / sqrt(var + eps) and beta - mean * k, one value per channel."""
        k = constants[self.gamma] / np.sqrt(constants[self.var] + np.float32(self.epsilon))
        return k.astype(np.float32), (constants[self.beta] - constants[self.mean] * k).astype(np.float32)

    def evaluate(self, inputs, constants):
        x = inputs[0]
        k, shift = self.scale_shift(constants)
        view = (1, -1) + (1,) * (x.ndim - 2)
        return (x * k.reshape(view) + shift.reshape(view)).astype(x.dtype, copy=False)


class _Elementwise(Node):
    def infer_type(self, input_types, constants):
        return _one_input(self, input_types)


def _elementwise(op_name: str, fn_doc: str):
    def wrap(cls):
        cls.op = op_name
        cls.__doc__ = fn_doc
        return register_op(dataclass(frozen=True, slots=True, kw_only=True)(cls))
    return wrap


@_elementwise("relu", "y = max(x, 0)")
class Relu(_Elementwise):
    def evaluate(self, inputs, constants):
        return np.maximum(inputs[0], 0)


@_elementwise("bounded_relu", "y = min(max(x, 0), theta): a ReLU whose spiking threshold theta is known "
                              "(from a Clip bound or threshold balancing); theta is a scalar or per channel.")
class BoundedRelu(_Elementwise):
    theta: ConstRef

    def infer_type(self, input_types, constants):
        t = _one_input(self, input_types)
        np.broadcast_shapes(t.shape, constants[self.theta].shape)
        return t

    def evaluate(self, inputs, constants):
        return np.minimum(np.maximum(inputs[0], 0), constants[self.theta])


@_elementwise("clip", "y = min(max(x, lo), hi)")
class Clip(_Elementwise):
    lo: float = float("-inf")
    hi: float = float("inf")

    def evaluate(self, inputs, constants):
        return np.clip(inputs[0], np.float32(self.lo), np.float32(self.hi))


@_elementwise("leaky_relu", "y = x if x >= 0 else alpha x")
class LeakyRelu(_Elementwise):
    alpha: float = 0.01

    def evaluate(self, inputs, constants):
        x = inputs[0]
        return np.where(x >= 0, x, np.float32(self.alpha) * x)


@_elementwise("sigmoid", "y = 1 / (1 + exp(-x))")
class Sigmoid(_Elementwise):
    def evaluate(self, inputs, constants):
        x = inputs[0]
        with np.errstate(over="ignore"):   # exp(-x) = inf for x < -88 in float32: 1 / inf = 0 is the right value
            return (1 / (1 + np.exp(-x))).astype(x.dtype, copy=False)


@_elementwise("hard_sigmoid", "y = max(0, min(1, alpha x + beta))")
class HardSigmoid(_Elementwise):
    alpha: float = 0.2
    beta: float = 0.5

    def evaluate(self, inputs, constants):
        return np.clip(np.float32(self.alpha) * inputs[0] + np.float32(self.beta), 0, 1)


@_elementwise("tanh", "y = tanh(x)")
class Tanh(_Elementwise):
    def evaluate(self, inputs, constants):
        return np.tanh(inputs[0])


@_elementwise("silu", "y = x * sigmoid(x)  (SiLU / Swish)")
class SiLU(_Elementwise):
    def evaluate(self, inputs, constants):
        x = inputs[0]
        with np.errstate(over="ignore"):   # x / inf = -0 for x < -88, as it should be
            return (x / (1 + np.exp(-x))).astype(x.dtype, copy=False)


@_elementwise("hard_swish", "y = x * max(0, min(1, x/6 + 1/2))")
class HardSwish(_Elementwise):
    def evaluate(self, inputs, constants):
        x = inputs[0]
        return x * np.clip(x / 6 + np.float32(0.5), 0, 1)


@_elementwise("gelu", "y = x * Phi(x) = x/2 (1 + erf(x / sqrt 2))")
class Gelu(_Elementwise):
    def evaluate(self, inputs, constants):
        x = inputs[0]
        erf = np.vectorize(math.erf, otypes=[np.float64])
        return (0.5 * x * (1 + erf(x / np.sqrt(2)))).astype(x.dtype)


@_elementwise("qcfs", "y = theta * clip(floor(x L / theta + shift) / L, 0, 1)  (quantization-clip-floor-shift, "
                      "L = levels; theta scalar or per channel)")
class QCFS(_Elementwise):
    theta: ConstRef
    levels: int
    shift: float = 0.5

    def evaluate(self, inputs, constants):
        theta = constants[self.theta]
        levels = np.float32(self.levels)
        q = np.floor(inputs[0] * levels / theta + np.float32(self.shift)) / levels
        return (theta * np.clip(q, 0, 1)).astype(inputs[0].dtype, copy=False)
