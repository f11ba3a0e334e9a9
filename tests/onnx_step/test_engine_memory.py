"""An onnxruntime allocation failure in the ort engine (a 4 GB `ulimit -v` on a 416x416 detector) is a resource
error that says what to lower, never "internal error ... please report it"."""

import pytest

from snncc.backends.onnx_step.engine import OrtStepRunner
from snncc.backends.simulator import build_program, simulate
from snncc.errors import ResourceLimitError
from tests.onnx_step.compiled import compiled, data

ORT_OOM = ("Non-zero status code returned while running Sub node. Name:'Mul_200.v64_1' Status Message: "
           "bfc_arena.cc:360 void* onnxruntime::BFCArena::AllocateRawInternal(size_t, bool, onnxruntime::Stream*) "
           "Failed to allocate memory for requested buffer of size 2076672")


def test_an_allocation_failure_names_batch_size_and_engine(monkeypatch):
    program = build_program(compiled("mnist_cnn", "rate"))

    def out_of_memory(self, batch_run, checkpoints):
        raise RuntimeError(ORT_OOM)
    monkeypatch.setattr(OrtStepRunner, "schedule", out_of_memory)
    with pytest.raises(ResourceLimitError, match=r"8 sample\(s\) at a time: lower --batch-size \(e.g. 2\).*numpy"):
        simulate(program, data("mnist_cnn")[:8], [2], batch_size=8, engine="ort", threads=1)


def test_other_failures_pass_through(monkeypatch):
    program = build_program(compiled("mnist_cnn", "rate"))

    def broken(self, batch_run, checkpoints):
        raise RuntimeError("something else")
    monkeypatch.setattr(OrtStepRunner, "schedule", broken)
    with pytest.raises(RuntimeError, match="something else"):
        simulate(program, data("mnist_cnn")[:2], [2], batch_size=2, engine="ort", threads=1)
