"""The `floor` op: the rounding step of a quantized activation as exported to ONNX (`Floor`).

It only exists between the frontend and `match-qcfs`, which folds it with its neighbours into one `qcfs` node; no
coding lowers a bare floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snncc.ir.node import Node, register_op


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class Floor(Node):
    """y = floor(x), elementwise."""

    op = "floor"

    def infer_type(self, input_types, constants):
        if len(input_types) != 1:
            raise ValueError(f"floor takes 1 input, got {len(input_types)}")
        return input_types[0]

    def evaluate(self, inputs, constants):
        return np.floor(inputs[0])
