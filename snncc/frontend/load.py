"""Safe ONNX loading: size caps before anything is allocated, external data confined to the model's folder (also
through symlinks), the checker, opset normalisation, constant folding of shape computations, shape inference, and
checks that every weight is finite and every tensor non-empty.

Nothing in a model file is ever executed: ONNX is plain data (protobuf), and external data is read as raw bytes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import external_data_helper, helper, numpy_helper

from snncc.errors import ModelLoadError, UnsupportedModelError
from snncc.frontend.constant_folding import fold_constants
from snncc.limits import WORKING_BATCH, check_bytes, element_count, read_capped

MIN_OPSET = 13
# Inputs that may legitimately hold +-inf: the bounds of Clip (an absent bound is +-inf), and the identity element
# of Max (-inf) and Min (+inf), which jax2tf writes into every softmax as max(-inf, max(x)).
_INF_ALLOWED = {("Clip", 1), ("Clip", 2)}
_INF_IDENTITY = {"Max": -np.inf, "Min": np.inf}
# Ops whose constant inputs are weights, which must not be empty (other ops take empty shape-like vectors).
_WEIGHT_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization", "Add", "Sub", "Mul", "Div", "PRelu"}


def _all_tensors(model: onnx.ModelProto):
    """Every TensorProto in the model: initializers, sparse initializers (values and indices), tensor and sparse
    tensor attributes, in the main graph, every subgraph and every function. (onnx's own walker skips sparse
    tensors, whose external data onnxruntime would then open relative to the current directory.)"""
    def sparse(s: onnx.SparseTensorProto):
        yield s.values
        yield s.indices

    def nodes(node_list):
        for node in node_list:
            for a in node.attribute:
                if a.HasField("t"):
                    yield a.t
                yield from a.tensors
                if a.HasField("sparse_tensor"):
                    yield from sparse(a.sparse_tensor)
                for s in a.sparse_tensors:
                    yield from sparse(s)
                if a.HasField("g"):
                    yield from graph(a.g)
                for g in a.graphs:
                    yield from graph(g)

    def graph(g: onnx.GraphProto):
        yield from g.initializer
        for s in g.sparse_initializer:
            yield from sparse(s)
        yield from nodes(g.node)

    yield from graph(model.graph)
    for function in model.functions:
        yield from nodes(function.node)


def _itemsize(tensor: onnx.TensorProto, where: str) -> int:
    if tensor.data_type == onnx.TensorProto.STRING:
        raise UnsupportedModelError(f"{where} holds strings; snncc only reads numeric tensors")
    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize
    except Exception:  # noqa: BLE001 - onnx raises KeyError/ValueError/TypeError for unknown codes
        raise ModelLoadError(f"{where} has an unknown element type {tensor.data_type}") from None


def _check_declared_tensor_sizes(model: onnx.ModelProto, path: Path) -> None:
    """Refuse before allocating: negative dims, and initializers whose declared size exceeds the memory cap."""
    total = 0
    for tensor in _all_tensors(model):
        where = f"{path}: tensor {tensor.name!r}"
        if any(d < 0 for d in tensor.dims):
            raise ModelLoadError(f"{where} has a negative dimension {list(tensor.dims)}")
        nbytes = element_count(tensor.dims) * _itemsize(tensor, where)
        check_bytes(nbytes, f"{where} (declared shape {list(tensor.dims)})")
        total += nbytes
    check_bytes(total, f"{path}: the model's weights")


def _read_external_data(model: onnx.ModelProto, path: Path) -> None:
    """Read every external tensor's bytes into the model, refusing paths that leave the model's folder (absolute,
    `..`, or a symlink whose target lies outside), non-regular files and byte ranges outside the file."""
    folder = path.parent
    root = folder.resolve()
    for tensor in _all_tensors(model):
        if not external_data_helper.uses_external_data(tensor):
            continue
        info = {e.key: e.value for e in tensor.external_data}
        location = info.get("location", "")
        where = f"{path}: tensor {tensor.name!r}: external data"
        if not location:
            raise ModelLoadError(f"{where} has no location")
        if "\x00" in location:
            raise ModelLoadError(f"{where} path {location!r} contains a NUL byte")
        if os.path.isabs(location) or location.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", location):
            raise ModelLoadError(f"{where} path {location!r} is absolute; only files inside the model's folder "
                                 "are read. Save the data next to the model and use a relative location")
        target = (root / location).resolve()   # follows symlinks: a link pointing outside is caught below
        if target != root and root not in target.parents:
            raise ModelLoadError(f"{where} path {location!r} leads outside the model's folder ({root}); refusing "
                                 "to read it (a '..' component or a symlink). Keep external data inside the folder")
        if not target.exists():
            raise ModelLoadError(f"{where} file {location!r} does not exist (next to {path.name})")
        if not target.is_file():
            raise ModelLoadError(f"{where} file {location!r} is not a regular file")
        try:
            offset = int(info.get("offset", "0") or 0)
            length = int(info["length"]) if info.get("length") else None
        except ValueError:
            raise ModelLoadError(f"{where} has a non-integer offset or length ({info})") from None
        expected = element_count(tensor.dims) * _itemsize(tensor, where)
        size = target.stat().st_size
        if length is None:
            length = size - offset
        if offset < 0 or length < 0 or offset + length > size:
            raise ModelLoadError(f"{where} asks for bytes {offset}..{offset + length} of {location!r}, which has "
                                 f"{size} bytes (truncated file?)")
        if length != expected:
            raise ModelLoadError(f"{where} holds {length} bytes but the tensor's shape {list(tensor.dims)} needs "
                                 f"{expected}")
        check_bytes(length, where)
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(target, flags)
            with os.fdopen(fd, "rb") as f:
                f.seek(offset)
                data = f.read(length)
        except OSError as exc:
            raise ModelLoadError(f"{where} cannot be read: {exc.strerror or exc}") from None
        if len(data) != length:
            raise ModelLoadError(f"{where}: {location!r} ended early (truncated file?)")
        tensor.raw_data = data
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT


def load_onnx(path: str | os.PathLike, input_shapes: dict | None = None) -> onnx.ModelProto:
    """Read, check and normalise an ONNX model; ModelLoadError (or UnsupportedModelError, ResourceLimitError) with
    the reason on any problem. `input_shapes` sizes dynamic input axes ({name: (N, C, H, W)}, see input_shape.py)."""
    path = Path(path)
    return prepare(read_model(path), str(path), input_shapes=input_shapes)


def read_model(path: Path) -> onnx.ModelProto:
    """The model file parsed, with its external data read (confined to its folder) into the model: size-capped,
    not yet checked or normalised."""
    data = read_capped(path, "reading the model file", ModelLoadError)
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError, TypeError) as exc:
        raise ModelLoadError(f"{path}: not an ONNX model, or a truncated one ({type(exc).__name__}: {exc}); "
                             "check that the file is a complete .onnx export") from None
    if model.ir_version <= 0 or (not model.graph.node and not model.graph.input):
        raise ModelLoadError(f"{path}: not an ONNX model (no IR version or an empty graph)")
    _check_declared_tensor_sizes(model, path)
    _read_external_data(model, path)
    return model


def _default_opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    return 0


def _producers_and_consumers(model: onnx.ModelProto) -> tuple[dict[str, onnx.NodeProto], dict[str, list]]:
    producers, consumers = {}, {}
    for node in model.graph.node:
        for out in node.output:
            producers[out] = node
        for i, inp in enumerate(node.input):
            consumers.setdefault(inp, []).append((node, i))
    return producers, consumers


def _describe(name: str, producers, consumers) -> str:
    if name in producers:
        node = producers[name]
        return f"{name!r} (output of node {node.name!r}, {node.op_type})"
    users = consumers.get(name, [])
    if users:
        return f"{name!r} (read by node {users[0][0].name!r}, {users[0][0].op_type})"
    return repr(name)


def check_value_shapes(model: onnx.ModelProto, where: str = "model", working_batch: int = WORKING_BATCH) -> None:
    """Refuse zero-sized and huge declared shapes (after shape inference, before anything runs): a value of
    per-sample size S needs S x 4 bytes x `working_batch` samples while calibrating and simulating."""
    producers, consumers = _producers_and_consumers(model)
    init_names = {i.name for i in model.graph.initializer}
    graph = model.graph
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        if vi.name in init_names or not vi.type.HasField("tensor_type"):
            continue
        t = vi.type.tensor_type
        if not t.HasField("shape"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        what = _describe(vi.name, producers, consumers)
        # an activation (batch axis + features) or a model input with an empty axis; rank-1 values are shape
        # vectors, which may legitimately be empty (Resize's roi, Reshape of a scalar)
        is_input = any(vi.name == i.name for i in graph.input)
        if (len(dims) >= 2 and any(d == 0 for d in dims[1:])) or (is_input and any(d == 0 for d in dims)):
            raise UnsupportedModelError(f"{where}: tensor {what} is zero-sized (shape {dims}); snncc needs "
                                        "non-empty tensors. Re-export the model with the real sizes")
        per_sample = element_count(d for d in dims[1:] if d is not None)
        check_bytes(per_sample * 4 * working_batch,
                    f"{where}: tensor {what} of declared shape {dims} ({working_batch} samples at a time)")


def check_weights(model: onnx.ModelProto, where: str = "model") -> None:
    """Every initializer and Constant decodes, is non-empty and finite (+-inf only as a Clip bound)."""
    producers, consumers = _producers_and_consumers(model)
    tensors = [(t.name, t) for t in model.graph.initializer]
    for node in model.graph.node:
        if node.op_type == "Constant":
            tensors += [(node.output[0], a.t) for a in node.attribute if a.type == onnx.AttributeProto.TENSOR]
    for name, tensor in tensors:
        what = _describe(name, producers, consumers)
        try:
            array = numpy_helper.to_array(tensor)
        except Exception as exc:  # noqa: BLE001 - onnx raises ValueError/TypeError/KeyError on malformed data
            raise ModelLoadError(f"{where}: weight {what} is malformed ({exc}); the file is corrupted") from None
        if array.size == 0 and len(tensor.dims) > 0:
            if any(n.op_type in _WEIGHT_OPS for n, _ in consumers.get(name, [])):
                raise UnsupportedModelError(f"{where}: weight {what} is zero-sized (shape {list(array.shape)}); "
                                            "snncc needs non-empty weights")
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            nan = int(np.isnan(array).sum())
            inf = int(np.isinf(array).sum())
            allowed = nan == 0 and all((n.op_type, i) in _INF_ALLOWED
                                       or np.all(array[np.isinf(array)] == _INF_IDENTITY.get(n.op_type, np.nan))
                                       for n, i in consumers.get(name, []))
            if not allowed:
                raise UnsupportedModelError(f"{where}: weight {what} holds {nan} NaN and {inf} Inf value(s); "
                                            "fix the trained model (diverged training or a broken export)")


def prepare(model: onnx.ModelProto, where: str = "model", input_shapes: dict | None = None,
            working_batch: int = WORKING_BATCH, outputs: tuple[str, ...] = ()) -> onnx.ModelProto:
    """Input sizes (`input_shapes`) set on dynamic axes, checker, version conversion up to opset 13 when older, size
    checks, constant folding, shape inference, weight checks. `working_batch`: the samples a later run holds at
    once, for the activation-size check (1 for a reader of the graph that runs nothing, like `snncc check`).
    `outputs`: tensor names that become the graph's outputs (`--outputs`, see cut.py), the nodes after them dropped."""
    from snncc.frontend.input_shape import apply_input_shapes
    from snncc.frontend.weight_stash import WeightStash, restore_weights, stash_weights

    model = apply_input_shapes(model, input_shapes, where)
    for tensor in _all_tensors(model):
        if external_data_helper.uses_external_data(tensor):
            # only load_onnx(path) knows the folder to confine external data to
            raise ModelLoadError(f"{where}: tensor {tensor.name!r} refers to external data; pass the model's file "
                                 "path (not a loaded ModelProto) so that snncc reads it from the model's folder")
    # checked, inferred and folded without the large weights those steps never read (weight_stash.py); a model
    # the version converter must rewrite keeps them (its adapters may read any input)
    model, stash = stash_weights(model) if _default_opset(model) >= MIN_OPSET else (model, WeightStash())
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"{where}: the ONNX checker rejects this model: {str(exc).strip()}") from None
    opset = _default_opset(model)
    if opset < MIN_OPSET:
        try:
            model = onnx.version_converter.convert_version(model, MIN_OPSET)
        except Exception as exc:  # noqa: BLE001
            raise ModelLoadError(f"{where}: opset {opset} could not be converted to {MIN_OPSET} ({exc}); "
                                 f"re-export the model with opset >= {MIN_OPSET}") from None
    model = _infer_shapes(model, where)
    if outputs:
        from snncc.frontend.cut import cut_outputs

        model = cut_outputs(model, tuple(outputs), where)
    # Shapes first, then folding: the folder computes a constant before it looks at its size, so huge declared
    # outputs (ConstantOfShape, Expand, Tile of constants) are refused here before they are allocated.
    check_value_shapes(model, where, working_batch)
    _check_folded_sizes(model, where)
    if fold_constants(model):
        model = _infer_shapes(model, where)
    restore_weights(model, stash)
    check_value_shapes(model, where, working_batch)
    check_weights(model, where)
    return model


def _infer_shapes(model: onnx.ModelProto, where: str) -> onnx.ModelProto:
    # Strict type checking catches what onnxruntime would refuse later (a float64 weight in a float32 Gemm, ...);
    # with ops of other domains it stays lenient, so that conversion can list them as unsupported.
    strict = all(n.domain in ("", "ai.onnx") for n in model.graph.node)
    try:
        return onnx.shape_inference.infer_shapes(model, check_type=strict, strict_mode=strict, data_prop=True)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"{where}: ONNX shape or type inference failed: {str(exc).strip()}; the model is "
                             "inconsistent (onnxruntime would refuse it too)") from None


def run_onnxruntime(path: str | os.PathLike, x: np.ndarray, batch_size: int = 512,
                    progress: bool = False, outputs: tuple[str, ...] = ()) -> np.ndarray:
    """First output of the ONNX model at `path` on `x`, in batches (of the model's own batch size when its batch
    axis is static); ModelLoadError when onnxruntime cannot load or run it. `progress`: a bar over the batches.
    `outputs`: the tensors a compile cut the model at (`--outputs`); the first of them is returned."""
    import onnxruntime as ort

    # onnxruntime gets the bytes, external data inlined by read_model: it never opens a path named inside the file
    from snncc.frontend.convert import live_nodes

    model = read_model(Path(path))
    if outputs:     # the graph as compiled: its outputs are the cut tensors (any element type: ort infers it)
        del model.graph.output[:]
        model.graph.output.extend(onnx.ValueInfoProto(name=name) for name in outputs)
    live = live_nodes(model)   # unused nodes are not run (an unused constant Loop could run for ever)
    kept = [node for i, node in enumerate(model.graph.node) if i in live]
    del model.graph.node[:]
    model.graph.node.extend(kept)
    _drop_unused_initializers(model.graph)
    payload = model.SerializeToString()
    try:
        session = ort.InferenceSession(payload, providers=["CPUExecutionProvider"])
        info = session.get_inputs()[0]
        static = info.shape[0] if info.shape and isinstance(info.shape[0], int) and info.shape[0] > 0 else None
        step = static or batch_size
        # feed the model's own input type (fp16 and fp64 models are accepted); results come back as float32
        dtype = _ORT_INPUT_TYPES.get(info.type, np.float32)
        outputs = []
        from tqdm import tqdm

        for start in tqdm(range(0, len(x), step), desc="ANN (onnxruntime)", unit="batch", disable=not progress,
                          leave=False):
            chunk = x[start:start + step].astype(dtype, copy=False)
            if static and len(chunk) < static:   # pad the last batch of a static-batch model, then trim
                pad = np.zeros((static - len(chunk), *chunk.shape[1:]), chunk.dtype)
                outputs.append(session.run(None, {info.name: np.concatenate([chunk, pad])})[0][:len(chunk)])
            else:
                outputs.append(session.run(None, {info.name: chunk})[0])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types (Fail, InvalidGraph, ...)
        if isinstance(exc, (KeyboardInterrupt, MemoryError)):
            raise
        raise ModelLoadError(f"{path}: onnxruntime cannot run this model: {str(exc).strip()}") from None
    return np.concatenate(outputs).astype(np.float32, copy=False)


def _names_read(nodes) -> set[str]:
    """Every value name the nodes read, subgraphs (which may read outer names) included."""
    names = set()
    for node in nodes:
        names.update(node.input)
        for attr in node.attribute:
            for g in [attr.g] if attr.HasField("g") else list(attr.graphs):
                names |= _names_read(g.node)
    return names


def _drop_unused_initializers(graph: onnx.GraphProto) -> None:
    """onnxruntime warns once per unused initializer, one line each: 200,000 of them took minutes."""
    # an initializer that is also a graph input stays: without it the input would have to be fed
    used = _names_read(graph.node) | {v.name for v in (*graph.output, *graph.input)}
    if all(t.name in used for t in graph.initializer):
        return
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


_ORT_INPUT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


def _check_folded_sizes(model: onnx.ModelProto, where: str) -> None:
    """Constant subgraphs are evaluated whole (batch axis included): cap every inferred value's full size."""
    producers, consumers = _producers_and_consumers(model)
    for vi in model.graph.value_info:
        t = vi.type.tensor_type
        if not vi.type.HasField("tensor_type") or not t.HasField("shape"):
            continue
        dims = [d.dim_value for d in t.shape.dim if d.HasField("dim_value")]
        check_bytes(element_count(dims) * 8, f"{where}: tensor {_describe(vi.name, producers, consumers)} of "
                                              f"declared shape {dims}")
