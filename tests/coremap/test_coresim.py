"""The cut preserves the network: a core-level simulation that runs every core only from the spikes routed to it
gives the same spikes as the whole-graph simulator with the same quantized weights."""

import copy

import numpy as np
import pytest

from snncc.backends.coremap import MappingError, to_graph
from snncc.backends.coremap.coresim import quantized_from_mapping, simulate_cores, whole_graph_spike_trains
from tests.coremap.nets import NETS
from tests.coremap.profiles import SMALL


@pytest.mark.parametrize("profile", [SMALL, "truenorth"], ids=["small", "truenorth"])
@pytest.mark.parametrize("name", NETS)
def test_core_level_spikes_equal_whole_graph_spikes(mapped, name, profile):
    graph, x, doc = mapped(name, profile)
    x = x[:6]
    cores = simulate_cores(graph, doc, x)
    q = quantized_from_mapping(graph, doc)
    ref = whole_graph_spike_trains(to_graph(q, dict(graph.meta)), q.quantize_input(x), doc["timesteps"])
    assert set(cores.spikes) == set(ref.spikes) and cores.spikes
    for layer, trains in cores.spikes.items():
        np.testing.assert_array_equal(trains, ref.spikes[layer], err_msg=layer)
    assert sum(float(t.sum()) for t in cores.spikes.values()) > 0
    for layer, value in cores.readouts.items():
        np.testing.assert_array_equal(value, ref.readouts[layer], err_msg=layer)
    if doc["summary"]["cores"] > 1:
        assert doc["summary"]["spikes_per_sample_crossing_cores"] > 0


def test_core_level_simulation_uses_the_routing_table(mapped):
    graph, x, doc = mapped("cnn", SMALL)
    bad = copy.deepcopy(doc)
    route = next(r for r in bad["routes"] if r["source"] != "host" and r["source"] != r["destination"])
    bad["routes"].remove(route)
    with pytest.raises(MappingError, match="routing table does not carry"):
        simulate_cores(graph, bad, x[:2])


def test_quantized_graph_accuracy_close_to_float_on_digits():
    """The real pipeline on the bundled digits data: 8-bit loihi weights lose little, 2-bit truenorth weights a lot."""
    from snncc.backends.coremap import extract, load_profile, quantize
    from snncc.backends.simulator import simulate
    from tests.coremap.nets import MODELS, compiled

    graph, calib = compiled("digits_mlp")
    data = np.load(MODELS / "data" / "digits_test.npz")
    x, y = data["x"][:200].astype(np.float32), data["y"][:200]
    float_acc = simulate(graph, x, 16).accuracy(y)[16]
    acc = {}
    for name in ("loihi", "truenorth"):
        q = quantize(extract(graph), load_profile(name), calib)
        qg = to_graph(q, dict(graph.meta))
        for node in qg.nodes:
            if node.op in ("dense", "conv"):
                w = qg.constants[node.weight]
                assert np.array_equal(w, np.round(w)) and np.abs(w).max() <= load_profile(name).max_weight
        acc[name] = simulate(qg, q.quantize_input(x), 16).accuracy(y)[16]
    assert acc["loihi"] >= float_acc - 0.02
    assert acc["truenorth"] < acc["loihi"]


@pytest.mark.parametrize("profile", [SMALL, "truenorth"], ids=["small", "truenorth"])
def test_signed_coding_is_quantized_and_core_spikes_equal_whole_graph_spikes(profile):
    """Dual-threshold neurons: the file records a quantization, and +1/-1 spikes match step for step."""
    import snncc
    from snncc.backends.coremap import check_mapping, dumps, map_graph
    from tests.coremap.nets import calibration, cnn_model
    import json

    x = calibration([1, 8, 8], n=32, seed=3)
    graph = snncc.compile(cnn_model(), "signed", timesteps=4, calibration=x, theta_n=-0.25)
    doc = json.loads(dumps(map_graph(graph, profile, x, calibration_samples=16).document))
    assert doc["quantization"] is not None and check_mapping(graph, doc) == []
    cores = simulate_cores(graph, doc, x[:8])
    q = quantized_from_mapping(graph, doc)
    ref = whole_graph_spike_trains(to_graph(q, dict(graph.meta)), q.quantize_input(x[:8]), doc["timesteps"])
    assert set(cores.spikes) == set(ref.spikes) and cores.spikes
    for layer, trains in cores.spikes.items():
        np.testing.assert_array_equal(trains, ref.spikes[layer], err_msg=layer)
    assert sum(float((t > 0).sum()) for t in cores.spikes.values()) > 0
    assert sum(float((t < 0).sum()) for t in cores.spikes.values()) > 0     # -1 spikes cross the cut too
    for layer, value in cores.readouts.items():
        np.testing.assert_array_equal(value, ref.readouts[layer], err_msg=layer)
