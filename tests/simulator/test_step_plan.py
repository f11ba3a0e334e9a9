"""The concurrent schedule's flat step plan (kernels' `step_ops`) gives the kernels' own `step` results bit for bit, on
every bundled model and coding that runs on the concurrent schedule, at batch 1 (unfused max-pool trees) and 7."""

import numpy as np
import pytest

from snncc.backends.simulator import build_program, kernels
from snncc.backends.simulator.kernels import schedule_concurrent
from tests.onnx_step.compiled import compiled, compiled_pairs, data


def steps_only(kernel_list, clock):
    return [lambda kernel=kernel: kernel.step(clock[0]) for kernel in kernel_list]


# the codings on the concurrent schedule (the others run windowed and never use the plan)
CONCURRENT = [(m, c) for m, c in compiled_pairs() if c in ("rate", "signed")]


def run(program, x, batch, input_coding):
    return kernels.simulate_program(program, x, [3, 6], input_coding=input_coding, batch_size=batch, seed=3)


@pytest.mark.parametrize("model, coding", CONCURRENT, ids=[f"{m}-{c}" for m, c in CONCURRENT])
def test_step_plan_equals_kernel_steps(model, coding, monkeypatch):
    program = build_program(compiled(model, coding))
    assert program.schedule == "concurrent"
    x = {program.inputs[0]: data(model)[:8]}
    for batch, input_coding in ((1, "analog"), (7, "poisson")):
        planned = run(program, x, batch, input_coding)
        with monkeypatch.context() as patch:
            patch.setattr(schedule_concurrent, "step_plan", steps_only)
            stepped = run(program, x, batch, input_coding)
        assert planned["spikes_per_layer"] == stepped["spikes_per_layer"]
        for name, per_t in stepped["outputs"].items():
            for t, value in per_t.items():
                np.testing.assert_array_equal(planned["outputs"][name][t].view(np.int32), value.view(np.int32))


@pytest.mark.parametrize("coding, neuron", [("rate", "if_neuron"), ("signed", "signed_neuron")])
def test_plan_runs_the_ops_of_fixed_dense_kernels(coding, neuron):
    program = build_program(compiled("mnist_cnn", coding))
    program.bind({program.inputs[0]: data("mnist_cnn")[:1]}, 1, kernels.RunOptions(), 0)
    by_op = {}
    for kernel in program.stepped:
        by_op.setdefault(kernel.op, []).append(kernel.step_ops())
    assert all(ops is not None for op in ("conv", neuron, "add", "affine", "dense") for ops in by_op[op])
    assert by_op["flatten"] == [[]]
    assert by_op["input"] == [None]        # analog input: static, stepped once; poisson draws random numbers
