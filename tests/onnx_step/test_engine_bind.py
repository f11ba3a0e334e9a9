"""The ort engine binds none of the NumPy kernels' per-batch buffers: per batch only the inputs and the spiking
kernels' counts, the other kernels once per run options and to one sample (what their Signals are), so batch 1 does
not pay a whole NumPy bind per sample. The NumPy engine still binds every kernel to every batch."""

import numpy as np

from snncc.backends.simulator import build_program, kernels, simulate
from tests.onnx_step.compiled import compiled, data


def _record_binds(monkeypatch):
    """A list that gets the batch size of every bind of a kernel other than an input."""
    calls = []
    for op, cls in kernels.KERNELS.items():
        if op != "input":
            orig = getattr(cls.bind, "__wrapped__", cls.bind)     # a kernel class may derive from another

            def bind(self, inputs, batch, run, _orig=orig):
                calls.append(batch)
                return _orig(self, inputs, batch, run)
            bind.__wrapped__ = orig
            monkeypatch.setattr(cls, "bind", bind)
    return calls


def test_ort_engine_binds_no_batch_buffers(monkeypatch):
    program = build_program(compiled("mnist_cnn", "rate"))
    others = len([k for k in program.kernels if k.op != "input"])
    x = data("mnist_cnn")[:6]
    calls = _record_binds(monkeypatch)
    first = simulate(program, x, [2, 4], input_coding="poisson", batch_size=2, engine="ort", threads=1)
    simulate(program, x, [2, 4], input_coding="poisson", batch_size=3, engine="ort", threads=1)
    assert calls == [1] * others        # three batches, then two more: the kernels bound once, to one sample
    del calls[:]
    ref = simulate(program, x, [2, 4], input_coding="poisson", batch_size=2, engine="numpy")
    assert calls == [2] * (3 * others)  # the NumPy engine binds every kernel to every batch
    del calls[:]
    again = simulate(program, x, [2, 4], input_coding="poisson", batch_size=2, engine="ort", threads=1)
    assert calls == [1] * others        # a NumPy bind in between: bound to one sample again
    for t in (2, 4):
        np.testing.assert_array_equal(again.outputs[t], first.outputs[t])
        np.testing.assert_array_equal(first.predictions[t], ref.predictions[t])
    assert again.spikes_per_layer == first.spikes_per_layer
    assert list(first.spikes_per_layer) == list(ref.spikes_per_layer)
    assert first.max_spikes_per_neuron == ref.max_spikes_per_neuron
