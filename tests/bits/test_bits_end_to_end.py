"""--coding bits end to end: ONNX (QCFS, L = 2^T - 1) -> compile -> simulator and emitted program; the SNN's logits
are the QCFS ANN's, compiles are deterministic, the CLI works."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest

import snncc
from snncc.ir import Graph
from snncc.backends.simulator import emit_program, simulate
from snncc.cli import main
from snncc.ir import load, to_bytes
from tests.bits.qcfs_models import inputs, qcfs_cnn, qcfs_maxpool_cnn
from tests.helpers import onnxruntime_run


@pytest.mark.parametrize("steps", [2, 3, 4])
def test_snn_logits_equal_the_qcfs_ann(steps):
    model = qcfs_cnn((1 << steps) - 1, per_channel=True)
    x = inputs(300)
    graph = snncc.compile(model, "bits", timesteps=steps)
    assert graph.meta["schedule"] == "windowed"
    assert f"lower-bits{{timesteps={steps}}},shift-bias" in graph.meta["pipeline"]
    result = simulate(graph, x, steps)
    np.testing.assert_allclose(result.outputs[steps], onnxruntime_run(model, x), atol=2e-5)
    # spikes = popcount of every neuron's level; at most T per neuron; latency is T steps per spiking layer
    assert 0 < result.max_spikes_per_neuron <= steps
    assert result.latency_steps == 3 * steps


@pytest.mark.parametrize("steps", [2, 4])
def test_maxpool_relu_tree_is_exact(steps):
    """max(a, b) = b + relu(a - b): a difference of two values on the Delta grid is on the grid, so the tree's
    bit-serial ReLUs (bias-shifted through an affine) reproduce MaxPool exactly."""
    model = qcfs_maxpool_cnn((1 << steps) - 1)
    x = inputs(300)
    graph = snncc.compile(model, "bits", timesteps=steps)
    assert sum(n.op == "bits_neuron" for n in graph.nodes) == 4      # the layer + 3 tree ReLUs
    result = simulate(graph, x, steps)
    np.testing.assert_allclose(result.outputs[steps], onnxruntime_run(model, x), atol=1e-5)
    assert result.latency_steps == 3 * steps                          # layer window + a 2-deep tree


def test_residual_network_gets_delays_and_runs_its_exact_function():
    """A skip edge across two bit-serial layers gets a delay buffer; the simulated SNN is the graph's ANN mode."""
    from tests.phase.phase_models import residual_cnn

    x = inputs(100)
    graph = snncc.compile(residual_cnn(), "bits", timesteps=4, calibration=x)
    assert any(n.op == "delay" for n in graph.nodes)
    result = simulate(graph, x, 4)
    ann = snncc.ir.run(graph, x)[graph.outputs[0]]
    # every bit-serial population is exact; the readout sums its input step by step in the simulator and once in
    # ANN mode, so it agrees up to float32 rounding (which BLAS kernel the CPU picks decides the last bit)
    np.testing.assert_allclose(result.outputs[4], ann, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(result.outputs[4].argmax(axis=1), ann.argmax(axis=1))
    hidden = graph.node_map()["relu3"]
    upto = Graph.build([n for n in graph.nodes if graph.nodes.index(n) <= graph.nodes.index(hidden)], ["relu3"],
                       graph.constants, dict(graph.meta))
    np.testing.assert_array_equal(simulate(upto, x, 4).outputs[4], snncc.ir.run(upto, x)["relu3"])


def test_spike_count_is_total_popcount():
    steps = 3
    model = qcfs_cnn(7)
    x = inputs(50)
    graph = snncc.compile(model, "bits", timesteps=steps)
    values = snncc.ir.run(graph, x, keep="all")
    expected = 0.0
    for node in graph.nodes:
        if node.op == "bits_neuron":
            frames, _ = node.frames(values[node.inputs[0]], graph.constants)
            expected += frames.sum()
    assert simulate(graph, x, steps).spikes_per_sample == pytest.approx(expected / len(x))


def test_compile_is_deterministic():
    model = qcfs_cnn(15, per_channel=True)
    assert to_bytes(snncc.compile(model, "bits", timesteps=4)) == to_bytes(snncc.compile(model, "bits", timesteps=4))


def test_emitted_program_equals_simulate(tmp_path):
    model = qcfs_cnn(7)
    x = inputs(40)
    y = np.arange(40) % 10
    graph = snncc.compile(model, "bits", timesteps=3)
    script = emit_program(graph, tmp_path / "prog")
    np.savez(tmp_path / "in.npz", x=x, y=y)
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "in.npz"), "--json"], capture_output=True,
                          text=True, check=True)
    report = json.loads(done.stdout)
    expected = simulate(graph, x, 3)
    assert report["predictions"]["3"] == expected.predictions[3].tolist()
    assert report["spikes_per_layer"] == pytest.approx(expected.spikes_per_layer)


def test_cli_compile_and_eval(tmp_path, capsys):
    model_path = tmp_path / "qcfs15.onnx"
    onnx.save(qcfs_cnn(15), model_path)
    x = inputs(60)
    np.savez(tmp_path / "data.npz", x=x, y=onnxruntime_run(qcfs_cnn(15), x).argmax(-1))
    out = tmp_path / "m.snnir"
    assert main(["compile", str(model_path), "--coding", "bits", "-T", "4", "-o", str(out), "--no-progress"]) == 0
    graph = load(out)
    assert graph.meta["coding"] == "bits" and graph.meta["timesteps"] == "4"
    assert sum(n.op == "bits_neuron" for n in graph.nodes) == 3
    capsys.readouterr()
    assert main(["eval", str(out), "--data", str(tmp_path / "data.npz"), "--json", "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    # labels are the ANN's own predictions: the exact SNN agrees on every sample
    assert report["snn_accuracy"] == 1.0 and report["agreement"] == 1.0


def test_cli_rejects_too_many_bits(tmp_path, capsys):
    model_path = tmp_path / "q.onnx"
    onnx.save(qcfs_cnn(3), model_path)
    assert main(["compile", str(model_path), "--coding", "bits", "-T", "30", "-o", str(tmp_path / "m.snnir"),
                 "--no-progress"]) == 2
    assert "timesteps must be between 1 and 24" in capsys.readouterr().err
