"""--coding phase end to end: the simulated SNN equals the ANN whose activations are replaced by the log-quantizer
q_{B,K,theta}, in process and as an emitted program; the CLI options; determinism; GCNs."""

from __future__ import annotations

import json
import subprocess
import sys
import numpy as np
import pytest

import snncc
from snncc.backends.simulator import build_program, emit_program, kernels, simulate
from snncc.cli import main
from snncc.ir import PhaseNeuron, run, to_bytes
from tests.phase.phase_models import karate_features, karate_gcn, residual_cnn

DIGITS_CALIB = np.load("models/data/digits_calib.npz")["x"]
DIGITS_TEST = np.load("models/data/digits_test.npz")
BUNDLED = ["models/digits_mlp.onnx", "models/digits_cnn.onnx", "models/digits_resnet.onnx"]


def log_quantized_ann(graph, x):
    """Reference: run `graph` node by node, every phase_neuron replaced by an independent float64 nearest-level
    (shift) / truncation (no shift) / K-bit floor (multi-spike) quantizer of its input. Returns every value."""
    values = {}
    for node in graph.nodes:
        if node.op == "input":
            values[node.name] = x
            continue
        inputs = [values[i] for i in node.inputs]
        if isinstance(node, PhaseNeuron):
            v = inputs[0].astype(np.float64)
            theta = graph.constants[node.theta].astype(np.float64)
            if node.multi_spike:
                delta = theta * 2.0 ** (1 - node.phases)
                q = delta * np.clip(np.floor(v / delta), 0, 2 ** node.phases - 1)
            else:
                levels = node.base ** -np.arange(node.phases, dtype=np.float64)
                thresholds = (levels + np.append(levels[1:], 0)) / 2 if node.shift else levels
                # the first phase whose threshold V reaches (levels decrease), else 0
                k = np.argmax(v[..., None] >= theta[..., None] * thresholds, axis=-1)
                hit = np.any(v[..., None] >= theta[..., None] * thresholds, axis=-1)
                q = np.where(hit, theta * levels[k], 0.0)
            values[node.name] = q.astype(np.float32)
        else:
            values[node.name] = node.evaluate(inputs, graph.constants)
    return values


def check_snn_equals_quantized_ann(graph, x):
    reference = log_quantized_ann(graph, x)
    ann_mode = run(graph, x, keep="all")
    result = simulate(graph, x, 8)
    out = graph.outputs[0]
    for node in graph.nodes:
        if isinstance(node, PhaseNeuron):
            # layer by layer: the op on the reference's own input equals the reference quantizer
            own = node.evaluate([reference[node.inputs[0]]], graph.constants)
            np.testing.assert_allclose(own, reference[node.name], rtol=1e-6, atol=1e-7, err_msg=node.name)
    np.testing.assert_allclose(ann_mode[out], reference[out], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(result.predictions[8], reference[out].argmax(-1))
    np.testing.assert_allclose(result.outputs[8], ann_mode[out], rtol=1e-4, atol=1e-4)
    single = not any(n.multi_spike for n in graph.nodes if isinstance(n, PhaseNeuron))
    if single:
        assert result.max_spikes_per_neuron <= 1
    return result


@pytest.mark.parametrize("model", BUNDLED)
def test_bundled_network_equals_its_log_quantized_ann(model):
    graph = snncc.compile(model, "phase", calibration=DIGITS_CALIB)
    x = DIGITS_TEST["x"][:200]
    result = check_snn_equals_quantized_ann(graph, x)
    assert result.spikes_per_sample > 0 and result.synops_per_sample > 0


@pytest.mark.parametrize("options", [{}, {"base": 2.0, "threshold_shift": False}, {"multi_spike": True, "phases": 5},
                                     {"phases": 4, "base": 1.6}])
def test_residual_cnn_with_maxpool_equals_its_log_quantized_ann(options):
    x = np.random.default_rng(0).uniform(0, 1, (96, 1, 8, 8)).astype(np.float32)
    graph = snncc.compile(residual_cnn(), "phase", calibration=x[:64], **options)
    result = check_snn_equals_quantized_ann(graph, x)
    k = options.get("phases", 8)
    multi = options.get("multi_spike", False)
    # spiking depth on the longest path: relu1, relu2, relu3; with multi-spike the pool is a relu tree (2 levels)
    depth = 5 if multi else 3
    raw = kernels.simulate_program(build_program(graph), {"x": x[:4]}, 1)
    assert (raw["latency_steps"], raw["pipeline_interval_steps"]) == (depth * k, k)
    assert graph.meta["latency_steps"] == str(depth * k)
    assert any(n.op == "delay" for n in graph.nodes)
    assert any(n.op == "first_spike_pool" for n in graph.nodes) != multi
    assert result.max_spikes_per_neuron <= (k if options.get("multi_spike") else 1)


def test_searched_base_and_shift_reduce_the_encoding_error_on_bundled_calibration():
    from snncc.passes import PassContext, PassManager

    def errors(**options):
        ctx = PassContext(calibration=DIGITS_CALIB)
        PassManager(snncc.pipeline.pipeline_for("phase", **options)).run(
            snncc.compile("models/digits_mlp.onnx", "rate", pipeline="fold-bn"), ctx)
        return ctx.stats["phase_base"]

    shifted, plain = errors(), errors(threshold_shift=False)
    for layer, report in shifted.items():
        assert report["base"] < 2.0
        assert report["error"] < report["error_base2"]                # searched base beats B = 2
        assert report["error"] < plain[layer]["error"]                # the shift beats truncation
        assert report["error_base2"] < plain[layer]["error_base2"]


def test_emitted_program_agrees_with_the_in_process_run(tmp_path):
    x = np.random.default_rng(1).uniform(0, 1, (40, 1, 8, 8)).astype(np.float32)
    graph = snncc.compile(residual_cnn(), "phase", calibration=x)
    script = emit_program(graph, tmp_path / "prog")
    np.savez(tmp_path / "in.npz", x=x)
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "in.npz"), "--json"], capture_output=True,
                          text=True, check=True)
    report = json.loads(done.stdout)
    expected = simulate(graph, x, int(graph.meta["timesteps"]))
    t = str(expected.timesteps[0])
    assert report["predictions"][t] == expected.predictions[expected.timesteps[0]].tolist()
    assert report["latency_steps"] == 24 and report["pipeline_interval_steps"] == 8
    assert report["max_spikes_per_neuron"] == 1
    assert report["spikes_per_sample"] == pytest.approx(expected.spikes_per_sample)


def test_compiled_ir_is_deterministic():
    a = snncc.compile("models/digits_mlp.onnx", "phase", calibration=DIGITS_CALIB)
    b = snncc.compile("models/digits_mlp.onnx", "phase", calibration=DIGITS_CALIB)
    assert to_bytes(a) == to_bytes(b)


def test_cli_compile_inspect_and_eval(tmp_path, capsys):
    out = tmp_path / "p.snnir"
    assert main(["compile", "models/digits_mlp.onnx", "--coding", "phase", "-K", "6", "--base", "1.5", "-o", str(out),
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "phase_neuron" in text and "base=1.5, phases=6, shift=true" in text and 'schedule "windowed"' in text
    assert main(["eval", str(out), "--data", "models/data/digits_test.npz", "--json", "--limit", "100",
                 "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["snn_accuracy"] > 0.8 and report["agreement"] > 0.8


@pytest.mark.parametrize("args,message", [(["-K", "0"], "phases"), (["--base", "1"], "1 < B <= 2"),
                                          (["--base", "2.5"], "1 < B <= 2"),
                                          (["--multi-spike", "--base", "1.5"], "base 2")])
def test_cli_bad_phase_options_are_clear_errors(tmp_path, capsys, args, message):
    code = main(["compile", "models/digits_mlp.onnx", "--coding", "phase", *args, "-o", str(tmp_path / "p.snnir"),
                 "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and "Traceback" not in err


def test_gcn_converts_with_phase_and_rate():
    model, x = karate_gcn(), karate_features()
    graph = snncc.compile(model, "phase", calibration=x)
    assert [n.op for n in graph.nodes].count("graph_conv") == 2
    check_snn_equals_quantized_ann(graph, x)
    ann = run(snncc.compile(model, "rate", pipeline="fold-bn"), x)
    ann_pred = next(iter(ann.values())).argmax(-1)
    phase_pred = simulate(graph, x, 8).predictions[8]
    assert np.sum(phase_pred != ann_pred) <= 2
    rate = snncc.compile(model, "rate", calibration=x, timesteps=64)
    rate_pred = simulate(rate, x, 64).predictions[64]
    assert np.sum(rate_pred != ann_pred) <= 4


def test_phase_graphs_round_trip_through_text_and_binary():
    from snncc.ir import from_bytes, to_text
    from snncc.ir.parse import parse

    x = np.random.default_rng(1).uniform(0, 1, (16, 1, 8, 8)).astype(np.float32)
    for graph in (snncc.compile(residual_cnn(), "phase", calibration=x),
                  snncc.compile(karate_gcn(), "phase", calibration=karate_features())):
        full = to_text(graph, full=True)
        assert to_text(parse(full), full=True) == full
        assert to_bytes(from_bytes(to_bytes(graph))) == to_bytes(graph)
        assert {"phase_neuron", "delay", "first_spike_pool", "graph_conv"} & {n.op for n in parse(full).nodes}


def test_bundled_karate_gcn_matches_the_ann_at_k8():
    data = np.load("models/data/karate.npz")
    x = data["x"]
    graph = snncc.compile("models/karate_gcn.onnx", "phase", calibration=x)
    assert [n.op for n in graph.nodes].count("graph_conv") == 2
    check_snn_equals_quantized_ann(graph, x)
    ann = run(snncc.compile("models/karate_gcn.onnx", "rate", pipeline="fold-bn"), x)
    ann_pred = next(iter(ann.values())).argmax(-1)
    phase_pred = simulate(graph, x, 8).predictions[8]
    assert np.sum(phase_pred != ann_pred) <= 1                       # the acceptance: at most 1 node
    rate = snncc.compile("models/karate_gcn.onnx", "rate", calibration=x, timesteps=32)
    assert np.sum(simulate(rate, x, 32).predictions[32] != ann_pred) <= 1
