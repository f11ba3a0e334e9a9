"""`snncc check`: per coding, works or what stops it and what would work, from the graph alone."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from onnx import helper

import snncc
from snncc.check import BLOCKED, UNCHECKED, WORKS, Blocker, check_model, register_precondition
from snncc.cli import main
from snncc.passes import PassResult, register_pass
from snncc.passes.preconditions import PRECONDITIONS
from snncc.passes.registry import PASS_REGISTRY
from snncc.pipeline import CODINGS
from tests.frontend.test_input_shape import dynamic_cnn
from tests.helpers import make_model, rand


def test_bundled_relu_model_works_in_every_coding():
    start = time.perf_counter()
    report = check_model("models/digits_cnn.onnx")
    assert time.perf_counter() - start < 5
    assert report.working() == list(CODINGS)


def test_gates_block_the_relu_codings_and_point_to_amos():
    report = check_model("models/digits_silu.onnx", ["rate", "bits", "amos"])
    rate = report.verdict("rate")
    assert rate.status == BLOCKED and rate.suggestion == "--coding amos"
    assert {b.op for b in rate.blockers} == {"silu", "sigmoid"} and all(b.node for b in rate.blockers)
    assert report.verdict("bits").status == BLOCKED
    assert report.verdict("amos").status == WORKS


def test_products_are_a_note_for_amos():
    nodes = [helper.make_node("Gemm", ["x", "w"], ["z"], name="fc"),
             helper.make_node("Sigmoid", ["z"], ["s"], name="gate"),
             helper.make_node("Mul", ["z", "s"], ["m"], name="se"),
             helper.make_node("Relu", ["z"], ["r"], name="relu"),
             helper.make_node("Mul", ["r", "s"], ["y"], name="scale")]
    report = check_model(make_model(nodes, [4], [4], {"w": rand(4, 4)}), ["amos", "rate"])
    amos = report.verdict("amos")
    assert amos.status == WORKS and [b.node for b in amos.notes] == ["scale"]
    assert report.verdict("rate").status == BLOCKED


def test_unsupported_op_blocks_every_coding_with_exit_2(tmp_path, capsys):
    nodes = [helper.make_node("Gemm", ["x", "w"], ["z"], name="fc"), helper.make_node("Sin", ["z"], ["y"], name="sin")]
    path = tmp_path / "sin.onnx"
    path.write_bytes(make_model(nodes, [4], [4], {"w": rand(4, 4)}).SerializeToString())
    assert main(["check", str(path), "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["works"] == []
    for verdict in out["codings"].values():
        assert verdict["status"] == "blocked"
        assert verdict["blockers"][0]["node"] == "sin" and verdict["blockers"][0]["op"] == "Sin"
        assert "converter" in verdict["suggestion"]


def test_cli_table_and_exit_0(capsys):
    assert main(["check", "models/digits_silu.onnx"]) == 0
    table = capsys.readouterr().out
    assert "rate    blocked" in table and "would work: --coding amos" in table and "amos    works" in table


def test_dynamic_axes_need_the_input_shape(capsys, tmp_path):
    path = tmp_path / "dyn.onnx"
    path.write_bytes(dynamic_cnn().SerializeToString())
    assert main(["check", str(path)]) == 2
    assert "--input-shape x=1x3xHxW" in capsys.readouterr().err
    assert main(["check", str(path), "--input-shape", "x=1x3x16x16", "--coding", "rate"]) == 0
    assert "rate    works" in capsys.readouterr().out


def test_profile_fan_in_and_coding():
    nodes = [helper.make_node("Gemm", ["x", "w"], ["z"], name="wide"), helper.make_node("Relu", ["z"], ["y"])]
    model = make_model(nodes, [300], [4], {"w": rand(300, 4)})
    report = check_model(model, ["rate", "amos"], profile="truenorth")
    rate = report.verdict("rate")   # quantization may still zero enough weights: a note, `map` decides
    assert rate.status == WORKS and rate.notes[0].node == "wide" and "300 inputs" in rate.notes[0].why
    assert "cannot run the amos coding" in str(report.verdict("amos").blockers[0])
    assert check_model(model, ["amos"], profile="loihi2").verdict("amos").status == WORKS


@pytest.fixture
def test_coding():
    """A coding registered by a test, with its own lowering pass and precondition; removed afterwards."""
    @register_pass("lower-tanh-only")
    def lower(graph, ctx):
        return PassResult(graph, False)

    @register_precondition("lower-tanh-only")
    def only_tanh(graph, view):
        return [Blocker(n.name, n.op, "not tanh") for n in graph.nodes if n.op in ("relu", "sigmoid")]

    @register_pass("lower-unchecked")
    def unchecked(graph, ctx):
        return PassResult(graph, False)

    CODINGS["tanh-only"] = lambda **_: "fold-bn,calibrate,lower-tanh-only"
    CODINGS["unchecked"] = lambda **_: "fold-bn,calibrate,lower-unchecked"
    yield
    for name in ("lower-tanh-only", "lower-unchecked"):
        PASS_REGISTRY.pop(name)
    PRECONDITIONS.pop("lower-tanh-only")
    CODINGS.pop("tanh-only")
    CODINGS.pop("unchecked")


def test_a_new_coding_brings_its_own_precondition(test_coding):
    report = check_model("models/digits_mlp.onnx", ["tanh-only", "unchecked", "rate"])
    own = report.verdict("tanh-only")
    assert own.status == BLOCKED and own.blockers[0].why == "not tanh" and own.suggestion == "--coding rate"
    assert report.verdict("unchecked").status == UNCHECKED and report.verdict("unchecked").ok


def test_compile_refuses_an_infeasible_coding_before_calibration(tmp_path, capsys):
    with pytest.raises(snncc.errors.PassError, match=r"--coding rate cannot.*lower-rate. refuses %node_silu.*--coding amos"):
        snncc.compile("models/digits_silu.onnx", "rate", calibration=None)
    code = main(["compile", "models/digits_silu.onnx", "--coding", "phase", "-o", str(tmp_path / "o.snnir"),
                 "--calib", "/nonexistent/never-read.npz", "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--coding phase cannot" in err and "never-read" not in err


def test_compile_target_refuses_a_coding_the_profile_cannot_run(tmp_path, capsys):
    code = main(["compile", "models/digits_mlp.onnx", "--coding", "amos", "--target", "truenorth",
                 "-o", str(tmp_path / "o.snnir"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "profile truenorth cannot run the amos coding" in err and "found before calibration" in err
    assert not (tmp_path / "o.snnir").exists()


def test_table_counts_the_ops_of_many_blockers(tmp_path, capsys):
    nodes = [helper.make_node("Gemm", ["x", "w"], ["z0"], name="fc")]
    nodes += [helper.make_node("Sin" if i % 2 else "Cos", [f"z{i}"], [f"z{i + 1}"], name=f"t{i}") for i in range(5)]
    nodes.append(helper.make_node("Identity", ["z5"], ["y"], name="out"))
    path = tmp_path / "trig.onnx"
    path.write_bytes(make_model(nodes, [4], [4], {"w": rand(4, 4)}).SerializeToString())
    assert main(["check", str(path), "--coding", "rate"]) == 2
    assert "... and 2 more (all: Cos x3, Sin x2)" in capsys.readouterr().out


def _pool_after(producer_nodes):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]), *producer_nodes,
             helper.make_node("MaxPool", ["a"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "fc"], ["y"], name="fc")]
    return make_model(nodes, [1, 4, 4], [3], {"w": rand(2, 1, 3, 3), "fc": rand(8, 3)})


def test_maxpool_verdicts_follow_what_the_tree_takes():
    relu6 = _pool_after([helper.make_node("Clip", ["c", "lo", "hi"], ["a"], name="relu6")])
    relu6.graph.initializer.extend([onnx_scalar("lo", 0.0), onnx_scalar("hi", 6.0)])
    assert check_model(relu6, ["rate"]).verdict("rate").status == WORKS
    leaky = _pool_after([helper.make_node("LeakyRelu", ["c"], ["a"], name="leaky", alpha=0.1)])
    rate = check_model(leaky, ["rate"]).verdict("rate")
    assert rate.status == BLOCKED and {b.op for b in rate.blockers} >= {"leaky_relu"}


def onnx_scalar(name, value):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(value, np.float32), name)


def test_profile_squeeze_excitation_products_need_graded_spikes(capsys, tmp_path):
    """amos keeps x * sigmoid(s) as a mul; `map` places it as a product relay (graded values in and out): a note
    with its cost on a profile with graded spikes, a blocker without them; `map` refuses the same before
    partitioning."""
    from dataclasses import replace

    from snncc.backends.coremap import MappingError, load_profile, map_graph
    from tests.amos.models import images, silu_se_model

    model = silu_se_model()
    loihi2 = check_model(model, ["amos"], profile="loihi2").verdict("amos")
    assert loihi2.status == WORKS
    assert any("product relays on loihi2: 256 relay neurons, each reading 2 graded inputs" in n.why
               for n in loihi2.notes)
    flat = replace(load_profile("loihi2"), name="flat", graded_spikes=False)
    blocked = check_model(model, ["amos"], profile=flat).verdict("amos")
    assert blocked.status == BLOCKED and "need graded spikes; flat has none" in blocked.blockers[0].why
    with pytest.raises(MappingError, match=r"\(mul\): a product of two activations .* which flat does not have"):
        map_graph(snncc.compile(model, "amos", calibration=images(8)), flat)
    path = tmp_path / "se.onnx"
    path.write_bytes(model.SerializeToString())
    assert main(["check", str(path), "--coding", "amos", "--profile", "loihi2"]) == 0
    out = capsys.readouterr().out
    assert "note: 1 mul node(s): a product of two activations" in out and "product relays on loihi2" in out
