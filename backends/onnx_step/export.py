"""`snncc export --format onnx-step`: a compiled graph's time step as a portable ONNX model.

The written model is the step model of `lower.py` plus, for every state input, an initializer of the same name
holding its initial value for one sample (shape (1, *shape)): an ONNX initializer that is also a graph input is that
input's default, so a plain onnxruntime session can run step 1 feeding only the input frame (the default broadcasts
over the batch; state inputs declare their own batch symbol, `state_batch`), then feed each `<state>.next` back as `<state>` for t = 2..T. The decoded output after T steps is
`<output>.sum.next / T` (concurrent schedule) or `<output>.value` of the single step (windowed schedule).
`metadata_props` say which inputs are frames and states and how to decode.
"""

from __future__ import annotations

import json
import os

import onnx
from onnx import numpy_helper

from snncc.backends.onnx_step.lower import StepModel, lower_program
from snncc.ir.atomic_write import atomic_write
from snncc.ir.graph import Graph


def step_model_with_defaults(step: StepModel) -> onnx.ModelProto:
    """The step model with every state's initial value as its input's default, and the driving rules as
    metadata."""
    model = onnx.ModelProto()
    model.CopyFrom(step.model)
    states = {spec.name for spec in step.states}
    for spec in step.states:
        model.graph.initializer.append(numpy_helper.from_array(spec.initial[None], name=spec.name))
    for value in model.graph.input:
        if value.name in states:    # the default has batch 1 and broadcasts: not the frame's batch symbol
            value.type.tensor_type.shape.dim[0].dim_param = "state_batch"
    decode = ("one step: the readouts <output>.value are the decoded outputs" if step.schedule == "windowed" else
              "feed <state>.next back as <state> each step; after T steps the decoded output is <output>.sum.next / T")
    meta = {"snncc.schedule": step.schedule, "snncc.frames": json.dumps(list(step.frames)),
            "snncc.states": json.dumps([s.name for s in step.states]),
            "snncc.readouts": json.dumps(step.readouts), "snncc.decode": decode}
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model, full_check=True)
    return model


def export_step_model(graph: Graph, path: str | os.PathLike) -> onnx.ModelProto:
    """Lower `graph` and write its step model (with default initial states) to `path` atomically."""
    from snncc.backends.simulator.runner import build_program

    model = step_model_with_defaults(lower_program(build_program(graph)))
    atomic_write(path, model.SerializeToString())
    return model

