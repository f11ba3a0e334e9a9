"""ONNX model -> IR graph."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from snncc.errors import UnsupportedModelError
from snncc.frontend.constant_folding import NEVER_FOLD
from snncc.frontend.context import ConversionContext
from snncc.frontend.converters import CONVERTERS
from snncc.frontend.tail import convert_tail_node, describe, output_tail, sigmoid_outputs
from snncc.frontend.unsupported_ops import reason
from snncc.ir import Graph, Input, TensorType, VerifyError, verify
from snncc.limits import check_bytes

# ONNX element types accepted for the model input (everything is computed in float32).
_FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16}


def constant_nodes(model: onnx.ModelProto) -> set[int]:
    """Indices of nodes computable at compile time: all inputs constant, or a Shape (the per-sample dims are static;
    the batch dim becomes the marker -1, which is what a following Reshape needs)."""
    known = {i.name for i in model.graph.initializer}
    found = set()
    for index, node in enumerate(model.graph.node):
        inputs = [i for i in node.input if i]
        if node.op_type == "Constant" or node.op_type == "Shape" or (inputs and all(i in known for i in inputs)):
            found.add(index)
            known.update(node.output)
    return found


def _fold(ctx: ConversionContext, node: onnx.NodeProto) -> None:
    if node.op_type == "Shape":
        src = node.input[0]
        if ctx.is_const(src):
            shape = np.array(ctx.const(src).shape, np.int64)
        else:
            shape = np.array([-1, *ctx.type_of(ctx.value(src, node)).shape], np.int64)
        a = {attr.name: attr.i for attr in node.attribute}
        ctx.const_values[node.output[0]] = shape[a.get("start", 0):a.get("end", len(shape)) or None]
        return
    if node.op_type == "Constant":
        CONVERTERS["Constant"](ctx, node)
        return
    if node.op_type in NEVER_FOLD:
        raise UnsupportedModelError(f"node {node.name!r} ({node.op_type}): control flow is not supported, not even "
                                    "on constants (a constant trip count can run for ever); export the model with "
                                    "the loop unrolled or removed")
    from onnx.reference import ReferenceEvaluator

    probe = onnx.helper.make_graph(
        [node], "fold", [], [onnx.helper.make_empty_tensor_value_info(o) for o in node.output if o],
        initializer=[numpy_helper.from_array(np.asarray(ctx.const(i)), name=i) for i in node.input if i])
    model = onnx.helper.make_model(probe, opset_imports=ctx.model.opset_import)
    try:
        results = ReferenceEvaluator(model).run(None, {})
    except Exception as exc:  # noqa: BLE001
        raise UnsupportedModelError(f"node {node.name!r} ({node.op_type}): cannot fold its constant inputs "
                                    f"({exc})") from None
    for name, value in zip([o for o in node.output if o], results):
        value = np.asarray(value)
        check_bytes(value.nbytes, f"node {node.name!r} ({node.op_type}): its folded constant {name!r}")
        ctx.const_values[name] = value



def live_nodes(model: onnx.ModelProto) -> set[int]:
    """Indices of the nodes the graph outputs depend on: only those are folded (an unused constant node might be
    arbitrarily expensive to evaluate)."""
    producer = {out: i for i, node in enumerate(model.graph.node) for out in node.output if out}
    live: set[int] = set()
    stack = [o.name for o in model.graph.output]
    while stack:
        i = producer.get(stack.pop())
        if i is None or i in live:
            continue
        live.add(i)
        stack.extend(model.graph.node[i].input)
    return live


def unsupported_nodes(model: onnx.ModelProto) -> list[str]:
    """One line per node whose op has no converter (and is not computable at compile time): name, op, opset."""
    opsets = {i.domain or "ai.onnx": i.version for i in model.opset_import}
    foldable = constant_nodes(model) | output_tail(model)
    lines = []
    for index, node in enumerate(model.graph.node):
        domain = node.domain or "ai.onnx"
        if index in foldable and domain == "ai.onnx":
            continue
        if domain != "ai.onnx" or node.op_type not in CONVERTERS:
            known = reason(model, node)
            lines.append(f"  node {node.name!r}: op {domain}::{node.op_type} (opset {opsets.get(domain, '?')})"
                         + (f": {known.why}; {known.fix}" if known else ""))
    return lines


def integer_input_reason(vi: onnx.ValueInfoProto) -> str | None:
    """Why an integer model input cannot be fed to a spiking network (None for any other input)."""
    kind = onnx.TensorProto.DataType.Name(vi.type.tensor_type.elem_type)
    if not kind.startswith(("INT", "UINT")):
        return None
    what = ("a scalar integer setting (a mode, a sample rate) that the graph branches or computes on"
            if len(vi.type.tensor_type.shape.dim) == 0 else
            "integer ids (bytes, tokens, classes) that the model looks up or one-hot encodes")
    return (f"element type {kind}: {what}, while a spiking network's input is a float tensor (pixels, features) "
            "driven into its first layer as a current")


def _input_type(vi: onnx.ValueInfoProto) -> TensorType:
    t = vi.type.tensor_type
    if t.elem_type not in _FLOAT_TYPES:
        if why := integer_input_reason(vi):
            raise UnsupportedModelError(f"input {vi.name!r} has {why}; no coding can take it, a model with a float "
                                        "input can")
        raise UnsupportedModelError(f"input {vi.name!r} has element type "
                                    f"{onnx.TensorProto.DataType.Name(t.elem_type)}; a float tensor is expected")
    dims = list(t.shape.dim)
    if not dims:
        raise UnsupportedModelError(f"input {vi.name!r} needs a batch axis and a static shape")
    shape = []
    for i, d in enumerate(dims[1:], start=1):
        if not d.HasField("dim_value") or d.dim_value <= 0:
            # an unnamed axis (-1 or ?, as Paddle exports write) gets a placeholder the user replaces, not a "?"
            # the batch axis is 1 unless the model fixes it (a recurrent state is (layers, batch, hidden))
            example = "x".join(str(e.dim_value) if e.HasField("dim_value") and e.dim_value > 0
                               else "1" if j == 0
                               else (e.dim_param if e.dim_param and e.dim_param != "?" else f"D{j}")
                               for j, e in enumerate(dims))
            raise UnsupportedModelError(
                f"input {vi.name!r}: axis {i} is dynamic ({d.dim_param or '?'}) and its size is unknown; give it "
                f"with --input-shape {vi.name}={example} (numbers for every axis; API: input_shapes="
                f"{{{vi.name!r}: (...)}}), or pass calibration data (--calib), whose per-sample shape is used")
        shape.append(int(d.dim_value))
    return TensorType(tuple(shape))


def _drop_dead_nodes(nodes, outputs):
    live = set(outputs)
    kept = []
    for node in reversed(nodes):
        if node.name in live or node.op == "input":
            kept.append(node)
            live.update(node.inputs)
    return list(reversed(kept))


def onnx_to_ir(model: onnx.ModelProto) -> Graph:
    """Convert a checked, shape-inferred ONNX model; UnsupportedModelError lists every node it cannot convert."""
    init_names = {i.name for i in model.graph.initializer}
    for vi in model.graph.input:     # an integer input is the root cause: the ops after it decode ids
        if vi.name not in init_names and integer_input_reason(vi):
            _input_type(vi)
    missing = unsupported_nodes(model)
    if missing:
        raise UnsupportedModelError(
            f"{len(missing)} node(s) use ops snncc does not support:\n" + "\n".join(missing) +
            "\nReplace them in the model (see README: Supported ONNX ops) or register a converter with "
            "snncc.frontend.converter(op_type).")
    ctx = ConversionContext(model)
    init_names = {i.name for i in model.graph.initializer}
    for vi in model.graph.input:
        if vi.name in init_names:
            continue
        name = ctx.names.fresh(vi.name)
        t = _input_type(vi)
        ctx.nodes.append(Input(name=name, type=t))
        ctx.types[name] = t
        ctx.values[vi.name] = name
    if not ctx.nodes:
        raise UnsupportedModelError("the model has no input")
    foldable = constant_nodes(model)
    tail = output_tail(model)
    live = live_nodes(model)
    dropped = []
    for index, node in enumerate(model.graph.node):
        try:
            if index in foldable:
                if index in live:
                    _fold(ctx, node)
            elif index in tail:
                if convert_tail_node(ctx, node):
                    dropped.append(describe(node))
            else:
                CONVERTERS[node.op_type](ctx, node)
        except (KeyError, IndexError, ValueError, TypeError, AttributeError, ArithmeticError) as exc:
            # a converter met a malformed node the checker let through: name it instead of crashing
            raise UnsupportedModelError(
                f"node {node.name!r} ({node.op_type}) cannot be converted ({type(exc).__name__}: {exc}); the model "
                "may be malformed. If onnxruntime runs it, please report this") from None
    outputs = []
    for out in model.graph.output:
        if out.name not in ctx.values:
            raise UnsupportedModelError(f"output {out.name!r} is a constant or is not computed from the input")
        outputs.append(ctx.values[out.name])
    nodes = _drop_dead_nodes(ctx.nodes, outputs)
    for array in ctx.constants.values():
        # the conversion owns these (decoded from the model's bytes): the graph keeps them read-only instead of
        # copying them (a VGG's 140M weights)
        if array.flags.owndata and array.flags.c_contiguous:
            array.flags.writeable = False
    try:
        # the header says which output normalisers were dropped (argmax unchanged), and which outputs get their
        # Sigmoid back at readout (snncc.readout)
        meta = {"dropped_tail": ", ".join(dropped)} if dropped else {}
        if sigmoids := sigmoid_outputs(model):
            meta["sigmoid_outputs"] = ",".join(map(str, sigmoids))
        graph = Graph.build(nodes, outputs, ctx.constants, meta)
        verify(graph)
    except (VerifyError, ValueError) as exc:
        raise UnsupportedModelError(f"conversion produced an invalid graph: {exc}") from None
    return graph
