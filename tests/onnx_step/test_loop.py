"""The ort engine's ONNX Loop (the steps between checkpoints in one call) against its Python-stepped loop: the same
outputs at every checkpoint and the same spike counts, on bundled models and the concurrent codings."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from snncc.backends.onnx_step.engine import OrtStepRunner
from snncc.backends.onnx_step.loop import TRIPS, loop_model
from snncc.backends.onnx_step.lower import lower_program
from snncc.backends.simulator import build_program
from tests.onnx_step.compiled import compiled, data

CASES = [("digits_cnn", "rate"), ("mnist_cnn", "rate"), ("digits_resnet", "rate"), ("digits_mlp", "signed"),
         ("digits_cnn", "signed")]


@pytest.mark.parametrize("model, coding", CASES, ids=[f"{m}-{c}" for m, c in CASES])
def test_loop_matches_python_steps(model, coding):
    program = build_program(compiled(model, coding))
    x = {program.inputs[0]: data(model)}
    stepped = OrtStepRunner(program, threads=1, loop=False).simulate(x, [2, 5, 8], batch_size=7)
    looped = OrtStepRunner(program, threads=1, loop=True).simulate(x, [2, 5, 8], batch_size=7)
    for t in (2, 5, 8):
        for out in program.outputs:
            np.testing.assert_array_equal(looped["outputs"][out][t], stepped["outputs"][out][t], err_msg=f"T={t}")
    assert looped["spikes_per_layer"] == stepped["spikes_per_layer"]
    assert looped["synops_per_sample"] == stepped["synops_per_sample"]
    assert looped["energy_ratio_at"] == stepped["energy_ratio_at"]


def test_poisson_input_steps_from_python():
    """Poisson spikes change every step: the Loop runner gives the Python loop's numbers (it steps from Python)."""
    program = build_program(compiled("digits_mlp", "rate"))
    x = {program.inputs[0]: data("digits_mlp")}
    a = OrtStepRunner(program, loop=False).simulate(x, 6, input_coding="poisson", seed=2)
    b = OrtStepRunner(program, loop=True).simulate(x, 6, input_coding="poisson", seed=2)
    assert a["spikes_per_layer"] == b["spikes_per_layer"]


def test_loop_model_runs_in_a_bare_session():
    """The Loop model passes the checker and, fed the initial state, equals T calls of the step model."""
    program = build_program(compiled("digits_cnn", "rate"))
    step = lower_program(program)
    model = loop_model(step)
    onnx.checker.check_model(model, full_check=True)
    x = data("digits_cnn")[:3]
    init = {s.name: np.ascontiguousarray(np.broadcast_to(s.initial, (3,) + s.initial.shape)) for s in step.states}
    looped = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    final = dict(zip([o.name for o in looped.get_outputs()], looped.run(None, dict(
        {step.frames[0]: x, TRIPS: np.array(4, np.int64)}, **{f"{k}.init": v for k, v in init.items()}))))
    single = ort.InferenceSession(step.model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in single.get_outputs()]
    state = init
    for _ in range(4):
        out = dict(zip(names, single.run(None, dict({step.frames[0]: x}, **state))))
        state = {s.name: out[s.next_name] for s in step.states}
    for s in step.states:
        np.testing.assert_array_equal(final[f"{s.name}.final"], state[s.name], err_msg=s.name)


def test_windowed_programs_have_no_loop():
    step = lower_program(build_program(compiled("digits_cnn", "phase")))
    with pytest.raises(ValueError, match="windowed step model is one pass"):
        loop_model(step)


@pytest.mark.parametrize("loop", [False, True], ids=["python", "Loop"])
def test_batches_of_one_each_start_from_the_initial_state(loop):
    """At batch 1 the broadcast initial state is contiguous already; onnxruntime must not write into the step model's
    own copy (every batch after the first then started where the previous one stopped)."""
    from snncc.backends.simulator import simulate

    program = build_program(compiled("digits_cnn", "rate"))
    x = data("digits_cnn")[:3]
    runner = OrtStepRunner(program, threads=1, loop=loop)
    ref = simulate(program, x, [2, 8], batch_size=1)
    for _ in range(2):     # the runner's cached step model is reused
        got = runner.simulate({program.inputs[0]: x}, [2, 8], batch_size=1)
        assert got["spikes_per_layer"] == ref.spikes_per_layer
        np.testing.assert_allclose(got["outputs"][program.outputs[0]][8], ref.outputs[8], rtol=1e-5, atol=1e-5)
