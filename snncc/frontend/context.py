"""State shared by the op converters while an ONNX graph becomes an IR graph."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from snncc.errors import UnsupportedModelError
from snncc.ir import ConstRef, Node, TensorType
from snncc.ir.names import NameTable


class ConversionContext:
    """Maps ONNX value names to IR values or constants and collects the IR nodes and constants."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.opset = next((i.version for i in model.opset_import if i.domain in ("", "ai.onnx")), 0)
        self.nodes: list[Node] = []
        self.constants: dict[str, np.ndarray] = {}
        self.names = NameTable()
        self.values: dict[str, str] = {}            # onnx value -> IR value name
        self.const_values: dict[str, np.ndarray] = {}  # onnx value -> constant array
        self.types: dict[str, TensorType] = {}      # IR value -> type
        self.producers: dict[str, onnx.NodeProto] = {}
        # IR value made by an explicit zero Pad of an image -> (unpadded value, pads): a Conv reading it pads itself
        self.zero_padded: dict[str, tuple[str, tuple[int, int, int, int]]] = {}
        # onnx value of a dropped output normaliser (tail.py) -> the axis (batch included) it normalised
        self.normalised_axis: dict[str, int] = {}
        # first output of each node in a tail ending in a dropped Sigmoid (tail.py; found on first use)
        self.sigmoid_tail_nodes: set[str] | None = None
        for init in model.graph.initializer:
            # read-only: a weight the converters pass on unchanged is the graph's constant as is (Graph.build copies
            # writeable arrays), one array per weight rather than two
            array = numpy_helper.to_array(init)
            array.flags.writeable = False
            self.const_values[init.name] = array
        for node in model.graph.node:
            for out in node.output:
                self.producers[out] = node

    # -- reading inputs -------------------------------------------------------------------------------------
    def is_const(self, onnx_name: str) -> bool:
        return onnx_name in self.const_values

    def const(self, onnx_name: str) -> np.ndarray:
        return self.const_values[onnx_name]

    def value(self, onnx_name: str, node: onnx.NodeProto) -> str:
        """The IR value for a dynamic ONNX input; a constant where a tensor is expected is unsupported."""
        if onnx_name in self.values:
            return self.values[onnx_name]
        if onnx_name in self.const_values:
            raise UnsupportedModelError(
                f"node {node.name!r} ({node.op_type}): input {onnx_name!r} is a constant where snncc expects a "
                "tensor computed from the model input")
        raise UnsupportedModelError(f"node {node.name!r} ({node.op_type}): input {onnx_name!r} is not computed")

    def type_of(self, ir_value: str) -> TensorType:
        return self.types[ir_value]

    # -- writing outputs ------------------------------------------------------------------------------------
    def add_const(self, base: str, array: np.ndarray, dtype=np.float32) -> ConstRef:
        name = self.names.fresh(base)
        self.constants[name] = np.asarray(array, dtype=dtype)
        return ConstRef(name)

    def node_name(self, onnx_node: onnx.NodeProto) -> str:
        """A fresh IR name for the node: its ONNX name (`/fc1/Gemm` -> `fc1.Gemm`), else its output's name."""
        wanted = onnx_node.name or onnx_node.output[0]
        if wanted.endswith("_output_0"):
            wanted = wanted[: -len("_output_0")]
        return self.names.fresh(wanted)

    def emit(self, cls: type[Node], onnx_node: onnx.NodeProto, inputs: list[str], name: str | None = None,
             output: int = 0, **attrs: Any) -> str:
        """Create an IR node (type inferred), bind it to the ONNX node's output number `output`, return its name.
        `name` is one reserved earlier with `node_name` (converters that also create constants do that)."""
        out = onnx_node.output[output]
        name = name if name is not None else self.node_name(onnx_node)
        in_types = [self.types[i] for i in inputs]
        probe = cls(name=name, inputs=tuple(inputs), type=TensorType(()), **attrs)
        try:
            t = probe.infer_type(in_types, self.constants)
        except (ValueError, KeyError, IndexError) as exc:
            raise UnsupportedModelError(f"node {onnx_node.name!r} ({onnx_node.op_type}): {exc}") from None
        node = probe.replace(type=t)
        self.nodes.append(node)
        self.types[name] = t
        self.values[out] = name
        return name

    def alias(self, onnx_name: str, ir_value: str) -> None:
        self.values[onnx_name] = ir_value

    def per_sample_const(self, array: np.ndarray, full_rank: int) -> np.ndarray:
        """A constant broadcast against a batched tensor of rank `full_rank`, as a per-sample broadcastable array
        (drops a leading batch axis of size 1)."""
        a = np.asarray(array, dtype=np.float32)
        if a.ndim == full_rank:
            if a.shape[0] != 1:
                raise ValueError(f"constant of shape {list(a.shape)} varies along the batch axis")
            a = a.reshape(a.shape[1:])
        return a
