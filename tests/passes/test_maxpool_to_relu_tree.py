"""maxpool-to-relu-tree after an input that can be negative (issue 14 item 3): maxpool(x) = maxpool(x + c) - c with
c from the calibrated (or data-free) lower bound, ReLU thetas hi - lo; every coding that can carry the input
compiles, and the simulated SNN agrees with onnxruntime on the source model."""

import numpy as np
import pytest
from onnx import helper

import snncc
from snncc.backends.simulator import simulate
from snncc.errors import DataError, PassError
from snncc.frontend import onnx_to_ir, prepare
from snncc.ir import numeric, run, verify
from snncc.passes import maxpool_to_relu_tree
from snncc.passes.registry import PassContext
from tests.helpers import make_model, onnxruntime_run, rand
from tests.passes.signed_pool_models import SHAPE, gate_model, images, input_model, residual_model

CALIB = images(200, seed=1)
TEST = images(200, seed=2)


def _tree(model, calibration=CALIB):
    graph = onnx_to_ir(prepare(model))
    result = maxpool_to_relu_tree(graph, PassContext(calibration=calibration))
    verify(result.graph)
    return graph, result


@pytest.mark.parametrize("build", [residual_model, input_model, lambda: gate_model("LeakyRelu"),
                                   lambda: gate_model("HardSwish")])
def test_the_tree_equals_the_pool_in_ann_mode(build):
    graph, result = _tree(build())
    assert result.modified and not any(n.op == "max_pool" for n in result.graph.nodes)
    before, after = run(graph, CALIB)[graph.outputs[0]], run(result.graph, CALIB)[result.graph.outputs[0]]
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)


def test_the_shift_keeps_padding_from_winning():
    # every input negative: zero padding taken as a value would make the border maxima 0
    x = -images(20, seed=3) ** 2 - 0.5
    graph, result = _tree(input_model(), calibration=x)
    ops = [n.op for n in result.graph.nodes]
    assert ops.count("affine") == 2            # x + c before the taps, max - c after (a padded conv reads it)
    pooled = numeric.max_pool2d(x, (3, 3), (2, 2), (1, 1, 1, 1))
    np.testing.assert_allclose(run(result.graph, x, keep=["p"])["p"], pooled, atol=1e-6)


def test_shifts_fold_into_a_conv_producer_and_an_unpadded_conv_reader():
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("MaxPool", ["c1"], ["p"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["p", "w2", "b2"], ["y"])]
    model = make_model(nodes, SHAPE, None, {"w1": rand(3, 2, 3, 3, seed=1), "b1": rand(3, seed=2) - 1,
                                            "w2": rand(4, 3, 1, 1, seed=3), "b2": rand(4, seed=4)})
    graph, result = _tree(model)
    assert "affine" not in [n.op for n in result.graph.nodes]
    np.testing.assert_allclose(run(result.graph, TEST)["y"], onnxruntime_run(model, TEST), rtol=1e-4, atol=1e-4)


def test_the_shift_before_a_residual_sum_folds_into_its_conv_branch():
    graph, result = _tree(residual_model())
    ops = [n.op for n in result.graph.nodes]
    assert ops.count("affine") == 1       # only max - c: the padded conv reading the pool cannot take it
    shift = float(-result.graph.constants["p.c"])
    np.testing.assert_allclose(result.graph.constants[result.graph.node("b").bias],
                               graph.constants[graph.node("b").bias] + shift, rtol=1e-6)


def test_a_pool_after_a_relu_is_unchanged_and_a_graph_without_pools_is_not_modified():
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["y"], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1])]
    graph, result = _tree(make_model(nodes, SHAPE, None), calibration=None)   # no data needed: relu is >= 0
    assert "affine" not in [n.op for n in result.graph.nodes]
    plain = onnx_to_ir(prepare(make_model([helper.make_node("Relu", ["x"], ["y"])], SHAPE, None)))
    assert not maxpool_to_relu_tree(plain, PassContext()).modified


def test_a_signed_pool_without_calibration_data_says_what_is_missing():
    with pytest.raises(DataError, match="calibration data"):
        _tree(input_model(), calibration=None)


def _agreement(model, coding, checkpoint=None, **options):
    graph = snncc.compile(model, coding, calibration=CALIB, **options)
    result = simulate(graph, TEST, [checkpoint or 1])
    out, ref = result.outputs[checkpoint or 1], onnxruntime_run(model, TEST)
    return float((out.argmax(-1) == ref.argmax(-1)).mean()), graph, out


# (coding, options, T checkpoint, argmax agreement with onnxruntime at least)
CODINGS = [("rate", {"timesteps": 256}, 256, 0.95), ("bits", {"timesteps": 8}, None, 0.95),
           ("signed", {"timesteps": 64}, 64, 0.93), ("phase", {"phases": 16}, None, 0.8), ("amos", {}, None, 0.97)]


@pytest.mark.parametrize("coding,options,steps,least", CODINGS, ids=[c[0] for c in CODINGS])
@pytest.mark.parametrize("build", [residual_model, input_model], ids=["residual", "input"])
def test_every_coding_pools_a_residual_sum_and_the_input(build, coding, options, steps, least):
    agreement, _, _ = _agreement(build(), coding, steps, **options)
    assert agreement >= least


@pytest.mark.parametrize("gate,least", [("LeakyRelu", 0.95), ("HardSwish", 0.9)])
def test_amos_pools_a_signed_gate_exactly(gate, least):
    agreement, graph, out = _agreement(gate_model(gate), "amos")
    assert agreement >= least                                    # the rest is the gate circuit's fit error
    ann = run(graph, TEST, keep=["a1", "p"])
    np.testing.assert_allclose(out, run(graph, TEST)[graph.outputs[0]], atol=1e-4)   # simulation == circuit ANN
    pooled = numeric.max_pool2d(ann["a1"], (3, 3), (2, 2), (1, 1, 1, 1))
    theta = float(graph.constants["p.theta"]) if "p.theta" in graph.constants else 4.0
    np.testing.assert_allclose(ann["p"], pooled, atol=4 * theta * 2.0 ** -10)     # the K=10 ReLU grid, 4 levels


def test_a_coding_that_cannot_carry_the_gate_names_the_gate_not_the_pool():
    with pytest.raises(PassError, match="leaky_relu gate"):
        snncc.compile(gate_model("LeakyRelu"), "rate", calibration=CALIB)


def test_a_rate_compiled_signed_pool_maps_onto_cores_and_exports_to_nir():
    from snncc.backends.coremap import check_mapping, map_graph
    from snncc.backends.nir_export import to_nir

    snn = snncc.compile(residual_model(), "rate", timesteps=64, calibration=CALIB)
    assert check_mapping(snn, map_graph(snn, "generic").document) == []
    to_nir(snn)     # the shifts are affine synapses NIR can hold
