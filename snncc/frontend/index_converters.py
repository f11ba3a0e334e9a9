"""Converters for ops that select, move or resample values: Slice, Split, Pad, Resize/Upsample, Transpose and
ConvTranspose. Each becomes ops the IR already has, with fixed weights, so that every coding and backend takes them
without new kernels:

- a selection along one axis (Slice, Split, Pad, nearest Resize) is a 0/1 matrix along that axis: `dense{axis}`
  (`conv` 1x1 for the channels of an image); a row of zeros is a padded position;
- bilinear Resize is separable: one `dense{axis}` per resized axis with the interpolation weights;
- zero padding of an image is a depthwise identity `conv` with pads, merged into the pads of a Conv that reads it;
  other padding (a constant as a bias, edge, reflect, wrap) is a 0/1 matrix along each padded axis;
- ConvTranspose is zero insertion and padding (a 0/1 `dense` along H and along W) followed by a stride-1 `conv`
  with the flipped, transposed kernel;
- Transpose is a `reshape` when only axes of size 1 move, else the `transpose` op.
"""

from __future__ import annotations

import math

import numpy as np

from snncc.frontend.context import ConversionContext
from snncc.frontend.converters import attrs, converter, fail
from snncc.ir import Conv, Dense, Flatten, Reshape, Transpose

NO_SOURCE = -1   # an index that selects nothing: a zero (padded) position


def _text(value, default: str) -> str:
    value = value if value is not None else default
    return value.decode() if isinstance(value, bytes) else str(value)


def _ints(ctx: ConversionContext, node, index: int, name: str) -> list[int] | None:
    """An optional constant int input as a list (None when absent)."""
    if len(node.input) <= index or not node.input[index]:
        return None
    if not ctx.is_const(node.input[index]):
        raise fail(node, f"{name} must be a constant")
    return [int(v) for v in np.asarray(ctx.const(node.input[index])).reshape(-1)]


def selection_matrix(indices, size: int) -> np.ndarray:
    """W[j, indices[j]] = 1 (rows of NO_SOURCE stay zero): y = W x picks x[indices]."""
    w = np.zeros((len(indices), size), np.float32)
    for row, col in enumerate(indices):
        if col != NO_SOURCE:
            w[row, col] = 1.0
    return w


def _identity(matrix: np.ndarray) -> bool:
    return matrix.shape[0] == matrix.shape[1] and np.array_equal(matrix, np.eye(matrix.shape[0], dtype=np.float32))


def linear_along(ctx: ConversionContext, node, x: str, axis: int, matrix: np.ndarray, bias: np.ndarray | None = None,
                 *, output: int = 0, last: bool = True, tag: str = "") -> str:
    """y = matrix x (+ bias, one value per output row) along per-sample `axis` of x: a 1x1 conv on the channels of an
    image, else `dense{axis}`. `last` binds the result to the ONNX output; an identity emits nothing."""
    shape = ctx.type_of(x).shape
    if bias is None and _identity(matrix):
        if last:
            ctx.alias(node.output[output], x)
        return x
    name = ctx.names.fresh((node.output[output] if len(node.output) > 1 else node.name or node.output[0]) + tag)
    if len(shape) == 3 and axis == 0:
        weight = ctx.add_const(f"{name}.weight", matrix.reshape(matrix.shape + (1, 1)))
        ref = None if bias is None else ctx.add_const(f"{name}.bias", bias)
        out = ctx.emit(Conv, node, [x], name=name, output=output, weight=weight, bias=ref)
    else:
        ref = None if bias is None else ctx.add_const(f"{name}.bias",
                                                      bias.reshape((-1,) + (1,) * (len(shape) - axis - 1)))
        out = ctx.emit(Dense, node, [x], name=name, output=output, weight=ctx.add_const(f"{name}.weight", matrix),
                       bias=ref, axis=axis - len(shape))
    if not last:
        ctx.values.pop(node.output[output], None)
    return out


def _per_axis(ctx, node, x: str, matrices: dict[int, np.ndarray], output: int = 0,
              biases: dict[int, np.ndarray] | None = None) -> None:
    """Apply one matrix (and bias) per per-sample axis, in axis order; the last one binds the ONNX output."""
    biases = biases or {}
    todo = [(a, m) for a, m in sorted(matrices.items()) if a in biases or not _identity(m)]
    if not todo:
        ctx.alias(node.output[output], x)
        return
    for i, (axis, matrix) in enumerate(todo):
        x = linear_along(ctx, node, x, axis, matrix, biases.get(axis), output=output, last=i == len(todo) - 1,
                         tag="" if i == len(todo) - 1 else f".axis{axis}")


def _refuse_batch_axis(node, what: str) -> None:
    raise fail(node, f"{what} along the batch axis (0) is not supported; only per-sample axes may change")


# -- Slice and Split -----------------------------------------------------------------------------------------

@converter("Slice")
def convert_slice(ctx, node):
    x = ctx.value(node.input[0], node)
    shape = ctx.type_of(x).shape
    rank = len(shape) + 1
    a = attrs(node)
    starts = _ints(ctx, node, 1, "starts") if len(node.input) > 1 else list(a.get("starts", []))
    ends = _ints(ctx, node, 2, "ends") if len(node.input) > 2 else list(a.get("ends", []))
    axes = _ints(ctx, node, 3, "axes") if len(node.input) > 3 else a.get("axes")
    steps = _ints(ctx, node, 4, "steps") if len(node.input) > 4 else None
    axes = list(range(len(starts))) if axes is None else [int(v) % rank for v in axes]
    steps = [1] * len(starts) if steps is None else steps
    matrices = {}
    for axis, start, end, step in zip(axes, starts, ends, steps):
        if step == 0:
            raise fail(node, "a slice step of 0 is not valid")
        if axis == 0:
            if not (start == 0 and step == 1 and end >= 2**31 - 1):   # the whole (dynamic) batch
                _refuse_batch_axis(node, "Slice")
            continue
        size = shape[axis - 1]
        matrices[axis - 1] = selection_matrix(list(range(size)[slice(start, end, step)]), size)
    if any(m.shape[0] == 0 for m in matrices.values()):
        raise fail(node, "the slice is empty")
    _per_axis(ctx, node, x, matrices)


@converter("Split")
def convert_split(ctx, node):
    x = ctx.value(node.input[0], node)
    shape = ctx.type_of(x).shape
    a = attrs(node)
    axis = int(a.get("axis", 0)) % (len(shape) + 1)
    if axis == 0:
        _refuse_batch_axis(node, "Split")
    size = shape[axis - 1]
    outputs = [o for o in node.output]
    sizes = _ints(ctx, node, 1, "split") if len(node.input) > 1 else a.get("split")
    if sizes is None:
        count = len(outputs)
        chunk = -(-size // count)    # opset 18 num_outputs: the last chunk may be smaller
        sizes = [min(chunk, size - i * chunk) for i in range(count)]
    sizes = [int(s) for s in sizes]
    if sum(sizes) != size or len(sizes) != len(outputs) or min(sizes) <= 0:
        raise fail(node, f"split sizes {sizes} do not cut axis {axis} of size {size} into {len(outputs)} parts")
    start = 0
    for index, (out, part) in enumerate(zip(outputs, sizes)):
        if out:
            linear_along(ctx, node, x, axis - 1, selection_matrix(range(start, start + part), size), output=index)
        start += part


# -- Pad -----------------------------------------------------------------------------------------------------

PAD_MODES = ("constant", "edge", "reflect", "wrap")


def pad_indices(size: int, begin: int, end: int, mode: str) -> list[int]:
    """Source index of each padded position along one axis (NO_SOURCE: the constant); negative pads crop."""
    out = []
    for i in range(size + begin + end):
        j = i - begin
        if 0 <= j < size:
            out.append(j)
        elif mode == "constant":
            out.append(NO_SOURCE)
        elif mode == "edge":
            out.append(min(max(j, 0), size - 1))
        elif mode == "wrap":
            out.append(j % size)
        else:   # reflect, the edge not repeated
            period = 2 * (size - 1)
            k = j % period if period else 0
            out.append(k if k < size else period - k)
    return out


@converter("Pad")
def convert_pad(ctx, node):
    """Each padded axis is a 0/1 selection along it (constant: zero rows plus the value as a bias; edge, reflect,
    wrap: repeated source indices). Zero padding of an image's H and W is an identity depthwise conv with pads,
    which a Conv reading it absorbs."""
    x = ctx.value(node.input[0], node)
    shape = ctx.type_of(x).shape
    rank = len(shape) + 1
    a = attrs(node)
    mode = _text(a.get("mode"), "constant")
    if mode not in PAD_MODES:
        raise fail(node, f"Pad mode {mode!r} is not supported (use one of {', '.join(PAD_MODES)})")
    pads = _ints(ctx, node, 1, "pads") if len(node.input) > 1 else list(a.get("pads", []))
    value = 0.0
    if len(node.input) > 2 and node.input[2]:
        if not ctx.is_const(node.input[2]):
            raise fail(node, "the constant value must be a constant")
        value = float(np.asarray(ctx.const(node.input[2])).reshape(-1)[0])
    value = float(a.get("value", value))
    axes = _ints(ctx, node, 3, "axes") if len(node.input) > 3 else None
    axes = list(range(rank)) if axes is None else [int(v) % rank for v in axes]
    if len(pads) != 2 * len(axes):
        raise fail(node, f"{len(pads)} pads for {len(axes)} axes")
    begin, end = dict(zip(axes, pads[:len(axes)])), dict(zip(axes, pads[len(axes):]))
    if begin.get(0, 0) or end.get(0, 0):
        _refuse_batch_axis(node, "Pad")
    padded = {ax for ax in axes if begin[ax] or end[ax]}
    if (mode == "constant" and value == 0.0 and len(shape) == 3 and padded <= {2, 3}
            and all(begin[ax] >= 0 and end[ax] >= 0 for ax in padded)):
        channels = shape[0]
        name = ctx.node_name(node)
        pad4 = (begin.get(2, 0), begin.get(3, 0), end.get(2, 0), end.get(3, 0))
        out = ctx.emit(Conv, node, [x], name=name, pads=pad4, groups=channels,
                       weight=ctx.add_const(f"{name}.weight", np.ones((channels, 1, 1, 1), np.float32)))
        ctx.zero_padded[out] = (x, pad4)
        return
    matrices, biases = {}, {}
    for axis in padded:
        size = shape[axis - 1]
        if mode == "reflect" and max(begin[axis], end[axis]) >= size:
            raise fail(node, f"reflect padding of {max(begin[axis], end[axis])} on axis {axis} of size {size}")
        indices = pad_indices(size, begin[axis], end[axis], mode)
        if not indices:
            raise fail(node, "the padded tensor is empty")
        matrices[axis - 1] = selection_matrix(indices, size)
        if value != 0.0 and NO_SOURCE in indices:
            biases[axis - 1] = np.where(np.asarray(indices) == NO_SOURCE, np.float32(value), np.float32(0))
    _per_axis(ctx, node, x, matrices, biases=biases)


# -- Resize / Upsample ---------------------------------------------------------------------------------------

def _source_coordinates(mode: str, out_size: int, in_size: int, scale: float) -> np.ndarray:
    """x_original of each output position (ONNX Resize coordinate_transformation_mode)."""
    x = np.arange(out_size, dtype=np.float64)
    if mode == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (x + 0.5) / scale - 0.5 if out_size > 1 else np.zeros(out_size)
    if mode == "align_corners":
        return x * (in_size - 1) / (out_size - 1) if out_size > 1 else np.zeros(out_size)
    if mode == "asymmetric":
        return x / scale
    if mode == "tf_half_pixel_for_nn":
        return (x + 0.5) / scale
    raise ValueError(mode)


def _nearest(coords: np.ndarray, nearest_mode: str) -> np.ndarray:
    frac = coords - np.floor(coords)
    if nearest_mode == "floor":
        return np.floor(coords)
    if nearest_mode == "ceil":
        return np.ceil(coords)
    if nearest_mode == "round_prefer_ceil":
        return np.where(frac == 0.5, np.ceil(coords), np.round(coords))
    if nearest_mode == "round_prefer_floor":
        return np.where(frac == 0.5, np.floor(coords), np.round(coords))
    raise ValueError(nearest_mode)


def resize_matrix(in_size: int, out_size: int, scale: float, mode: str, coordinates: str,
                  nearest_mode: str) -> np.ndarray:
    """The (out, in) matrix of a 1-D Resize: one-hot rows (nearest) or two interpolation weights (linear)."""
    coords = _source_coordinates(coordinates, out_size, in_size, scale)
    w = np.zeros((out_size, in_size), np.float64)
    if mode == "nearest":
        src = np.clip(_nearest(coords, nearest_mode), 0, in_size - 1).astype(int)
        w[np.arange(out_size), src] = 1.0
        return w.astype(np.float32)
    coords = np.clip(coords, 0, in_size - 1)
    low = np.floor(coords).astype(int)
    high = np.minimum(low + 1, in_size - 1)
    frac = coords - low
    np.add.at(w, (np.arange(out_size), low), 1 - frac)
    np.add.at(w, (np.arange(out_size), high), frac)
    return w.astype(np.float32)


COORDINATE_MODES = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _resize(ctx, node, x: str, scales: list[float] | None, sizes: list[int] | None, mode: str, coordinates: str,
            nearest_mode: str) -> None:
    shape = ctx.type_of(x).shape
    full = [1] + list(shape)
    if mode not in ("nearest", "linear"):
        raise fail(node, f"Resize mode {mode!r} is not supported (nearest and linear are; cubic is not)")
    if coordinates not in COORDINATE_MODES:
        raise fail(node, f"coordinate_transformation_mode {coordinates!r} is not supported "
                         f"(use one of {', '.join(COORDINATE_MODES)})")
    if mode == "nearest" and nearest_mode not in NEAREST_MODES:
        raise fail(node, f"nearest_mode {nearest_mode!r} is not supported")
    if sizes is not None:
        if len(sizes) != len(full):
            raise fail(node, f"{len(sizes)} sizes for a rank-{len(full)} input")
        out = [1] + [int(s) for s in sizes[1:]]     # sizes[0] is the batch the exporter used
        scales = [o / d for o, d in zip(out, full)]
    else:
        if scales is None or len(scales) != len(full):
            raise fail(node, "Resize needs constant scales or sizes, one per axis")
        out = [int(math.floor(d * s + 1e-9)) for d, s in zip(full, scales)]
    if scales[0] != 1.0:
        _refuse_batch_axis(node, "Resize")
    matrices = {}
    for axis in range(1, len(full)):
        if out[axis] <= 0:
            raise fail(node, f"Resize gives an empty axis {axis}")
        if out[axis] != full[axis] or scales[axis] != 1.0:
            matrices[axis - 1] = resize_matrix(full[axis], out[axis], float(scales[axis]), mode, coordinates,
                                               nearest_mode)
    _per_axis(ctx, node, x, matrices)


def _floats(ctx, node, index: int, name: str) -> list[float] | None:
    if len(node.input) <= index or not node.input[index]:
        return None
    if not ctx.is_const(node.input[index]):
        raise fail(node, f"{name} must be a constant")
    values = [float(v) for v in np.asarray(ctx.const(node.input[index])).reshape(-1)]
    return values or None


@converter("Resize")
def convert_resize(ctx, node):
    x = ctx.value(node.input[0], node)
    a = attrs(node)
    coordinates = _text(a.get("coordinate_transformation_mode"), "half_pixel")
    if coordinates == "tf_crop_and_resize":
        raise fail(node, "coordinate_transformation_mode 'tf_crop_and_resize' is not supported")
    if a.get("antialias", 0) or a.get("axes") is not None:
        raise fail(node, "Resize with antialias or axes is not supported")
    sizes = _ints(ctx, node, 3, "sizes")
    scales = _floats(ctx, node, 2, "scales")
    if sizes is None and scales is None and ctx.opset < 11 and len(node.input) > 1:
        scales = _floats(ctx, node, 1, "scales")    # opset 10: (X, scales)
    _resize(ctx, node, x, scales, sizes, _text(a.get("mode"), "nearest"), coordinates,
            _text(a.get("nearest_mode"), "round_prefer_floor"))


@converter("Upsample")
def convert_upsample(ctx, node):
    x = ctx.value(node.input[0], node)
    a = attrs(node)
    scales = _floats(ctx, node, 1, "scales") or [float(s) for s in a.get("scales", [])]
    mode = _text(a.get("mode"), "nearest")
    mode = "linear" if mode in ("linear", "bilinear") else mode
    _resize(ctx, node, x, scales, None, mode, "asymmetric", "floor")


# -- Transpose -----------------------------------------------------------------------------------------------

@converter("Transpose")
def convert_transpose(ctx, node):
    x = ctx.value(node.input[0], node)
    shape = ctx.type_of(x).shape
    rank = len(shape) + 1
    perm = [int(p) % rank for p in attrs(node).get("perm", list(range(rank))[::-1])]
    if sorted(perm) != list(range(rank)):
        raise fail(node, f"perm {perm} is not a permutation of {rank} axes")
    if perm[0] != 0:
        raise fail(node, f"perm {perm} moves the batch axis; only permutations of the per-sample axes (perm[0] = 0) "
                         "are supported")
    per_sample = tuple(p - 1 for p in perm[1:])
    target = tuple(shape[p] for p in per_sample)
    if per_sample == tuple(range(len(shape))):
        ctx.alias(node.output[0], x)
    elif [p for p in per_sample if shape[p] != 1] == [p for p in range(len(shape)) if shape[p] != 1]:
        # only axes of size 1 move: the memory order is unchanged
        if len(target) == 1:
            ctx.emit(Flatten, node, [x])
        else:
            ctx.emit(Reshape, node, [x], shape=target)
    else:
        ctx.emit(Transpose, node, [x], perm=per_sample)


# -- ConvTranspose -------------------------------------------------------------------------------------------

def _transposed_pads(node, a: dict, in_hw, kernel, strides, dilations, output_padding) -> tuple[list[int], list[int]]:
    """(begin, end) padding per spatial axis, from pads, auto_pad or output_shape (ONNX ConvTranspose)."""
    auto_pad = _text(a.get("auto_pad"), "NOTSET")
    output_shape = a.get("output_shape")
    if output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        wanted = list(output_shape)[-2:] if output_shape is not None else [n * s for n, s in zip(in_hw, strides)]
        begin, end = [], []
        for n, k, s, d, op, out in zip(in_hw, kernel, strides, dilations, output_padding, wanted):
            total = s * (n - 1) + op + (k - 1) * d + 1 - int(out)
            if total < 0:
                raise fail(node, f"output_shape {list(wanted)} is larger than the transposed convolution reaches")
            first = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            begin.append(first)
            end.append(total - first)
        return begin, end
    if auto_pad == "VALID":
        return [0, 0], [0, 0]
    pads = list(a.get("pads", [0, 0, 0, 0]))
    if len(pads) != 4:
        raise fail(node, f"only 2-D transposed convolutions are supported (pads {pads})")
    return pads[:2], pads[2:]


@converter("ConvTranspose")
def convert_conv_transpose(ctx, node):
    """y = ConvTranspose(x) = Conv(Z(x), W') with Z the zero insertion (stride s) and padding d (k - 1) - p on
    each side (+ output_padding at the end), and W'[o, c] = W[c, o] flipped in both spatial axes, per group."""
    a = attrs(node)
    x = ctx.value(node.input[0], node)
    shape = ctx.type_of(x).shape
    if not ctx.is_const(node.input[1]):
        raise fail(node, "the weight must be a constant initializer")
    w = ctx.const(node.input[1]).astype(np.float32)
    if w.ndim != 4 or len(shape) != 3:
        raise fail(node, f"only 2-D transposed convolutions are supported (weight shape {list(w.shape)})")
    groups = int(a.get("group", 1))
    kernel = tuple(a.get("kernel_shape", w.shape[2:]))
    strides = tuple(a.get("strides", (1, 1)))
    dilations = tuple(a.get("dilations", (1, 1)))
    output_padding = tuple(a.get("output_padding", (0, 0)))
    begin, end = _transposed_pads(node, a, shape[1:], kernel, strides, dilations, output_padding)
    base = ctx.node_name(node)
    z = x
    for axis, (n, k, s, d, op, b, e) in enumerate(zip(shape[1:], kernel, strides, dilations, output_padding,
                                                      begin, end)):
        lead, trail = d * (k - 1) - b, d * (k - 1) - e + op
        length = (n - 1) * s + 1 + lead + trail
        if length < d * (k - 1) + 1:
            raise fail(node, "the padding leaves no output")
        indices = []
        for j in range(length):
            i = j - lead
            indices.append(i // s if i >= 0 and i % s == 0 and i // s < n else NO_SOURCE)
        matrix = selection_matrix(indices, n)
        if not np.array_equal(matrix, np.eye(n, dtype=np.float32)) or length != n:
            name = ctx.names.fresh(f"{base}.zeros{'hw'[axis]}")
            z = ctx.emit(Dense, node, [z], name=name, weight=ctx.add_const(f"{name}.weight", matrix),
                         axis=axis - 2)
    c_in = w.shape[0]
    per_group_in = c_in // groups
    flipped = np.concatenate([w[g * per_group_in:(g + 1) * per_group_in].transpose(1, 0, 2, 3)
                              for g in range(groups)])[:, :, ::-1, ::-1]
    bias = None
    if len(node.input) > 2 and node.input[2]:
        bias = ctx.add_const(f"{base}.bias", ctx.const(node.input[2]))
    ctx.emit(Conv, node, [z], name=base, weight=ctx.add_const(f"{base}.weight", np.ascontiguousarray(flipped)),
             bias=bias, dilations=dilations, groups=groups)
