"""Test helpers: tiny ONNX models built with onnx.helper, and onnxruntime as the reference."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def make_model(nodes, input_shape, output_shape, initializers=None, *, opset: int = OPSET,
               input_name: str = "x", output_name: str = "y") -> onnx.ModelProto:
    """A single-input single-output float model with a dynamic batch axis."""
    inp = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", *input_shape])
    if output_shape is None:
        output_shape = _inferred_output_shape(nodes, inp, initializers, opset, output_name)
    out = helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", *output_shape])
    inits = [numpy_helper.from_array(np.asarray(v, dtype=np.float32 if np.asarray(v).dtype.kind == "f" else None),
                                     name=k) for k, v in (initializers or {}).items()]
    graph = helper.make_graph(nodes, "test", [inp], [out], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _inferred_output_shape(nodes, inp, initializers, opset, output_name):
    inits = [numpy_helper.from_array(np.asarray(v), name=k) for k, v in (initializers or {}).items()]
    probe = helper.make_graph(nodes, "probe", [inp], [helper.make_empty_tensor_value_info(output_name)],
                              initializer=inits)
    model = onnx.shape_inference.infer_shapes(helper.make_model(probe, opset_imports=[helper.make_opsetid("", opset)]))
    for vi in list(model.graph.value_info) + list(model.graph.output):
        if vi.name == output_name and vi.type.tensor_type.HasField("shape"):
            return [d.dim_value for d in vi.type.tensor_type.shape.dim][1:]
    raise ValueError("cannot infer the test model's output shape")


def onnxruntime_run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def rand(*shape, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)
