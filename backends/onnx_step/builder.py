"""A small ONNX graph builder: named values, float32 initializers and unique names, in insertion order."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class GraphBuilder:
    """Collects nodes, initializers, inputs and outputs of one ONNX graph. Value names are made unique by a
    numeric suffix, so the lowering can name values after the snncc nodes they come from."""

    def __init__(self):
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._used: set[str] = set()
        self._const_cache: dict[tuple, str] = {}

    def fresh(self, base: str) -> str:
        """A value name not used yet: `base`, else `base_1`, `base_2`, ..."""
        name, i = base, 0
        while name in self._used:
            i += 1
            name = f"{base}_{i}"
        self._used.add(name)
        return name

    def const(self, array, base: str = "c", dtype=np.float32) -> str:
        """An initializer holding `array` (deduplicated by dtype, shape and bytes)."""
        value = np.ascontiguousarray(np.asarray(array, dtype=dtype))
        key = (value.dtype.str, value.shape, value.tobytes())
        if key not in self._const_cache:
            name = self.fresh(base)
            self.initializers.append(numpy_helper.from_array(value, name=name))
            self._const_cache[key] = name
        return self._const_cache[key]

    def op(self, op_type: str, inputs: list[str], base: str, **attrs) -> str:
        """Append one node with a single output named after `base`; returns the output's name."""
        out = self.fresh(base)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def add_input(self, name: str, shape: tuple[int, ...], elem=TensorProto.FLOAT) -> str:
        """A graph input of per-sample `shape` with a dynamic batch axis."""
        self._used.add(name)
        self.inputs.append(helper.make_tensor_value_info(name, elem, ["batch", *shape]))
        return name

    def add_output(self, value: str, name: str, shape: tuple[int, ...], elem=TensorProto.FLOAT) -> str:
        """Expose `value` as graph output `name` (through an Identity, so outputs never alias inputs or each
        other)."""
        self._used.add(name)
        self.nodes.append(helper.make_node("Identity", [value], [name], name=name))
        self.outputs.append(helper.make_tensor_value_info(name, elem, ["batch", *shape]))
        return name

    def model(self, graph_name: str, doc: str = "") -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, graph_name, self.inputs, self.outputs, initializer=self.initializers,
                                  doc_string=doc)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="snncc")
        model.ir_version = 8
        return model
