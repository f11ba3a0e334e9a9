"""--coding signed end to end: pipeline options, exact first layer, ANN mode == QCFS ANN (L = T), signed spike
events through the simulator and the emitted program, the CLI's --theta-n, and a ReLU model with calibrated
thresholds."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import helper

import snncc
from snncc.backends.simulator import emit_program, simulate
from snncc.cli import main
from snncc.errors import OptionError
from snncc.frontend import onnx_to_ir, prepare
from snncc.ir import load, run, to_bytes
from snncc.passes import PassContext, PassManager, lower_signed
from tests.bits.qcfs_models import inputs, qcfs_cnn, qcfs_maxpool_cnn, qcfs_nodes
from tests.helpers import make_model, onnxruntime_run


def _one_layer(levels: int):
    """x(16) -> gemm(8) -> QCFS: a population fed a constant current (direct encoding) that is a graph output."""
    rng = np.random.default_rng(5)
    init = {"w": rng.normal(0, 0.5, (8, 16)).astype(np.float32), "b": rng.normal(0, 0.2, 8).astype(np.float32),
            "lam": np.array(1.25, np.float32)}
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["h"], name="fc", transB=1)]
    nodes += qcfs_nodes("h", "y", "lam", levels, "act", init)
    return make_model(nodes, [16], [8], init)


@pytest.mark.parametrize("steps", [1, 2, 4])
def test_first_layer_is_exact(steps):
    model = _one_layer(steps)
    x = np.random.default_rng(0).uniform(0, 1, (500, 16)).astype(np.float32)
    graph = snncc.compile(model, "signed", timesteps=steps)
    assert [n.op for n in graph.nodes] == ["input", "dense", "signed_neuron"]
    result = simulate(graph, x, steps)
    np.testing.assert_allclose(result.outputs[steps], onnxruntime_run(model, x), atol=1e-5)


@pytest.mark.parametrize("steps", [2, 4])
def test_ann_mode_is_the_qcfs_ann_and_the_snn_is_close(steps):
    model = qcfs_cnn(steps, per_channel=True)
    x = inputs(300)
    graph = snncc.compile(model, "signed", timesteps=steps)
    reference = onnxruntime_run(model, x)
    np.testing.assert_allclose(run(graph, x)[graph.outputs[0]], reference, atol=2e-5)
    # deeper layers see uneven spike trains, so the SNN is not exact there; on this random network the
    # dual-threshold neurons beat plain IF with v0 = theta/2 (theta_n = -inf) in logit error and argmax agreement
    result = simulate(graph, x, steps)
    plain = simulate(snncc.compile(model, "signed", timesteps=steps, theta_n=float("-inf")), x, steps)
    err_signed = np.abs(result.outputs[steps] - reference).mean()
    err_plain = np.abs(plain.outputs[steps] - reference).mean()
    assert err_signed < 0.9 * err_plain
    agree_signed = np.mean(result.predictions[steps] == reference.argmax(-1))
    assert agree_signed > np.mean(plain.predictions[steps] == reference.argmax(-1))


def test_maxpool_relu_tree():
    """The tree's ReLUs see differences of two spike trains, which go negative and positive; -1 spikes cancel the
    excursions (measured exact on this model at T = 2, 4), where plain IF is not."""
    x = inputs(300)
    for steps in (2, 4):
        model = qcfs_maxpool_cnn(steps)
        reference = onnxruntime_run(model, x)
        signed = simulate(snncc.compile(model, "signed", timesteps=steps), x, steps).outputs[steps]
        np.testing.assert_allclose(signed, reference, atol=1e-5)
        plain = simulate(snncc.compile(model, "signed", timesteps=steps, theta_n=float("-inf")), x, steps)
        assert np.abs(plain.outputs[steps] - reference).max() > 0.01


def test_pipeline_records_theta_n_and_t():
    model = qcfs_cnn(2)
    graph = snncc.compile(model, "signed", timesteps=2, theta_n=-0.25)
    assert "lower-signed{theta_n=-0.25,timesteps=2},fold-out-scale" in graph.meta["pipeline"]
    neurons = [n for n in graph.nodes if n.op == "signed_neuron"]
    assert len(neurons) == 3 and all(n.theta_n == -0.25 and n.v0 == 0.5 and n.out_scale is None for n in neurons)
    assert to_bytes(graph) == to_bytes(snncc.compile(model, "signed", timesteps=2, theta_n=-0.25))
    with pytest.raises(OptionError, match="theta-n"):
        snncc.compile(model, "signed", timesteps=2, theta_n=0.9)


def test_theta_n_per_layer_and_negative_cases():
    canon = PassManager("match-qcfs,fold-bn,fold-affine,fold-input-norm").run(
        onnx_to_ir(prepare(qcfs_cnn(2))), PassContext())
    result = lower_signed(canon, PassContext(), timesteps=2, theta_n=0.0, theta_n_at="q2_floor:-inf;q3_floor:0.1")
    values = {n.name: n.theta_n for n in result.graph.nodes if n.op == "signed_neuron"}
    assert values == {"q1_floor": 0.0, "q2_floor": float("-inf"), "q3_floor": 0.1}
    with pytest.raises(OptionError, match="not populations"):
        lower_signed(canon, PassContext(), timesteps=2, theta_n_at="nope:0.1")
    with pytest.raises(OptionError, match="NODE:VALUE"):
        lower_signed(canon, PassContext(), timesteps=2, theta_n_at="q1_floor")
    assert not lower_signed(result.graph, PassContext(), timesteps=2).modified


def test_signed_events_reach_the_emitted_program(tmp_path):
    model = qcfs_cnn(4)
    x = inputs(60)
    graph = snncc.compile(model, "signed", timesteps=4)
    expected = simulate(graph, x, [2, 4])
    # negative spikes happen in this network and change its output
    assert not np.array_equal(expected.outputs[4],
                              simulate(snncc.compile(model, "signed", timesteps=4, theta_n=float("-inf")), x,
                                       4).outputs[4])
    script = emit_program(graph, tmp_path / "prog")
    np.savez(tmp_path / "in.npz", x=x)
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "in.npz"), "--json", "--timesteps", "2,4"],
                          capture_output=True, text=True, check=True)
    report = json.loads(done.stdout)
    for t in (2, 4):
        assert report["predictions"][str(t)] == expected.predictions[t].tolist()
    assert report["spikes_per_layer"] == pytest.approx(expected.spikes_per_layer)


def test_cli_theta_n(tmp_path, capsys):
    model_path = tmp_path / "q.onnx"
    onnx.save(qcfs_cnn(2), model_path)
    out = tmp_path / "m.snnir"
    assert main(["compile", str(model_path), "--coding", "signed", "-T", "2", "--theta-n", "-inf", "-o", str(out),
                 "--no-progress"]) == 0
    graph = load(out)
    assert "theta_n=-inf" in graph.meta["pipeline"]
    assert all(n.theta_n == float("-inf") for n in graph.nodes if n.op == "signed_neuron")
    capsys.readouterr()
    assert main(["compile", str(model_path), "--coding", "signed", "-T", "2", "--theta-n", "0.8", "-o", str(out),
                 "--no-progress"]) == 2
    assert "--theta-n 0.8" in capsys.readouterr().err


def test_relu_model_with_calibrated_thresholds():
    """digits_mlp (plain ReLU): balance-thresholds on the calibration split makes every ReLU bounded; signed at T = 8
    stays within 2 points of the ANN on the bundled digits test split (the acceptance bound of the issue)."""
    data = np.load("models/data/digits_test.npz")
    x, y = data["x"].astype(np.float32), data["y"]
    calib = np.load("models/data/digits_calib.npz")["x"]
    graph = snncc.compile("models/digits_mlp.onnx", "signed", timesteps=8, calibration=calib)
    assert sum(n.op == "signed_neuron" for n in graph.nodes) == 2
    ann = onnxruntime_run(onnx.load("models/digits_mlp.onnx"), x).argmax(-1)
    snn = simulate(graph, x, 8).accuracy(y)[8]
    assert snn >= np.mean(ann == y) - 0.02
    with pytest.raises(snncc.errors.DataError, match="calibration"):
        snncc.compile("models/digits_mlp.onnx", "signed", timesteps=8)


@pytest.mark.parametrize("coding,options", [("signed", {"theta_n": float("-inf")}), ("signed", {}), ("bits", {})])
def test_compiled_graph_round_trips_through_snnir_and_text(coding, options):
    from snncc.ir import from_bytes, to_text
    from snncc.ir.parse import parse

    graph = snncc.compile(qcfs_cnn(3), coding, timesteps=2, **options)
    assert to_bytes(from_bytes(to_bytes(graph))) == to_bytes(graph)
    text = to_text(graph, full=True)
    assert to_text(parse(text), full=True) == text
    assert to_bytes(parse(text)) == to_bytes(graph)
