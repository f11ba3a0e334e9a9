"""Calibration keeps activation rows (for percentile thresholds) only for ReLU outputs: the other gates' rows were
never read, and on a detector with 94 HardSwish layers they held 3 GB."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from snncc.frontend import onnx_to_ir
from snncc.frontend.load import prepare
from snncc.passes.calibrate import collect_stats
from tests.helpers import make_model


def test_only_relu_outputs_keep_rows():
    nodes = [helper.make_node("Sigmoid", ["x"], ["s"], name="sig"), helper.make_node("Relu", ["s"], ["y"],
                                                                                     name="relu")]
    graph = onnx_to_ir(prepare(make_model(nodes, [8], [8]), "m"))
    stats = collect_stats(graph, np.random.default_rng(0).normal(size=(32, 8)).astype(np.float32))
    names = {graph.node(n).op: n for n in stats}
    relu, sigmoid = stats[names["relu"]], stats[names["sigmoid"]]
    assert relu.samples.shape == (32, 8) and relu.layer_stat("percentile", 99.0) > 0
    assert sigmoid.samples.size == 0 and 0.5 < sigmoid.max < 1 and sigmoid.input_std > 0
    with pytest.raises(ValueError, match="only ReLU outputs are sampled"):
        sigmoid.layer_stat("percentile", 99.0)
    assert sigmoid.layer_stat("max", 99.0) == sigmoid.max
