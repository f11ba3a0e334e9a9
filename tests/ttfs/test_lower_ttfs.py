"""lower-ttfs as a pass: golden-free numeric check against the reference interpreter before and after (within
Delta / 2 per neuron, so within a bound at the output), QCFS nodes get K = L, a graph without ReLU populations is
returned unmodified, and a gate it cannot express is a RewriteError naming the node."""

from __future__ import annotations

import numpy as np
import pytest

from snncc.frontend import onnx_to_ir, prepare
from snncc.ir import run, verify
from snncc.passes import PassContext, PassManager, lower_ttfs
from snncc.passes.manager import RewriteError
from tests.ttfs.ttfs_models import GRID, dense_clip, integer_input

BALANCED = "match-qcfs,fold-bn,fold-affine,fold-input-norm,calibrate,balance-thresholds"


def _balanced(model):
    return PassManager(BALANCED).run(onnx_to_ir(prepare(model)), PassContext())


def test_interpreter_before_and_after_agree_within_half_a_step():
    graph = _balanced(dense_clip(seed=1))
    x = integer_input(64, (12,), seed=1) + np.random.default_rng(1).uniform(0, 0.5, (64, 12)).astype(np.float32)
    steps = 4 * GRID
    result = lower_ttfs(graph, PassContext(), steps=steps)
    assert result.modified and verify(result.graph) is None
    before = run(graph, x, keep=["clip1"])
    after = run(result.graph, x, keep=["clip1"])
    assert result.graph.node("clip1").op == "ttfs_neuron"
    delta = GRID / steps
    np.testing.assert_array_less(np.abs(after["clip1"] - before["clip1"]), delta / 2 + 1e-5)
    weight = result.graph.constants[result.graph.node("fc2").weight]
    bound = np.abs(weight).sum(axis=1) * delta / 2 + 1e-3
    assert np.all(np.abs(after["fc2"] - before["fc2"]) < bound)


def test_a_graph_without_relu_populations_is_not_modified():
    graph = _balanced(dense_clip())
    keep = {"fc1"} | {n.name for n in graph.nodes if n.op == "input"}
    linear = graph.with_(nodes=[n for n in graph.nodes if n.name in keep], outputs=["fc1"])
    result = lower_ttfs(linear, PassContext())
    assert result.modified is False and result.graph is linear


def test_bad_steps_and_unlowered_relu_are_clear_errors():
    graph = onnx_to_ir(prepare(dense_clip()))
    with pytest.raises(RewriteError, match="no threshold yet"):
        lower_ttfs(graph, PassContext())
    from snncc.errors import OptionError

    with pytest.raises(OptionError, match="-K"):
        lower_ttfs(graph, PassContext(), steps=0)
