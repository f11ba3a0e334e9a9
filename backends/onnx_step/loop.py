"""The concurrent-schedule step model wrapped in an ONNX `Loop`: T steps in one onnxruntime call.

    inputs   the step model's frames and static inputs (read by the body from the outer scope, the same at every
             step), `<state>.init` for every state, `trips` (int64 scalar: the steps to run)
    Loop     body = the step model: carried values are the states, in `StepModel.states` order; no scan outputs
             (the counts and output sums are states already, so the last carried values hold everything decoded)
    outputs  `<state>.final`: every state after `trips` steps

A run covers the steps between two decoding checkpoints; the runner feeds the final states back as the next run's
initial ones. Poisson input changes the frame every step, so it stays on the Python loop.
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

from snncc.backends.onnx_step.builder import OPSET
from snncc.backends.onnx_step.lower import StepModel

TRIPS = "trips"


def loop_model(step: StepModel) -> onnx.ModelProto:
    """One ONNX model running `step` (concurrent schedule) for a given number of steps (see the module docstring)."""
    if step.schedule != "concurrent":
        raise ValueError("only the concurrent schedule steps in time; a windowed step model is one pass already")
    graph = step.model.graph
    by_name = {vi.name: vi for vi in graph.input}
    states = [s.name for s in step.states]
    body_inputs = [helper.make_tensor_value_info("iteration", TensorProto.INT64, []),
                   helper.make_tensor_value_info("cond_in", TensorProto.BOOL, [])]
    body_inputs += [by_name[name] for name in states]
    outputs = {vi.name: vi for vi in graph.output}
    body_outputs = [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, [])]
    body_outputs += [outputs[s.next_name] for s in step.states]
    nodes = [helper.make_node("Identity", ["cond_in"], ["cond_out"], name="cond_out")]
    # the readouts (this step's output value) are not needed: the decoded value is the running sum's
    kept = {s.next_name for s in step.states}
    nodes += [n for n in graph.node if not (n.op_type == "Identity" and n.output[0] in outputs
                                            and n.output[0] not in kept)]
    body = helper.make_graph(nodes, "snncc_step_body", body_inputs, body_outputs, initializer=list(graph.initializer))
    outer_inputs = [vi for vi in graph.input if vi.name not in set(states)]
    outer_inputs.append(helper.make_tensor_value_info(TRIPS, TensorProto.INT64, []))
    for name in states:
        vi = onnx.ValueInfoProto()
        vi.CopyFrom(by_name[name])
        vi.name = f"{name}.init"
        outer_inputs.append(vi)
    outer_outputs = []
    for name in states:
        vi = onnx.ValueInfoProto()
        vi.CopyFrom(by_name[name])
        vi.name = f"{name}.final"
        outer_outputs.append(vi)
    loop = helper.make_node("Loop", [TRIPS, ""] + [f"{name}.init" for name in states],
                            [f"{name}.final" for name in states], name="steps", body=body)
    main = helper.make_graph([loop], "snncc_step_loop", outer_inputs, outer_outputs,
                             doc_string=f"{graph.doc_string} Wrapped in a Loop of `{TRIPS}` steps.")
    model = helper.make_model(main, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="snncc")
    model.ir_version = step.model.ir_version
    onnx.checker.check_model(model, full_check=True)
    return model
