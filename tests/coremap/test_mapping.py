"""End-to-end mapping: every mapping the tests produce passes the independent checker, respects the profile's limits,
is deterministic, and stays close to the lower bound on the core count."""

import json

import pytest

from snncc.backends.coremap import check_mapping, dumps, map_graph
from tests.coremap.nets import NETS, compiled
from tests.coremap.profiles import BUILTIN, SMALL


@pytest.mark.parametrize("profile", BUILTIN + (SMALL,), ids=lambda p: p if isinstance(p, str) else p.name)
@pytest.mark.parametrize("name", NETS)
def test_mapping_passes_the_checker_and_the_limits(mapped, name, profile):
    graph, _, doc = mapped(name, profile)
    assert check_mapping(graph, doc) == []
    p = doc["profile"]
    for core in doc["cores"]:
        assert core["neurons"] <= p["neurons_per_core"]
        assert core["input_axons"] <= p["input_axons_per_core"]
        assert core["output_axons"] <= p["output_axons_per_core"]
        assert core["memory_bits"] <= p["synapse_memory_bits_per_core"]
    s = doc["summary"]
    assert s["cores"] == len(doc["cores"]) >= s["lower_bound_cores"]
    assert s["chips"] == -(-s["cores"] // p["cores_per_chip"])
    # every neuron of every layer is placed exactly once (the checker also verifies this)
    placed = {}
    for core in doc["cores"]:
        for sl in core["slices"]:
            placed[sl["layer"]] = placed.get(sl["layer"], 0) + sl["neurons"]
    for layer in doc["layers"]:
        if layer["kind"] != "input":
            size = 1
            for d in layer["shape"]:
                size *= d
            assert placed[layer["name"]] == size


@pytest.mark.parametrize("name", NETS)
def test_cores_near_the_lower_bound_where_neurons_or_memory_bind(mapped, name):
    for profile in ("loihi", "loihi2", "spinnaker2", "generic"):
        _, _, doc = mapped(name, profile)
        assert doc["summary"]["cores"] <= max(1.15 * doc["summary"]["lower_bound_cores"],
                                              doc["summary"]["lower_bound_cores"] + 1), (name, profile)


def test_small_cores_split_layers_and_route_spikes(mapped):
    graph, _, doc = mapped("cnn", SMALL)
    assert doc["summary"]["cores"] > 3
    layers_split = {sl["layer"] for c in doc["cores"] for sl in c["slices"]}
    assert len(layers_split) == 4
    crossing = [r for r in doc["routes"] if r["source"] not in ("host", r["destination"])]
    assert crossing and all(r["axons"] > 0 for r in crossing)
    assert doc["summary"]["spikes_per_sample_crossing_cores"] == pytest.approx(
        sum(r["spikes_per_sample"] for r in crossing), rel=1e-4)
    assert doc["traffic"].startswith("recorded")


def test_same_inputs_same_bytes():
    graph, x = compiled("resnet")
    a = dumps(map_graph(graph, SMALL, x, calibration_samples=16).document)
    b = dumps(map_graph(graph, SMALL, x, calibration_samples=16).document)
    assert a == b
    doc = json.loads(a)
    assert doc["format"] == "snncc-core-map" and doc["version"] == 1
    assert len(doc["profile_sha256"]) == 64 and len(doc["source_ir_sha256"]) == 64


def test_traffic_is_weighted_by_measured_spikes(mapped):
    graph, x, doc = mapped("cnn", SMALL)
    uniform = json.loads(dumps(map_graph(graph, SMALL, None, traffic="uniform").document))
    assert uniform["traffic"].startswith("uniform")
    assert doc["summary"]["cores"] == uniform["summary"]["cores"]
    assert doc["summary"]["spikes_per_sample_crossing_cores"] != uniform["summary"]["spikes_per_sample_crossing_cores"]


def test_conv_weight_sharing_counts_kernels_once(mapped):
    from dataclasses import replace

    shared = replace(SMALL, name="shared", synapse_memory_bits_per_core=10**7)
    unshared = replace(shared, name="unshared", shared_conv_weights=False)
    _, _, a = mapped("resnet", shared)
    _, _, b = mapped("resnet", unshared)
    # unshared: every synapse stored on its own, zero weights dropped; shared: one kernel per core and channel
    assert b["summary"]["synapses"] <= a["summary"]["synapses"]
    assert b["summary"]["memory_bits"] == 8 * b["summary"]["synapses"]
    assert a["summary"]["memory_bits"] < b["summary"]["memory_bits"]
