"""The event-driven program against the dense reference on every bundled model and coding (the set the onnx_step
engine tests use): `synaptic_path="auto"` (fused max-pool trees, per-layer path decisions) and `"event"` (every
synaptic layer fed by spikes on its event path) against the dense path. "auto" is identical (its fused trees run the
same float32 ops; at these batch sizes no conv/dense layer is large enough to leave the dense path). "event" sums
synaptic inputs in another order than BLAS, so decoded outputs agree within float32 rounding and spikes are identical
except under AMOS, whose FS neurons compare each membrane with many fine thresholds per window: there a rounding
difference moves a few spikes (relative count difference < 1e-3 per layer on digits_resnet and mnist_cnn)."""

import numpy as np
import pytest

from snncc.backends.simulator import build_program, kernels
from tests.onnx_step.compiled import compiled, compiled_pairs, data


@pytest.fixture(autouse=True)
def fuse_every_tree(monkeypatch):
    """Fuse the max-pool trees at these small batches too (by default "auto" fuses only from POOL_TREE_MIN_WINDOWS)."""
    monkeypatch.setattr(kernels.base, "POOL_TREE_MIN_WINDOWS", 0)


@pytest.mark.parametrize("model, coding", compiled_pairs(), ids=[f"{m}-{c}" for m, c in compiled_pairs()])
def test_event_driven_program_matches_dense(model, coding):
    program = build_program(compiled(model, coding))
    x = {program.inputs[0]: data(model)}
    for input_coding in (("analog", "poisson") if coding == "rate" else ("analog",)):
        runs = {path: kernels.simulate_program(program, x, [2, 8], input_coding=input_coding, batch_size=7,
                                               synaptic_path=path) for path in ("dense", "auto", "event")}
        dense = runs["dense"]
        for path in ("auto", "event"):
            if path == "event" and coding == "amos":
                assert runs[path]["spikes_per_layer"] == pytest.approx(dense["spikes_per_layer"], rel=1e-3)
            else:
                assert runs[path]["spikes_per_layer"] == dense["spikes_per_layer"], (path, input_coding)
                assert runs[path]["max_spikes_per_neuron"] == dense["max_spikes_per_neuron"]
            for name, per_t in dense["outputs"].items():
                for t, value in per_t.items():
                    if path == "auto":
                        np.testing.assert_array_equal(runs[path]["outputs"][name][t], value)
                    elif coding == "amos":      # moved spikes move the decoded value by a step of the coding
                        np.testing.assert_allclose(runs[path]["outputs"][name][t], value, rtol=1e-2, atol=1e-2)
                    else:
                        np.testing.assert_allclose(runs[path]["outputs"][name][t], value, rtol=1e-5, atol=1e-5)


def test_auto_goes_event_driven_on_sparse_input_with_the_same_spikes():
    # batch 64 makes mnist_cnn's last conv big enough for its event path; Poisson input at density 0.01 makes it sparse
    program = build_program(compiled("mnist_cnn", "rate"))
    x = np.concatenate([data("mnist_cnn")] * 4)
    x *= np.float32(0.01 / np.clip(x, 0, 1).mean())
    runs = {path: kernels.simulate_program(program, {program.inputs[0]: x}, [4, 10], input_coding="poisson",
                                           batch_size=64, synaptic_path=path) for path in ("dense", "auto")}
    assert runs["auto"]["path_counts"]["node_conv2d_2"] == {"event": 10}, runs["auto"]["path_counts"]
    assert runs["auto"]["spikes_per_layer"] == runs["dense"]["spikes_per_layer"]
    for t in (4, 10):
        out = program.outputs[0]
        np.testing.assert_allclose(runs["auto"]["outputs"][out][t], runs["dense"]["outputs"][out][t], rtol=1e-5,
                                   atol=1e-6)
