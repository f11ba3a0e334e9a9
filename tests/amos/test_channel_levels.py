"""Per-channel staircases for HardSwish's rest: each channel's levels are cut over its own calibrated range, so a
channel that spans a small part of the layer's range no longer meets only one or two of the layer's levels. The
circuits are exact zero outside the support, the IR op, the simulator's kernel and the ort engine agree on them,
and a model whose gates all share one circuit keeps its IR text."""

import numpy as np
import onnxruntime as ort
from onnx import helper

import snncc
from snncc.backends.simulator import build_program, simulate
from snncc.backends.simulator.kernels import FSNeuronKernel
from snncc.gates import get_gate
from snncc.gates.levels import channel_level_circuits, level_circuit, level_circuits
from snncc.ir import FSNeuron, from_bytes, run, to_bytes, to_text
from snncc.ir.ops_amos import fs_circuit_decode, fs_circuit_frames
from tests.helpers import make_model, rand

REST = get_gate("hardswish_rest").function
K = 16


def _channel_outputs(table: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(C, len(x)): every channel's circuit on the same inputs."""
    return np.stack([fs_circuit_decode(fs_circuit_frames(x, row[:K], row[K:2 * K], False), row[2 * K:3 * K],
                                       row[3 * K]) for row in table])


def test_each_channel_is_exact_zero_outside_the_support_and_within_its_own_bound():
    lo = np.array([0.2, -2.5, -40.0, 5.0, -0.3, -35.0])
    hi = np.array([0.5, -2.0, 50.0, 8.0, 0.4, -1.0])
    shared = level_circuit(REST, (-40.0, 50.0), K, gate="hardswish_rest", support=(-3.0, 3.0), period=3.0)
    channels = channel_level_circuits(REST, lo, hi, [shared], support=(-3.0, 3.0), period=3.0)[0]
    assert channels.table.shape == (6, 3 * K + 1) and channels.table.dtype == np.float64
    x = np.linspace(-60.0, 60.0, 240_001)
    y = _channel_outputs(channels.table, x)
    # every input outside (-3, 3) gives exactly 0, also far from the channel's own range
    assert np.all(y[:, (x <= -3.0) | (x > 3.0)] == 0.0)
    shared_y = _channel_outputs(np.array([[*shared.thresholds, *shared.resets, *shared.output_weights,
                                          shared.bias_offset]]), x)[0]
    for c in range(6):
        own = (x >= lo[c]) & (x <= hi[c])
        error = np.abs(y[c, own] - REST(x[own])).max()
        assert error <= 1.02 * channels.max_abs_error      # measured on a coarser grid per channel
        # about r's variation on the channel's range (widened by a quarter on each side) over 2 (levels + 1)
        grid = np.linspace(lo[c] - 0.25 * (hi[c] - lo[c]), hi[c] + 0.25 * (hi[c] - lo[c]), 10_001)
        variation = np.abs(np.diff(REST(np.clip(grid, -3.0, 3.0)))).sum()
        assert error <= variation / (2 * (K - 3)) + 1e-9 or error <= shared.max_abs_error
    # the narrow channels gain 4x over the layer's levels (less across r's kink at 0); the wide one keeps its error
    for c, gain in ((0, 4.0), (1, 4.0), (4, 1.5)):
        own = (x >= lo[c]) & (x <= hi[c])
        assert gain * np.abs(y[c, own] - REST(x[own])).max() < np.abs(shared_y[own] - REST(x[own])).max()
    assert channels.max_abs_error < 0.03


def test_channels_with_the_layer_range_share_the_layer_circuit():
    shared = level_circuit(REST, (-40.0, 50.0), K, gate="hardswish_rest", support=(-3.0, 3.0), period=3.0)
    assert channel_level_circuits(REST, np.full(4, 20.0), np.full(4, 50.0), [shared], support=(-3.0, 3.0),
                                  period=3.0) is None         # no channel meets the support: all shared


def hardswish_channels_model():
    """Conv (4 channels of very different input ranges: x 0.05, x 1, x 20, shifted by 2) + HardSwish, Conv with
    large weights on the narrow channel (a folded BatchNorm), HardSwish, Gemm."""
    w1 = np.zeros((4, 1, 1, 1), np.float32)
    w1[:, 0, 0, 0] = [0.05, 1.0, 20.0, 0.3]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"]),
        helper.make_node("HardSwish", ["c1"], ["a1"]),
        helper.make_node("Conv", ["a1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("HardSwish", ["c2"], ["a2"]),
        helper.make_node("Flatten", ["a2"], ["f"]),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1),
    ]
    w2 = rand(3, 4, 3, 3, seed=9, scale=0.5)
    w2[:, 0] *= 40.0                                            # the narrow channel, weighed heavily
    init = {"w1": w1, "b1": np.array([0.1, -0.5, -10.0, 2.0], np.float32), "w2": w2,
            "b2": rand(3, seed=10, scale=0.5), "wf": rand(10, 3 * 8 * 8, seed=11, scale=0.3),
            "bf": rand(10, seed=12, scale=0.1)}
    return make_model(nodes, (1, 8, 8), [10], init)


def test_simulator_ir_and_ort_engine_agree_on_per_channel_circuits_and_beat_the_shared_levels():
    model = hardswish_channels_model()
    rng = np.random.default_rng(0)
    calibration = rng.random((200, 1, 8, 8), dtype=np.float32)
    test = calibration[:60]
    graph = snncc.compile(model, "amos", calibration=calibration, phases=K)
    rests = [n for n in graph.nodes if isinstance(n, FSNeuron) and n.gate == "hardswish_rest"]
    assert rests and all(n.channel_circuits is not None for n in rests)
    assert "channel_circuits=@" in to_text(graph)
    assert to_bytes(from_bytes(to_bytes(graph))) == to_bytes(graph)
    values = run(graph, test, keep="all")
    # the simulator's kernel == the IR op, bit for bit, frame by frame
    program = build_program(graph)
    for kernel in (k for k in program.kernels if isinstance(k, FSNeuronKernel)):
        current = values[graph.node(kernel.name).inputs[0]]
        frames, weights = kernel.window_frames(current)
        out = np.zeros(current.shape, np.float32)
        kernel.decode(frames, weights, out)
        np.testing.assert_array_equal(out, values[kernel.name])
        np.testing.assert_array_equal(frames.astype(bool), graph.node(kernel.name).frames(current, graph.constants))
    ir = values[graph.outputs[0]]
    # the simulator's conv sums round like the IR's up to float32 order: a membrane within an ulp of a threshold
    np.testing.assert_allclose(simulate(graph, test, 1).outputs[1], ir, rtol=1e-5, atol=1e-4)
    on_ort = simulate(graph, test, 1, engine="ort").outputs[1]
    assert np.abs(on_ort - ir).max() <= 1e-3 * np.abs(ir).max()
    # against onnxruntime on the source model: closer than the same compile with one circuit per layer
    ann = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": test})[0]
    shared = run(_shared_levels(graph), test)[graph.outputs[0]]
    assert np.abs(ir - ann).max() < 0.5 * np.abs(shared - ann).max()


def _shared_levels(graph):
    """The graph with every per-channel rest circuit replaced by the layer-wide one it was cut like."""
    nodes = [n.replace(channel_circuits=None) if isinstance(n, FSNeuron) else n for n in graph.nodes]
    return graph.with_(nodes=nodes)


def test_two_interleaved_rest_populations_halve_the_error_and_still_agree_across_engines():
    shared = level_circuits(REST, (-40.0, 50.0), K, gate="hardswish_rest", support=(-3.0, 3.0), period=3.0, parts=2)
    x = np.linspace(-60.0, 60.0, 240_001)
    y = sum(fs_circuit_decode(fs_circuit_frames(x, c.thresholds, c.resets, False), c.output_weights, c.bias_offset)
            for c in shared)
    assert np.all(y[(x <= -3.0) | (x > 3.0)] == 0.0)
    one = level_circuit(REST, (-40.0, 50.0), K, gate="hardswish_rest", support=(-3.0, 3.0), period=3.0)
    assert np.abs(y[np.abs(x) <= 40.0] - REST(x[np.abs(x) <= 40.0])).max() < 0.55 * one.max_abs_error
    model = hardswish_channels_model()
    calibration = np.random.default_rng(0).random((200, 1, 8, 8), dtype=np.float32)
    test = calibration[:60]
    graph = snncc.compile(model, "amos", calibration=calibration, phases=K, rest=2)
    assert "rest=2" in graph.meta["pipeline"]
    add = graph.node("a1") if graph.node("a1").op == "add" else None
    assert add is not None and len(add.inputs) == 3
    rests = [graph.node(name) for name in add.inputs[1:]]
    assert all(n.gate == "hardswish_rest" and n.channel_circuits is not None for n in rests)
    ir = run(graph, test)[graph.outputs[0]]
    np.testing.assert_allclose(simulate(graph, test, 1).outputs[1], ir, rtol=1e-5, atol=1e-4)
    on_ort = simulate(graph, test, 1, engine="ort").outputs[1]
    assert np.abs(on_ort - ir).max() <= 1e-3 * np.abs(ir).max()
    ann = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": test})[0]
    single = run(snncc.compile(model, "amos", calibration=calibration, phases=K), test)[graph.outputs[0]]
    assert np.abs(ir - ann).max() < 0.75 * np.abs(single - ann).max()


def test_cli_rest_option(tmp_path, capsys):
    from snncc.cli import main
    from snncc.ir import load

    model = tmp_path / "hs.onnx"
    model.write_bytes(hardswish_channels_model().SerializeToString())
    np.savez(tmp_path / "calib.npz", x=np.random.default_rng(0).random((64, 1, 8, 8), dtype=np.float32))
    out = tmp_path / "hs.snnir"
    assert main(["compile", str(model), "--coding", "amos", "--rest", "2", "--calib", str(tmp_path / "calib.npz"),
                 "-o", str(out)]) == 0
    assert "lower-gates{rest=2}" in load(out).meta["pipeline"]
    for coding, rest, message in (("amos", "0", "between 1 and 8"), ("rate", "2", "--rest sets the HardSwish")):
        capsys.readouterr()
        code = main(["compile", str(model), "--coding", coding, "--rest", rest, "--calib",
                     str(tmp_path / "calib.npz"), "-o", str(tmp_path / "bad.snnir")])
        assert code == 2 and message in capsys.readouterr().err
