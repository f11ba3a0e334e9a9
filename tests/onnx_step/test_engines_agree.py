"""`engine="ort"` (the step model on onnxruntime) against the NumPy reference, for every bundled model and coding
that compiles: identical predictions at every checkpoint, identical MAC accounting, and spike counts (hence SynOps
and energy) identical except where a synaptic sum rounds differently in onnxruntime's Conv/MatMul than in NumPy's
BLAS and a membrane lands on the threshold within an ulp. That happens on a few models (digits_resnet rate, signed
and amos; digits_cnn and mnist_cnn amos: at most a few spikes in 10^5), so counts are compared with a relative
tolerance of 1e-4 per layer."""

import numpy as np
import pytest

from snncc.backends.simulator import simulate
from tests.onnx_step.compiled import compiled, compiled_pairs, data

COUNT_RTOL = 1e-4


@pytest.mark.parametrize("model, coding", compiled_pairs(), ids=[f"{m}-{c}" for m, c in compiled_pairs()])
def test_ort_engine_matches_numpy(model, coding):
    graph = compiled(model, coding)
    x = data(model)
    for input_coding in (("analog", "poisson") if coding == "rate" else ("analog",)):
        ref = simulate(graph, x, [2, 8], input_coding=input_coding, batch_size=7)
        ort = simulate(graph, x, [2, 8], input_coding=input_coding, batch_size=7, engine="ort", threads=1)
        assert ort.engine == "ort" and ort.threads == 1
        for t in ref.timesteps:
            np.testing.assert_array_equal(ort.predictions[t], ref.predictions[t], err_msg=f"{input_coding} T={t}")
        assert list(ort.spikes_per_layer) == list(ref.spikes_per_layer)
        for layer, count in ref.spikes_per_layer.items():
            assert ort.spikes_per_layer[layer] == pytest.approx(count, rel=COUNT_RTOL, abs=1e-9), layer
        assert ort.synops_per_sample == pytest.approx(ref.synops_per_sample, rel=COUNT_RTOL)
        assert ort.snn_macs_per_sample == ref.snn_macs_per_sample
        assert ort.ann_macs_per_sample == ref.ann_macs_per_sample
        assert (ort.bias_adds_per_sample, ort.multiplies_per_sample) == \
            (ref.bias_adds_per_sample, ref.multiplies_per_sample)
        for t in ref.timesteps:
            assert ort.energy_ratio_at[t] == pytest.approx(ref.energy_ratio_at[t], rel=COUNT_RTOL)
        assert (ort.latency_steps, ort.pipeline_interval_steps) == (ref.latency_steps, ref.pipeline_interval_steps)


def test_counts_are_exact_where_sums_round_alike():
    """On a model whose sums round alike (digits_mlp, rate), every count and output is identical, not just close."""
    graph = compiled("digits_mlp", "rate")
    x = data("digits_mlp")
    ref = simulate(graph, x, [3, 8], input_coding="poisson", seed=3)
    ort = simulate(graph, x, [3, 8], input_coding="poisson", seed=3, engine="ort")
    assert ort.spikes_per_layer == ref.spikes_per_layer
    assert ort.synops_per_sample == ref.synops_per_sample
    assert ort.max_spikes_per_neuron == ref.max_spikes_per_neuron
    assert ort.energy_ratio_at == ref.energy_ratio_at
    for t in (3, 8):
        np.testing.assert_array_equal(ort.outputs[t], ref.outputs[t])


def test_unknown_engine_is_refused():
    from snncc.backends.simulator import ProgramError

    with pytest.raises(ProgramError, match="unknown engine 'gpu'"):
        simulate(compiled("digits_mlp", "rate"), data("digits_mlp"), 2, engine="gpu")
