"""One converter per ONNX op: `convert_<op>(ctx, node)` turns an ONNX node into IR nodes or constants.

Batch handling: ONNX tensors carry the batch on axis 0; IR types are per sample, so ONNX axis a is IR axis a - 1.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import onnx
from onnx import helper

from snncc.errors import UnsupportedModelError
from snncc.frontend.context import ConversionContext
from snncc.ir import (Add, Affine, AvgPool, BatchNorm, Clip, Concat, Conv, Dense, Flatten, Floor, GateOp, Gelu,
                      GlobalAvgPool, HardSigmoid, HardSwish, LeakyRelu, MaxPool, Mul, Relu, Reshape, SiLU, Sigmoid, Tanh)

Converter = Callable[[ConversionContext, onnx.NodeProto], None]
CONVERTERS: dict[str, Converter] = {}


def converter(*op_types: str):
    """Register a converter for ONNX op types (users may add their own the same way)."""
    def wrap(fn: Converter) -> Converter:
        for op in op_types:
            CONVERTERS[op] = fn
        return fn
    return wrap


def attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def fail(node: onnx.NodeProto, why: str) -> UnsupportedModelError:
    return UnsupportedModelError(f"node {node.name!r} ({node.op_type}): {why}")


def _rank(ctx: ConversionContext, value: str) -> int:
    return len(ctx.type_of(value).shape) + 1


def _pads(node, a: dict, in_hw: tuple[int, int], kernel, strides, dilations=(1, 1)) -> tuple[int, int, int, int]:
    auto_pad = a.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad in ("NOTSET", ""):
        pads = tuple(a.get("pads", (0, 0, 0, 0)))
        if len(pads) != 4:
            raise fail(node, f"only 2-D spatial ops are supported (pads {list(pads)})")
        return pads  # type: ignore[return-value]
    if auto_pad == "VALID":
        return (0, 0, 0, 0)
    total = []
    for size, k, s, d in zip(in_hw, kernel, strides, dilations):
        out = -(-size // s)
        total.append(max((out - 1) * s + (k - 1) * d + 1 - size, 0))
    if auto_pad == "SAME_UPPER":
        return (total[0] // 2, total[1] // 2, total[0] - total[0] // 2, total[1] - total[1] // 2)
    if auto_pad == "SAME_LOWER":
        return (total[0] - total[0] // 2, total[1] - total[1] // 2, total[0] // 2, total[1] // 2)
    raise fail(node, f"auto_pad={auto_pad} is not supported")


@converter("Identity", "Dropout")
def convert_identity(ctx, node):
    src = node.input[0]
    if ctx.is_const(src):
        ctx.const_values[node.output[0]] = ctx.const(src)
    else:
        ctx.alias(node.output[0], ctx.value(src, node))


_FLOAT_CASTS = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16}


@converter("Cast")
def convert_cast(ctx, node):
    """A cast of an activation to a float type is the identity (snncc computes in float32); to an integer type it
    rounds, which no coding expresses."""
    to = int(attrs(node).get("to", 0))
    if to not in _FLOAT_CASTS:
        raise fail(node, f"a cast of an activation to {onnx.TensorProto.DataType.Name(to)} rounds it to an integer, "
                         "which is neither linear nor a gate snncc lowers")
    ctx.alias(node.output[0], ctx.value(node.input[0], node))


@converter("Constant")
def convert_constant(ctx, node):
    from onnx import numpy_helper

    a = node.attribute[0]
    if a.name == "value":
        ctx.const_values[node.output[0]] = numpy_helper.to_array(a.t)
    elif a.name in ("value_float", "value_int"):
        ctx.const_values[node.output[0]] = np.array(helper.get_attribute_value(a))
    elif a.name in ("value_floats", "value_ints"):
        ctx.const_values[node.output[0]] = np.array(helper.get_attribute_value(a))
    else:
        raise fail(node, f"Constant with attribute {a.name} is not supported")


@converter("Conv")
def convert_conv(ctx, node):
    a = attrs(node)
    x = ctx.value(node.input[0], node)
    if not ctx.is_const(node.input[1]):
        raise fail(node, "the weight must be a constant initializer")
    w = ctx.const(node.input[1]).astype(np.float32, copy=False)
    if w.ndim != 4:
        raise fail(node, f"only 2-D convolutions are supported (weight shape {list(w.shape)})")
    kernel = tuple(a.get("kernel_shape", w.shape[2:]))
    strides = tuple(a.get("strides", (1, 1)))
    dilations = tuple(a.get("dilations", (1, 1)))
    pads = _pads(node, a, ctx.type_of(x).shape[1:], kernel, strides, dilations)
    if x in ctx.zero_padded:     # Pad(0) then Conv: one conv with both paddings
        x, extra = ctx.zero_padded[x]
        pads = tuple(int(p) + e for p, e in zip(pads, extra))
    base = ctx.node_name(node)
    weight = ctx.add_const(f"{base}.weight", w)
    bias = None
    if len(node.input) > 2 and node.input[2]:
        bias = ctx.add_const(f"{base}.bias", ctx.const(node.input[2]))
    ctx.emit(Conv, node, [x], name=base, weight=weight, bias=bias, strides=strides, pads=pads,
             dilations=dilations, groups=int(a.get("group", 1)))


@converter("Gemm")
def convert_gemm(ctx, node):
    a = attrs(node)
    if a.get("transA", 0):
        raise fail(node, "transA=1 is not supported (the batch must be the rows of A)")
    x = ctx.value(node.input[0], node)
    if not ctx.is_const(node.input[1]):
        raise fail(node, "B must be a constant initializer")
    b = ctx.const(node.input[1]).astype(np.float32, copy=False)
    w = b if a.get("transB", 0) else b.T
    if a.get("alpha", 1.0) != 1.0:    # x * 1 is x: the weight is not copied
        w = w * np.float32(a["alpha"])
    base = ctx.node_name(node)
    bias = None
    if len(node.input) > 2 and node.input[2]:
        c = np.broadcast_to(ctx.const(node.input[2]).astype(np.float32) * np.float32(a.get("beta", 1.0)),
                            (1, w.shape[0]))
        bias = ctx.add_const(f"{base}.bias", c.reshape(-1))
    ctx.emit(Dense, node, [x], name=base, weight=ctx.add_const(f"{base}.weight", w), bias=bias)


@converter("MatMul")
def convert_matmul(ctx, node):
    left, right = node.input
    base = ctx.node_name(node)
    if ctx.is_const(right) and not ctx.is_const(left):
        x = ctx.value(left, node)
        w = ctx.const(right).astype(np.float32, copy=False)
        if w.ndim != 2:
            raise fail(node, f"the constant operand must be a matrix, got shape {list(w.shape)}")
        ctx.emit(Dense, node, [x], name=base, weight=ctx.add_const(f"{base}.weight", w.T), axis=-1)
    elif ctx.is_const(left) and not ctx.is_const(right):
        # A @ H with a constant A (a graph layer's normalised adjacency) mixes along H's second-to-last axis
        x = ctx.value(right, node)
        w = ctx.const(left).astype(np.float32, copy=False)
        if w.ndim != 2 or len(ctx.type_of(x).shape) < 2:
            raise fail(node, "a constant left operand needs a matrix and an input of per-sample rank >= 2")
        ctx.emit(Dense, node, [x], name=base, weight=ctx.add_const(f"{base}.weight", w), axis=-2)
    else:
        raise fail(node, "MatMul of two computed tensors is not supported; one operand must be a constant")


@converter("BatchNormalization")
def convert_batchnorm(ctx, node):
    a = attrs(node)
    if a.get("training_mode", 0) or len([o for o in node.output if o]) > 1:
        raise fail(node, "training-mode BatchNormalization is not supported; export the model in eval mode")
    x = ctx.value(node.input[0], node)
    base = ctx.node_name(node)
    refs = {}
    for key, src in zip(("gamma", "beta", "mean", "var"), node.input[1:5]):
        if not ctx.is_const(src):
            raise fail(node, f"{key} must be a constant")
        refs[key] = ctx.add_const(f"{base}.{key}", ctx.const(src))
    ctx.emit(BatchNorm, node, [x], name=base, epsilon=float(a.get("epsilon", 1e-5)), **refs)


def _elementwise(cls, **fixed):
    def convert(ctx, node):
        ctx.emit(cls, node, [ctx.value(node.input[0], node)], **fixed)
    return convert


CONVERTERS["Relu"] = _elementwise(Relu)
CONVERTERS["Tanh"] = _elementwise(Tanh)
CONVERTERS["HardSwish"] = _elementwise(HardSwish)


@converter("Sigmoid")
def convert_sigmoid(ctx, node):
    ctx.emit(Sigmoid, node, [ctx.value(node.input[0], node)])


@converter("LeakyRelu")
def convert_leaky_relu(ctx, node):
    ctx.emit(LeakyRelu, node, [ctx.value(node.input[0], node)], alpha=float(attrs(node).get("alpha", 0.01)))


@converter("PRelu")
def convert_prelu(ctx, node):
    """PReLU(x) = relu(x) - a * relu(-x) with constant slopes a (one per channel in MTCNN, ArcFace): two ReLU
    populations, on x and on -x, joined linearly (an add with the slopes as coefficients, or a per-channel scale)."""
    if not ctx.is_const(node.input[1]):
        raise fail(node, "the slope must be a constant")
    x = ctx.value(node.input[0], node)
    try:
        slope = ctx.per_sample_const(np.asarray(ctx.const(node.input[1]), np.float32), _rank(ctx, x))
        np.broadcast_shapes(slope.shape, ctx.type_of(x).shape)
    except ValueError as exc:
        raise fail(node, f"slope: {exc}") from None
    base = ctx.node_name(node)
    pos = ctx.emit(Relu, node, [x], name=ctx.names.fresh(f"{base}.pos"))
    flipped = ctx.emit(Affine, node, [x], name=ctx.names.fresh(f"{base}.flip"),
                       scale=ctx.add_const(f"{base}.minus_one", np.float32(-1.0)))
    neg = ctx.emit(Relu, node, [flipped], name=ctx.names.fresh(f"{base}.neg"))
    if slope.size == 1:
        ctx.emit(Add, node, [pos, neg], name=base, coeffs=(1.0, -float(slope.reshape(-1)[0])))
        return
    scaled = ctx.emit(Affine, node, [neg], name=ctx.names.fresh(f"{base}.slope"),
                      scale=ctx.add_const(f"{base}.minus_slope", -slope))
    ctx.emit(Add, node, [pos, scaled], name=base, coeffs=(1.0, 1.0))


@converter("HardSigmoid")
def convert_hard_sigmoid(ctx, node):
    a = attrs(node)
    ctx.emit(HardSigmoid, node, [ctx.value(node.input[0], node)], alpha=float(a.get("alpha", 0.2)),
             beta=float(a.get("beta", 0.5)))


@converter("Gelu")
def convert_gelu(ctx, node):
    approximate = attrs(node).get("approximate", b"none")
    approximate = approximate.decode() if isinstance(approximate, bytes) else approximate
    if approximate == "tanh":
        ctx.emit(GateOp, node, [ctx.value(node.input[0], node)], gate="gelu_tanh")
    elif approximate == "none":
        ctx.emit(Gelu, node, [ctx.value(node.input[0], node)])
    else:
        raise fail(node, f"approximate={approximate!r} is not a Gelu variant (none or tanh)")


@converter("Max", "Min")
def convert_max_min(ctx, node):
    """Max(x, c) / Min(x, c) with a scalar constant c: Clip(c, inf) / Clip(-inf, c) (Relu6 as Min(Max(x, 0), 6))."""
    dynamic = [i for i in node.input if not ctx.is_const(i)]
    constant = [i for i in node.input if ctx.is_const(i)]
    if len(dynamic) != 1 or len(constant) != 1 or np.asarray(ctx.const(constant[0])).size != 1:
        raise fail(node, "only the max/min of one tensor and one scalar constant is supported")
    c = float(np.asarray(ctx.const(constant[0])).reshape(-1)[0])
    if c == (-np.inf if node.op_type == "Max" else np.inf):
        ctx.alias(node.output[0], ctx.value(dynamic[0], node))     # max(x, -inf) = x (jax2tf's stable softmax)
        return
    bounds = {"lo": c} if node.op_type == "Max" else {"hi": c}
    ctx.emit(Clip, node, [ctx.value(dynamic[0], node)], **bounds)


@converter("Pow")
def convert_pow(ctx, node):
    """x^n for a constant whole exponent n = 1, 2, 3: x, x*x, (x*x)*x (products that match-activations reads, e.g.
    in GELU's tanh form)."""
    if not ctx.is_const(node.input[1]) or np.asarray(ctx.const(node.input[1])).size != 1:
        raise fail(node, "the exponent must be a scalar constant")
    n = float(np.asarray(ctx.const(node.input[1])).reshape(-1)[0])
    if n not in (1.0, 2.0, 3.0):
        raise fail(node, f"only the exponents 1, 2 and 3 are supported, got {n:g}")
    x = ctx.value(node.input[0], node)
    if n == 1.0:
        ctx.alias(node.output[0], x)
        return
    base = ctx.node_name(node)
    square = ctx.emit(Mul, node, [x, x], name=base if n == 2.0 else ctx.names.fresh(f"{base}.square"))
    if n == 3.0:
        ctx.emit(Mul, node, [square, x], name=base)


@converter("Clip")
def convert_clip(ctx, node):
    a = attrs(node)
    lo, hi = a.get("min", float("-inf")), a.get("max", float("inf"))
    for i, src in ((1, "min"), (2, "max")):
        if len(node.input) > i and node.input[i]:
            if not ctx.is_const(node.input[i]):
                raise fail(node, f"{src} must be a constant")
            value = float(np.asarray(ctx.const(node.input[i])).reshape(-1)[0])
            lo, hi = (value, hi) if i == 1 else (lo, value)
    ctx.emit(Clip, node, [ctx.value(node.input[0], node)], lo=float(lo), hi=float(hi))


@converter("Floor")
def convert_floor(ctx, node):
    # only as part of a QCFS activation: the pass match-qcfs folds it with its neighbours into one qcfs node
    ctx.emit(Floor, node, [ctx.value(node.input[0], node)])


def _pool_common(ctx, node):
    a = attrs(node)
    if a.get("ceil_mode", 0):
        raise fail(node, "ceil_mode=1 is not supported; export with ceil_mode=False")
    x = ctx.value(node.input[0], node)
    kernel = tuple(a["kernel_shape"])
    if len(kernel) != 2:
        raise fail(node, "only 2-D pooling is supported")
    strides = tuple(a.get("strides", (1, 1)))
    if tuple(a.get("dilations", (1, 1))) != (1, 1):
        raise fail(node, "dilated pooling is not supported")
    return a, x, kernel, strides, _pads(node, a, ctx.type_of(x).shape[1:], kernel, strides)


def _channel_parts(ctx, x: str) -> list[str]:
    """The values a channel Concat (of an image) joins, nested concats flattened; [x] for anything else."""
    producer = next((n for n in reversed(ctx.nodes) if n.name == x), None)
    if not isinstance(producer, Concat) or len(ctx.type_of(x).shape) != 3 or producer.axis % 3 != 0:
        return [x]
    return [part for i in producer.inputs for part in _channel_parts(ctx, i)]


@converter("MaxPool")
def convert_maxpool(ctx, node):
    """A pool of a channel Concat (SqueezeNet's fire modules, Inception blocks) pools each joined part: pooling is
    per channel, so maxpool(concat(a, b)) = concat(maxpool(a), maxpool(b)) exactly, and each pool then reads its
    ReLU population directly (TTFS and phase pool such a population by its first spike)."""
    if len([o for o in node.output if o]) > 1:
        raise fail(node, "MaxPool with an Indices output is not supported")
    _, x, kernel, strides, pads = _pool_common(ctx, node)
    parts = _channel_parts(ctx, x)
    if len(parts) == 1:
        ctx.emit(MaxPool, node, [x], kernel=kernel, strides=strides, pads=pads)
        return
    base = ctx.node_name(node)
    pooled = [ctx.emit(MaxPool, node, [p], name=ctx.names.fresh(f"{base}.part{i}"), kernel=kernel, strides=strides,
                       pads=pads) for i, p in enumerate(parts)]
    ctx.emit(Concat, node, pooled, name=base, axis=0)


@converter("AveragePool")
def convert_avgpool(ctx, node):
    a, x, kernel, strides, pads = _pool_common(ctx, node)
    ctx.emit(AvgPool, node, [x], kernel=kernel, strides=strides, pads=pads,
             count_include_pad=bool(a.get("count_include_pad", 0)))


@converter("GlobalAveragePool")
def convert_global_avgpool(ctx, node):
    ctx.emit(GlobalAvgPool, node, [ctx.value(node.input[0], node)])


@converter("Flatten")
def convert_flatten(ctx, node):
    x = ctx.value(node.input[0], node)
    axis = attrs(node).get("axis", 1)
    if axis < 0:
        axis += _rank(ctx, x)
    if axis != 1:
        raise fail(node, f"Flatten with axis={axis} would mix the batch; only axis=1 is supported")
    ctx.emit(Flatten, node, [x])


def _reshape_to(ctx, node, x: str, full_shape: list[int]) -> None:
    per_sample = ctx.type_of(x)
    if any(d <= 0 for d in full_shape[1:]):
        raise fail(node, f"target shape {full_shape} is not static outside the batch axis")
    target = tuple(int(d) for d in full_shape[1:])
    if int(np.prod(target, dtype=np.int64)) != per_sample.size:
        raise fail(node, f"reshape to {full_shape} changes the batch size; only per-sample reshapes are supported")
    if len(target) == 1:
        ctx.emit(Flatten, node, [x])
    else:
        ctx.emit(Reshape, node, [x], shape=target)


@converter("Reshape")
def convert_reshape(ctx, node):
    x = ctx.value(node.input[0], node)
    if not ctx.is_const(node.input[1]):
        raise fail(node, "the target shape is computed at run time; it must fold to a constant")
    shape = [int(d) for d in ctx.const(node.input[1]).reshape(-1)]
    in_full = [-1] + list(ctx.type_of(x).shape)
    if attrs(node).get("allowzero", 0) == 0:
        shape = [in_full[i] if d == 0 else d for i, d in enumerate(shape)]
    rest = shape[1:]
    if rest.count(-1) > 1:
        raise fail(node, f"target shape {shape} leaves two per-sample axes open")
    if -1 in rest:
        known = int(np.prod([d for d in rest if d != -1], dtype=np.int64))
        size = ctx.type_of(x).size
        if known == 0 or size % known:
            raise fail(node, f"target shape {shape} does not fit {size} elements per sample")
        rest[rest.index(-1)] = size // known
    shape = [-1] + rest
    _reshape_to(ctx, node, x, shape)


@converter("Squeeze", "Unsqueeze")
def convert_squeeze(ctx, node):
    x = ctx.value(node.input[0], node)
    out_info = _inferred_shape(ctx, node.output[0])
    if out_info is None:
        raise fail(node, "the output shape could not be inferred")
    _reshape_to(ctx, node, x, out_info)


def _inferred_shape(ctx, name: str) -> list[int] | None:
    for vi in list(ctx.model.graph.value_info) + list(ctx.model.graph.output):
        if vi.name == name and vi.type.tensor_type.HasField("shape"):
            return [d.dim_value if d.HasField("dim_value") else -1 for d in vi.type.tensor_type.shape.dim]
    return None


@converter("Concat")
def convert_concat(ctx, node):
    xs = [ctx.value(i, node) for i in node.input]
    axis = attrs(node)["axis"]
    rank = _rank(ctx, xs[0])
    axis = axis + rank if axis < 0 else axis
    if axis == 0:
        raise fail(node, "Concat along the batch axis is not supported")
    ctx.emit(Concat, node, xs, axis=axis - 1)


def _binary_const(ctx, node):
    """(dynamic input, constant, constant_is_left) or None when both inputs are dynamic."""
    a, b = node.input
    if ctx.is_const(a) and ctx.is_const(b):
        raise fail(node, "both inputs are constants (constant folding should have removed this node)")
    if ctx.is_const(b):
        return a, ctx.const(b), False
    if ctx.is_const(a):
        return b, ctx.const(a), True
    return None


def _affine(ctx, node, x_onnx: str, scale=None, shift=None):
    x = ctx.value(x_onnx, node)
    rank = _rank(ctx, x)
    base = ctx.node_name(node)
    try:
        s = None if scale is None else ctx.add_const(f"{base}.scale", ctx.per_sample_const(scale, rank))
        t = None if shift is None else ctx.add_const(f"{base}.shift", ctx.per_sample_const(shift, rank))
    except ValueError as exc:
        raise fail(node, str(exc)) from None
    ctx.emit(Affine, node, [x], name=base, scale=s, shift=t)


@converter("Add")
def convert_add(ctx, node):
    pair = _binary_const(ctx, node)
    if pair is None:
        ctx.emit(Add, node, [ctx.value(i, node) for i in node.input], coeffs=(1.0, 1.0))
    else:
        x, c, _ = pair
        _affine(ctx, node, x, shift=c)


@converter("Sum", "Mean")
def convert_sum(ctx, node):
    """Sum (ResNet's residual join in older exports) / Mean of n tensors: one n-ary add, coefficients 1 or 1/n;
    constant operands become a shift."""
    inputs = [i for i in node.input if i]
    dynamic = [i for i in inputs if not ctx.is_const(i)]
    if not dynamic:
        raise fail(node, "all inputs are constants (constant folding should have removed this node)")
    k = 1.0 if node.op_type == "Sum" else 1.0 / len(inputs)
    values = [ctx.value(i, node) for i in dynamic]
    shapes = {ctx.type_of(v).shape for v in values}
    if len(shapes) > 1:
        raise fail(node, f"its computed inputs differ in shape ({', '.join(map(str, sorted(shapes)))}); only "
                         "constants may broadcast")
    constants = [np.asarray(ctx.const(i), np.float32) for i in inputs if ctx.is_const(i)]
    shift = k * sum(constants[1:], constants[0]) if constants else None
    if len(values) == 1:
        scale = np.float32(k) if k != 1.0 else None
        if scale is None and shift is None:
            ctx.alias(node.output[0], values[0])
        else:
            _affine(ctx, node, dynamic[0], scale=scale, shift=shift)
        return
    if shift is None:
        ctx.emit(Add, node, values, coeffs=(k,) * len(values))
        return
    base = ctx.node_name(node)
    total = ctx.emit(Add, node, values, name=ctx.names.fresh(f"{base}.sum"), coeffs=(k,) * len(values))
    try:
        t = ctx.add_const(f"{base}.shift", ctx.per_sample_const(shift, _rank(ctx, total)))
    except ValueError as exc:
        raise fail(node, str(exc)) from None
    ctx.emit(Affine, node, [total], name=base, shift=t)


@converter("Sub")
def convert_sub(ctx, node):
    pair = _binary_const(ctx, node)
    if pair is None:
        ctx.emit(Add, node, [ctx.value(i, node) for i in node.input], coeffs=(1.0, -1.0))
        return
    x, c, const_left = pair
    if const_left:
        _affine(ctx, node, x, scale=np.full_like(np.asarray(c, np.float32), -1.0), shift=c)
    else:
        _affine(ctx, node, x, shift=-np.asarray(c, np.float32))


@converter("Div")
def convert_div(ctx, node):
    pair = _binary_const(ctx, node)
    if pair is None or pair[2]:
        raise fail(node, "only division by a constant is supported")
    x, c, _ = pair
    _affine(ctx, node, x, scale=1.0 / np.asarray(c, np.float32))


@converter("Mul")
def convert_mul(ctx, node):
    pair = _binary_const(ctx, node)
    if pair is not None:
        x, c, _ = pair
        _affine(ctx, node, x, scale=c)
        return
    a, b = node.input
    for gate_in, other in ((a, b), (b, a)):
        producer = ctx.producers.get(gate_in)
        # x * sigmoid(x) -> one SiLU gate
        if producer is not None and producer.op_type == "Sigmoid" and producer.input[0] == other:
            ctx.emit(SiLU, node, [ctx.value(other, node)])
            return
    ctx.emit(Mul, node, [ctx.value(a, node), ctx.value(b, node)])


@converter("Softmax", "LogSoftmax")
def convert_softmax(ctx, node):
    # Only a final (Log)Softmax is accepted: it is monotonic, so the argmax prediction is unchanged without it.
    is_output = any(o.name == node.output[0] for o in ctx.model.graph.output)
    if not is_output:
        raise fail(node, "Softmax inside the network is not supported (only as the final layer); when it is "
                         "post-processing (a detector's box decoding), compile the network before it with --outputs "
                         "(`snncc check MODEL` names the tensors)")
    ctx.alias(node.output[0], ctx.value(node.input[0], node))


@converter("ReduceMean")
def convert_reduce_mean(ctx, node):
    """ReduceMean over the spatial axes of an image (torch's x.mean((2, 3))) is a global average pool."""
    x = ctx.value(node.input[0], node)
    a = attrs(node)
    axes = a.get("axes")
    if len(node.input) > 1 and node.input[1]:
        if not ctx.is_const(node.input[1]):
            raise fail(node, "the axes must be a constant")
        axes = [int(v) for v in ctx.const(node.input[1]).reshape(-1)]
    rank = _rank(ctx, x)
    spatial = sorted(int(v) % rank for v in (axes or []))
    if rank != 4 or spatial != [2, 3]:
        raise fail(node, f"only a mean over the spatial axes (2, 3) of an image is supported, got axes {axes}")
    if a.get("keepdims", 1):
        ctx.emit(GlobalAvgPool, node, [x])
        return
    name = ctx.node_name(node)
    pooled = ctx.emit(GlobalAvgPool, node, [x], name=ctx.names.fresh(f"{name}.pool"))
    ctx.emit(Flatten, node, [pooled], name=name)
