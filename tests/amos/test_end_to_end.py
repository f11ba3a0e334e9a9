"""--coding amos end to end: the simulated SNN equals the ANN with every gate replaced by its circuit, sub-neurons
spike at most once, MaxPool is exact, the emitted program agrees, the CLI compiles and shows the circuits."""

import json
import subprocess
import sys

import numpy as np
import pytest

import snncc
from snncc.backends.simulator import build_program, emit_program, simulate
from snncc.backends.simulator.kernels import FSNeuronKernel
from snncc.cli import main
from snncc.ir import FSNeuron, from_bytes, run, to_bytes
from tests.amos.models import images, relu_maxpool_model, silu_se_model

CALIB = images(300, seed=2)
TEST = images(200, seed=1)


@pytest.fixture(scope="module")
def silu_snn():
    return snncc.compile(silu_se_model(), "amos", calibration=CALIB)


@pytest.fixture(scope="module")
def relu_snn():
    return snncc.compile(relu_maxpool_model(), "amos", calibration=CALIB)


def _max_k(graph):
    return max(n.steps for n in graph.nodes if isinstance(n, FSNeuron))


@pytest.mark.parametrize("which", ["silu", "relu"])
def test_snn_equals_the_ann_with_every_gate_replaced_by_its_circuit(which, silu_snn, relu_snn):
    graph = silu_snn if which == "silu" else relu_snn
    circuit_ann = run(graph, TEST)[graph.outputs[0]]         # fs_neuron evaluates fs_forward in ANN mode
    result = simulate(graph, TEST, 1)
    np.testing.assert_allclose(result.outputs[1], circuit_ann, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(result.predictions[1], circuit_ann.argmax(-1))
    # every sub-neuron spikes at most once: a unit emits at most K spikes in its window
    assert 0 < result.max_spikes_per_neuron <= _max_k(graph)
    assert result.latency_steps == int(graph.meta["latency_steps"])


def test_every_sub_neuron_fires_at_most_once_in_the_kernel(silu_snn):
    program = build_program(silu_snn)
    kernels = [k for k in program.kernels if isinstance(k, FSNeuronKernel)]
    assert {k.name for k in kernels} == {"a1", "gate", "t2"}
    values = run(silu_snn, TEST[:50], keep="all")
    for kernel in kernels:
        current = values[silu_snn.node(kernel.name).inputs[0]]
        frames, weights = kernel.window_frames(current)
        assert frames.shape[0] == kernel.steps and set(np.unique(frames)) <= {0.0, 1.0}
        out = np.zeros(current.shape, np.float32)
        kernel.decode(frames, weights, out)
        np.testing.assert_array_equal(out, values[kernel.name])          # kernel == IR op, bit for bit
        node = silu_snn.node(kernel.name)
        np.testing.assert_array_equal(frames.astype(bool), node.frames(current))


def test_maxpool_tree_of_relu_circuits_is_exact(relu_snn):
    values = run(relu_snn, TEST, keep="all")
    r1 = values["r1"]
    expected = r1.reshape(len(TEST), 4, 4, 2, 4, 2).max(axis=(3, 5))
    np.testing.assert_array_equal(values["p1"], expected)
    alpha = relu_snn.node("r1").thresholds[0] * 2
    assert all(relu_snn.node(n).thresholds[0] * 2 == alpha for n in ("p1.max0_0.relu", "p1.max1_0.relu"))


def test_squeeze_excitation_product_is_a_flagged_non_spiking_mul(silu_snn):
    assert silu_snn.node("scaled").op == "mul"
    assert silu_snn.meta["amos_non_spiking"] == "scaled"
    assert {n.gate for n in silu_snn.nodes if isinstance(n, FSNeuron)} == {"silu", "sigmoid", "tanh"}
    assert any(n.op == "delay" for n in silu_snn.nodes)     # the skip edge into the product waits for the gate


def test_compile_is_deterministic_and_round_trips(silu_snn):
    again = snncc.compile(silu_se_model(), "amos", calibration=CALIB)
    assert to_bytes(again) == to_bytes(silu_snn)
    assert from_bytes(to_bytes(silu_snn)).nodes == silu_snn.nodes


def test_emitted_program_agrees_with_the_in_process_simulator(relu_snn, tmp_path):
    script = emit_program(relu_snn, tmp_path / "prog")
    np.savez(tmp_path / "in.npz", x=TEST[:40])
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "in.npz"), "--json"], capture_output=True,
                          text=True, check=True)
    report = json.loads(done.stdout)
    expected = simulate(relu_snn, TEST[:40], int(relu_snn.meta["timesteps"]))
    t = str(int(relu_snn.meta["timesteps"]))
    assert report["predictions"][t] == expected.predictions[int(t)].tolist()
    assert report["max_spikes_per_neuron"] == expected.max_spikes_per_neuron <= 10
    assert report["latency_steps"] == expected.latency_steps == 50


def test_cli_compile_inspect_and_eval(tmp_path, capsys):
    model = tmp_path / "net.onnx"
    model.write_bytes(relu_maxpool_model().SerializeToString())
    np.savez(tmp_path / "calib.npz", x=CALIB)
    np.savez(tmp_path / "test.npz", x=TEST[:50], y=np.zeros(50, np.int64))
    out = tmp_path / "net.snnir"
    assert main(["compile", str(model), "--coding", "amos", "-K", "6", "--calib", str(tmp_path / "calib.npz"),
                 "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "lower-gates{k=6}" in text and 'fs_neuron %c1 {gate="relu", steps=6, thresholds=[' in text
    assert "max_abs_error=" in text and "mse=" in text
    assert main(["eval", str(out), "--data", str(tmp_path / "test.npz"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["agreement"] is not None and report["samples"] == 50


def test_cli_rejects_a_bad_k(tmp_path, capsys):
    model = tmp_path / "net.onnx"
    model.write_bytes(relu_maxpool_model().SerializeToString())
    np.savez(tmp_path / "calib.npz", x=CALIB)
    code = main(["compile", str(model), "--coding", "amos", "-K", "40", "--calib", str(tmp_path / "calib.npz"),
                 "-o", str(tmp_path / "o.snnir")])
    assert code == 2 and "between 1 and 23" in capsys.readouterr().err


def test_eval_report_flags_the_non_spiking_product(silu_snn, tmp_path, capsys):
    from snncc.ir import save

    save(silu_snn, tmp_path / "se.snnir")
    np.savez(tmp_path / "test.npz", x=TEST[:20])
    assert main(["eval", str(tmp_path / "se.snnir"), "--data", str(tmp_path / "test.npz"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["non_spiking_products"] == 1
    assert any(n.startswith("1 non-spiking mul node(s)") and n.endswith(": %scaled") for n in report["notes"])


def test_compile_report_counts_the_non_spiking_products(tmp_path, capsys):
    import onnx

    onnx.save(silu_se_model(), tmp_path / "se.onnx")
    np.savez(tmp_path / "calib.npz", x=CALIB[:64])
    assert main(["compile", str(tmp_path / "se.onnx"), "--coding", "amos", "--calib", str(tmp_path / "calib.npz"),
                 "-o", str(tmp_path / "se.snnir")]) == 0
    assert "note: 1 non-spiking mul node(s) (analog products of two activations" in capsys.readouterr().err
