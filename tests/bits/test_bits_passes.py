"""lower-bits and shift-bias: what they change, exactness in ANN mode, negative cases and errors."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from snncc.errors import OptionError, PassError
from snncc.frontend import onnx_to_ir, prepare
from snncc.ir import run, verify
from snncc.ir.ops_bits import bits_delta
from snncc.passes import PassContext, PassManager, lower_bits, shift_bias
from tests.bits.qcfs_models import inputs, qcfs_cnn
from tests.helpers import make_model, onnxruntime_run

CANON = "match-qcfs,fold-bn,fold-affine,fold-input-norm"


def _lowered(steps: int, **model_options):
    model = qcfs_cnn((1 << steps) - 1, **model_options)
    graph = PassManager(f"{CANON},lower-bits{{timesteps={steps}}}").run(onnx_to_ir(prepare(model)), PassContext())
    return model, graph


@pytest.mark.parametrize("steps", [2, 3, 4])
def test_shift_bias_changes_only_biases_by_half_delta(steps):
    _, graph = _lowered(steps, per_channel=True)
    result = shift_bias(graph, PassContext())
    verify(result.graph)
    assert result.modified
    before, after = graph.node_map(), result.graph.node_map()
    assert list(before) == list(after)
    changed_biases = set()
    for name, node in after.items():
        old = before[name]
        if node.op == "bits_neuron":
            producer = before[node.inputs[0]]
            half = bits_delta(graph.constants[node.theta], steps) / np.float32(2)
            new_bias = result.graph.constants[after[producer.name].bias]
            old_bias = graph.constants[producer.bias]
            expected = (old_bias + np.broadcast_to(half, node.type.shape).reshape(len(old_bias), -1)[:, 0])
            np.testing.assert_array_equal(new_bias, expected.astype(np.float32))
            np.testing.assert_allclose(new_bias - old_bias, np.broadcast_to(half, node.type.shape)
                                       .reshape(len(old_bias), -1)[:, 0], rtol=1e-5)
            changed_biases.add(str(after[producer.name].bias))
        # every attribute other than biases is untouched
        for key, value in old.attributes():
            if key != "bias":
                assert getattr(node, key) == value, (name, key)
    for ref in set(graph.constants) | set(result.graph.constants):
        if ref not in changed_biases:
            np.testing.assert_array_equal(graph.constants[ref], result.graph.constants[ref])
    assert len(changed_biases) == 3
    assert result.graph.meta["bias_shift"]


@pytest.mark.parametrize("steps", [2, 3, 4])
def test_lowered_and_shifted_graph_is_the_qcfs_ann(steps):
    """ANN mode of the bits graph (the exact function its SNN computes) equals the QCFS ANN with L = 2^T - 1."""
    model, graph = _lowered(steps)
    shifted = shift_bias(graph, PassContext()).graph
    x = inputs(300)
    reference = onnxruntime_run(model, x)
    np.testing.assert_allclose(run(shifted, x)[shifted.outputs[0]], reference, atol=2e-5)
    # without the shift the neuron floors instead of rounding: not the ANN
    assert np.abs(run(graph, x)[graph.outputs[0]] - reference).max() > 0.05


def test_shift_bias_runs_once_and_needs_bits_populations():
    _, graph = _lowered(2)
    once = shift_bias(graph, PassContext()).graph
    twice = shift_bias(once, PassContext())
    assert not twice.modified and twice.graph is once
    canon = PassManager(CANON).run(onnx_to_ir(prepare(qcfs_cnn(3))), PassContext())
    assert not shift_bias(canon, PassContext()).modified


def test_shift_goes_into_an_affine_when_the_producer_is_shared():
    """A population fed by an Add (residual) gets an explicit affine{shift=Delta/2}; one fed by a bias-free
    Gemm gets a new bias."""
    init = {"w": np.eye(4, dtype=np.float32) * 0.9, "w2": np.eye(4, dtype=np.float32) * 1.1,
            "z": np.array(0.0, np.float32), "c": np.array(2.0, np.float32)}
    nodes = [helper.make_node("Gemm", ["x", "w"], ["h"], name="fc", transB=1),
             helper.make_node("Clip", ["h", "z", "c"], ["r"], name="act1"),
             helper.make_node("Gemm", ["r", "w2"], ["h2"], name="fc2", transB=1),
             helper.make_node("Add", ["h2", "r"], ["s"], name="skip"),
             helper.make_node("Clip", ["s", "z", "c"], ["y"], name="act2")]
    model = make_model(nodes, [4], [4], init)
    graph = PassManager("match-qcfs{clip=true},lower-bits{timesteps=3}").run(onnx_to_ir(prepare(model)),
                                                                            PassContext())
    result = shift_bias(graph, PassContext()).graph
    delta = 2.0 / 7
    assert result.node("fc").bias is not None
    np.testing.assert_allclose(result.constants[result.node("fc").bias], delta / 2, rtol=1e-6)
    shifted = result.node("act2").inputs[0]
    assert result.node(shifted).op == "affine"
    np.testing.assert_allclose(result.constants[result.node(shifted).shift], delta / 2, rtol=1e-6)
    x = np.random.default_rng(0).uniform(-1, 3, (400, 4)).astype(np.float32)
    level = lambda v: np.clip(np.floor(v / delta + 0.5), 0, 7) * delta  # noqa: E731
    expected = level(level(x * 0.9) * 1.1 + level(x * 0.9))
    np.testing.assert_allclose(run(result, x)["act2"], expected, atol=1e-5)


def test_lower_bits_negative_case_and_errors():
    canon = PassManager(CANON).run(onnx_to_ir(prepare(qcfs_cnn(3))), PassContext())
    lowered = lower_bits(canon, PassContext(), timesteps=2)
    assert lowered.modified and lowered.graph.meta["schedule"] == "windowed"
    again = lower_bits(lowered.graph, PassContext(), timesteps=2)
    assert not again.modified
    with pytest.raises(OptionError, match="timesteps"):
        lower_bits(canon, PassContext(), timesteps=0)
    with pytest.raises(OptionError, match="between 1 and 24"):
        lower_bits(canon, PassContext(), timesteps=40)
    relu_model = make_model([helper.make_node("Gemm", ["x", "w"], ["h"], name="fc", transB=1),
                             helper.make_node("Relu", ["h"], ["y"], name="relu")], [4], [4],
                            {"w": np.eye(4, dtype=np.float32)})
    with pytest.raises(PassError, match="relu has no threshold yet; run balance-thresholds"):
        PassManager("lower-bits{timesteps=2}").run(onnx_to_ir(prepare(relu_model)), PassContext())
    sig_model = make_model([helper.make_node("Gemm", ["x", "w"], ["h"], name="fc", transB=1),
                            helper.make_node("Sigmoid", ["h"], ["s"], name="sig"),
                            helper.make_node("MatMul", ["s", "w"], ["y"], name="out")], [4], [4],
                           {"w": np.eye(4, dtype=np.float32)})
    with pytest.raises(PassError, match="node %sig.*--coding amos"):
        PassManager("lower-bits{timesteps=2}").run(onnx_to_ir(prepare(sig_model)), PassContext())


def test_lower_bits_logs_a_level_mismatch():
    canon = PassManager(CANON).run(onnx_to_ir(prepare(qcfs_cnn(2))), PassContext())
    ctx = PassContext()
    lower_bits(canon, ctx, timesteps=3)
    assert any("trained with L=2" in line and "L=7" in line for line in ctx.log)
