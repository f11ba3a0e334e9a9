"""The step model's structure: states and names, the static prologue, and the refusal of an op without a lowering."""

import numpy as np
import onnx
import pytest

from snncc.backends.onnx_step import lower
from snncc.backends.simulator import ProgramError, build_program
from snncc.backends.simulator.kernels import RunOptions
from snncc.cli import main
from snncc.ir.serialize import save
from tests.onnx_step.compiled import compiled


def _static(program):
    program.bind({name: np.zeros((1,) + program.shapes[name], np.float32) for name in program.inputs}, 1,
                 RunOptions())
    return frozenset(k.name for k in program.kernels if k.output.static)


def test_rate_step_model_has_membrane_count_and_sum_states():
    program = build_program(compiled("digits_cnn", "rate"))
    step = lower.lower_program(program)
    neurons = [k.name for k in program.kernels if k.op == "if_neuron"]
    assert [s.name for s in step.states if s.kind == "v"] == [f"{n}.v" for n in neurons]
    assert set(step.counts()) == set(neurons)
    assert list(step.sums()) == program.outputs
    names = {o.name for o in step.model.graph.output}
    assert {s.next_name for s in step.states} | set(step.readouts.values()) == names
    onnx.checker.check_model(step.model, full_check=True)


def test_analog_input_layers_move_to_the_prologue():
    program = build_program(compiled("digits_cnn", "rate"))
    static = _static(program)
    step = lower.lower_program(program, static)
    first_conv = next(k.name for k in program.kernels if k.op == "conv")
    assert first_conv in static and step.static_inputs and step.frames == ()
    assert "Conv" in {n.op_type for n in step.prologue.graph.node}
    step_convs = sum(n.op_type == "Conv" for n in step.model.graph.node)
    assert step_convs == sum(k.op == "conv" for k in program.kernels) - sum(
        k.op == "conv" and k.name in static for k in program.kernels)


def test_an_op_without_a_lowering_is_refused(monkeypatch, tmp_path, capsys):
    monkeypatch.delitem(lower._LOWERINGS, "dense")
    graph = compiled("digits_mlp", "rate")
    with pytest.raises(ProgramError, match=r"\(dense\): no ONNX step lowering"):
        lower.lower_program(build_program(graph))
    save(graph, tmp_path / "m.snnir")
    assert main(["eval", str(tmp_path / "m.snnir"), "--engine", "ort", "--limit", "4"]) == 2
    assert "no ONNX step lowering" in capsys.readouterr().err
