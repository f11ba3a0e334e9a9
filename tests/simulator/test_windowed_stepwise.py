"""The one-pass-per-window shortcut of the windowed schedule equals a step-by-step, frame-by-frame reference
(`windowed_stepwise.py`) on every bundled model and windowed coding: identical spike frames in every population,
the same window starts (latency) and the same outputs."""

import numpy as np
import pytest

from snncc.compiler import default_test_file
from snncc.backends.simulator import build_program
from snncc.backends.simulator.kernels import WindowedNeuronKernel, simulate_program, window_latency
from tests.golden.golden import at_root, bundled_models, default_options, load_manifest
from tests.simulator.windowed_stepwise import run_stepwise

WINDOWED = ("phase", "bits", "amos")
PAIRS = [(e["model"], e["coding"]) for e in load_manifest() if e["coding"] in WINDOWED and "golden" in e]
SAMPLES = 8


def _data(model: str) -> np.ndarray:
    from snncc.data import load_npz

    path = default_test_file(f"models/{model}.onnx")
    if path is None:   # karate_gcn: one graph, its data set
        return load_npz(f"models/data/{model.split('_')[0]}.npz").x[:1]
    return load_npz(path).x[:SAMPLES]


def test_every_bundled_model_has_a_windowed_coding_here():
    assert {m for m, _ in PAIRS} == set(bundled_models())


@pytest.mark.parametrize("model, coding", PAIRS, ids=[f"{m}-{c}" for m, c in PAIRS])
def test_one_pass_per_window_equals_the_stepwise_reference(model, coding):
    from tests.golden.golden import compile_graph

    with at_root():
        # phase: a fixed base B < 2 (the searched one costs compile time and changes nothing checked here)
        extra = {"base": 1.8} if coding == "phase" else {}
        graph = compile_graph(model, coding, {**default_options(model, coding), **extra})
        x = _data(model)
    program = build_program(graph)
    raw = simulate_program(program, {program.inputs[0]: x}, 1, batch_size=len(x))
    reference = run_stepwise(graph, x)
    windowed = [k for k in program.kernels if isinstance(k, WindowedNeuronKernel)]
    assert windowed and set(reference.frames) == {k.name for k in windowed}
    for kernel in windowed:
        frames, _ = kernel.window_frames(kernel.current)
        np.testing.assert_array_equal(frames, reference.frames[kernel.name], err_msg=kernel.name)
    assert reference.latency == window_latency(program)[0]
    for name, value in reference.outputs.items():
        np.testing.assert_allclose(raw["outputs"][name][1], value, rtol=1e-4, atol=1e-4 * np.abs(value).max())
