"""Input shapes for models whose per-sample axes are dynamic (`--input-shape name=1x3x224x224`).

A third-party model often declares its image size as symbols (`N x 3 x H x W`). snncc needs every axis but the batch
static, so the size comes from the user (`--input-shape`, per input) or from the calibration data (its per-sample
shape). The given dims replace the model's dynamic ones before shape inference; a dim the model fixes must agree.
"""

from __future__ import annotations

import re

import onnx

from snncc.errors import OptionError

InputShapes = dict[str, tuple[int, ...]]
_SHAPE = re.compile(r"^(?:(?P<name>[^=]+)=)?(?P<dims>[0-9]+(?:[x,][0-9]+)*)$")


def parse_input_shape(text: str) -> tuple[str | None, tuple[int, ...]]:
    """`"x=1x3x224x224"` -> ("x", (1, 3, 224, 224)); the name may be left out for a single-input model."""
    m = _SHAPE.match(text.strip())
    if not m:
        raise OptionError(f"--input-shape {text!r}: write NAME=DIMS with the batch axis first, e.g. "
                          "x=1x3x224x224 (the name may be left out when the model has one input)")
    dims = tuple(int(d) for d in re.split("[x,]", m.group("dims")))
    if any(d < 1 for d in dims):
        raise OptionError(f"--input-shape {text!r}: every dim must be >= 1")
    return (m.group("name").strip() if m.group("name") else None), dims


def parse_input_shapes(items) -> InputShapes:
    """Several `--input-shape` values; an unnamed one is keyed by None (resolved against the model later)."""
    shapes: dict = {}
    for item in items or ():
        name, dims = parse_input_shape(item)
        if name in shapes:
            raise OptionError(f"--input-shape given twice for {name or 'the input'}")
        shapes[name] = dims
    return shapes


def _graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    inits = {i.name for i in model.graph.initializer}
    return [vi for vi in model.graph.input if vi.name not in inits]


def dynamic_axes(vi: onnx.ValueInfoProto) -> list[int]:
    """The per-sample axes (>= 1) of a model input that have no static size."""
    dims = vi.type.tensor_type.shape.dim
    return [i for i, d in enumerate(dims) if i > 0 and not (d.HasField("dim_value") and d.dim_value > 0)]


def apply_input_shapes(model: onnx.ModelProto, shapes: InputShapes | None, where: str = "model") -> onnx.ModelProto:
    """A copy of `model` whose named inputs have the given sizes on their dynamic axes (the batch axis keeps the
    model's own). OptionError for an unknown input, a wrong rank or a size the model fixes otherwise."""
    if not shapes:
        return model
    inputs = _graph_inputs(model)
    by_name = {vi.name: vi for vi in inputs}
    if None in shapes:
        if len(inputs) != 1:
            raise OptionError(f"{where} has {len(inputs)} inputs ({', '.join(by_name)}); name the one "
                              "--input-shape sets: --input-shape NAME=DIMS")
        shapes = {inputs[0].name if k is None else k: v for k, v in shapes.items()}
    out = onnx.ModelProto()
    out.CopyFrom(model)
    targets = {vi.name: vi for vi in out.graph.input}
    for name, dims in shapes.items():
        if name not in by_name:
            raise OptionError(f"--input-shape names {name!r}, which is not an input of {where} (inputs: "
                              f"{', '.join(by_name)})")
        vi = targets[name]
        model_dims = vi.type.tensor_type.shape.dim
        if len(model_dims) != len(dims):
            raise OptionError(f"--input-shape {name}={'x'.join(map(str, dims))}: input {name!r} has rank "
                              f"{len(model_dims)}, the shape gives {len(dims)} dims (the batch axis included)")
        for axis, (d, size) in enumerate(zip(model_dims, dims)):
            if axis == 0:
                continue    # the batch: whatever the model declares
            if d.HasField("dim_value") and d.dim_value > 0:
                if d.dim_value != size:
                    raise OptionError(f"--input-shape {name}={'x'.join(map(str, dims))}: axis {axis} of input "
                                      f"{name!r} is fixed at {d.dim_value} in the model")
                continue
            d.Clear()
            d.dim_value = size
    # value_info inferred with symbolic sizes would be merged into the new inference: drop it, it is re-inferred
    del out.graph.value_info[:]
    return out


def needs_input_shapes(model: onnx.ModelProto) -> bool:
    """Whether some model input has a dynamic per-sample axis."""
    return any(dynamic_axes(vi) for vi in _graph_inputs(model))


def shapes_from_calibration(model: onnx.ModelProto, sample_shape: tuple[int, ...]) -> InputShapes:
    """The per-sample shape of the calibration data as the size of a single input's dynamic axes (none when the
    model's input is static or the model has several inputs)."""
    from snncc.errors import DataError

    inputs = _graph_inputs(model)
    if len(inputs) != 1 or not dynamic_axes(inputs[0]):
        return {}
    rank = len(inputs[0].type.tensor_type.shape.dim)
    if len(sample_shape) + 1 != rank:
        raise DataError(f"calibration data has per-sample shape {list(sample_shape)} but the model's input "
                        f"{inputs[0].name!r} has rank {rank} (batch axis included)")
    return {inputs[0].name: (1, *sample_shape)}
