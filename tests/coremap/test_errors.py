"""Every way a mapping can fail is a clear SnnccError naming the layer, the numbers and the fix."""

import re
from dataclasses import replace

import numpy as np
import pytest

import snncc
from snncc.backends.coremap import MappingError, load_profile, map_graph
from snncc.errors import SnnccError
from tests.coremap.nets import MODELS, compiled


def test_coding_the_profile_cannot_run(monkeypatch):
    import snncc.backends.coremap.mapper as mapper

    def no_extraction(*args, **kwargs):
        raise AssertionError("the header's coding is checked before the layers are extracted")

    graph, x = compiled("digits_mlp")
    phase = snncc.compile(str(MODELS / "digits_mlp.onnx"), "phase", timesteps=4, calibration=x)
    monkeypatch.setattr(mapper, "extract", no_extraction)
    with pytest.raises(MappingError, match="profile truenorth cannot run the phase coding; it supports the neuron "
                                           "models: rate, signed"):
        map_graph(phase, "truenorth", x)


def test_model_too_big_for_the_chips():
    graph, x = compiled("digits_mlp")
    tiny = replace(load_profile("generic"), name="tiny", neurons_per_core=64, cores_per_chip=2, max_chips=1)
    with pytest.raises(MappingError, match=r"needs at least 4 tiny cores .* 1 chips x 2 cores = 2 are available"):
        map_graph(graph, tiny, x)


def test_fan_in_larger_than_a_core_without_graded_spikes(monkeypatch):
    import snncc.backends.coremap.mapper as mapper

    def no_partitioning(*args, **kwargs):
        raise AssertionError("infeasibility must be found before partitioning")

    monkeypatch.setattr(mapper, "partition", no_partitioning)
    graph, x = compiled("digits_mlp")
    narrow = replace(load_profile("generic"), name="narrow", input_axons_per_core=32, graded_spikes=False)
    with pytest.raises(MappingError) as info:
        map_graph(graph, narrow, x)
    text = str(info.value)
    needed = int(re.search(r"fan-in of (\d+) input axons", text).group(1))
    first = next(n.name for n in graph.nodes if n.op == "if_neuron")
    assert f"layer %{first} (if_neuron)" in text and 32 < needed <= 64 and "narrow core has 32" in text
    assert "graded spikes" in text
    assert isinstance(info.value, SnnccError)


def test_graph_not_lowered_to_spiking_neurons():
    from snncc.frontend import load_onnx, onnx_to_ir

    ann = onnx_to_ir(load_onnx(str(MODELS / "digits_mlp.onnx")))
    relu_only = snncc.compile(ann, "rate", pipeline="fold-bn")
    with pytest.raises(MappingError, match="relu.*neither a neuron population nor a linear op"):
        map_graph(relu_only, "loihi")


def test_neuron_op_without_table_entry(monkeypatch):
    from snncc.backends.coremap import network

    graph, x = compiled("digits_mlp")
    monkeypatch.delitem(network.NEURON_MODELS, "if_neuron")
    with pytest.raises(MappingError, match="if_neuron have no entry in the mapper's coding table"):
        map_graph(graph, "loihi", x)


def test_signed_spikes_take_two_axons_without_signed_events():
    _, x = compiled("digits_mlp")
    signed = snncc.compile(str(MODELS / "digits_mlp.onnx"), "signed", timesteps=8, calibration=x)
    loihi = map_graph(signed, "loihi", x, calibration_samples=8)
    on_loihi, on_loihi2 = loihi.document, map_graph(signed, "loihi2", x, calibration_samples=8).document
    # input pixels + signed hidden neurons read by a nonzero 8-bit weight (both profiles quantize alike):
    # x2 axons and synapses for the hidden ones where spikes carry no sign
    layers = loihi.network.by_name()
    used = {kind: sum(np.unique(p.matrix.indices).size for l in loihi.network.layers for p in l.projections
                      if (layers[p.source].kind == "input") == (kind == "input")) for kind in ("input", "hidden")}
    assert 0 < used["input"] <= 64 and 0 < used["hidden"] <= 128 + 64
    assert on_loihi["cores"][0]["input_axons"] == used["input"] + 2 * used["hidden"]
    assert on_loihi2["cores"][0]["input_axons"] == used["input"] + used["hidden"]
    assert on_loihi["summary"]["synapses"] > on_loihi2["summary"]["synapses"]
    assert on_loihi["quantization"]["weight_bits"] == 8      # dual-threshold populations are quantized too


def test_per_step_scaling_without_graded_spikes_costs_axons():
    _, x = compiled("digits_mlp")
    bits = snncc.compile(str(MODELS / "digits_mlp.onnx"), "bits", timesteps=4, calibration=x)
    graded = load_profile("generic")
    binary = replace(graded, name="binary", graded_spikes=False, input_axons_per_core=8192)
    a = map_graph(bits, graded, x, calibration_samples=8).document
    b = map_graph(bits, binary, x, calibration_samples=8).document
    assert a["summary"]["extra_state_bits"] > 0
    assert b["cores"][0]["input_axons"] == 64 + 4 * (128 + 64)
    assert a["cores"][0]["input_axons"] == 64 + 128 + 64


def test_fan_in_summed_over_every_population_a_neuron_reads(monkeypatch):
    """A conv after a MaxPool reads the pooled population and the max-tree populations: each alone fits a core's
    axons, their sum does not (the real MNIST CNN on truenorth: 100 + 100 + 100 > 256); refused before partitioning."""
    import snncc.backends.coremap.mapper as mapper
    from snncc.backends.coremap.network import extract
    from snncc.backends.coremap.preflight import neuron_fan_in

    def no_partitioning(*args, **kwargs):
        raise AssertionError("infeasibility must be found before partitioning")

    graph, x = compiled("maxpool")
    network = extract(graph)
    layers = network.by_name()
    conv2 = max((l for l in network.layers if l.kind == "population"), key=lambda l: len(l.projections))
    fan, shares = neuron_fan_in(conv2, layers, load_profile("generic"))
    assert len(shares) > 1 and int(fan.max()) == sum(shares.values()) > max(shares.values())
    limit = (int(fan.max()) + max(shares.values())) // 2
    narrow = replace(load_profile("truenorth"), name="narrow", input_axons_per_core=limit)
    monkeypatch.setattr(mapper, "partition", no_partitioning)
    with pytest.raises(MappingError) as info:
        map_graph(graph, narrow, x)
    text = str(info.value)
    assert f"layer %{conv2.name} (if_neuron): one neuron has a fan-in of {int(fan.max())} input axons (" in text
    assert all(f"%{source}: {n}" in text for source, n in shares.items())
    assert f"narrow core has {limit}" in text and "AveragePool" in text and "loihi2" in text


def test_neuron_fan_in_counts_the_nonzero_weights_of_each_row():
    from tests.coremap.test_graph_bound import conv_graph
    from snncc.backends.coremap.network import extract
    from snncc.backends.coremap.preflight import projection_fan_in

    rng = np.random.default_rng(5)
    for trial in range(20):
        graph = conv_graph(rng, 4, int(rng.integers(3, 9)), 4, int(rng.integers(1, 4)), int(rng.integers(1, 3)),
                           int(rng.integers(0, 2)), int(rng.choice([1, 2, 4])), float(rng.choice([0, 0.5, 0.9])), 5)
        for layer in extract(graph).layers:
            for p in layer.projections:
                rows, _, w = p.rows_csr(np.arange(layer.size))
                expected = np.bincount(rows[w != 0], minlength=layer.size)
                assert np.array_equal(projection_fan_in(p), expected), (trial, layer.name)
