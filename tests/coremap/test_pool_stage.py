"""The head of a standard ONNX export (GlobalAveragePool -> Flatten -> Gemm) maps as a pooling stage feeding a dense
readout, never as one composed (classes x C*H*W) matrix: exact sums on profiles with graded spikes, composed back
when it fits a core or a spiking pooling population otherwise on profiles without them."""

import json
from dataclasses import replace

import numpy as np
import pytest

from snncc.backends.coremap import check_mapping, dumps, load_profile, map_graph, to_graph
from snncc.backends.coremap.coresim import quantized_from_mapping, whole_graph_spike_trains
from snncc.backends.coremap.network import POOL_STAGE_OP, MatrixProjection, extract
from tests.coremap.core_equivalence import assert_cores_equal_whole_graph
from tests.coremap.nets import compiled


def _mapped(profile):
    graph, x = compiled("resnet")
    doc = json.loads(dumps(map_graph(graph, profile, x, calibration_samples=16).document))
    assert check_mapping(graph, doc) == []
    return graph, x, doc


def test_extract_makes_the_global_pool_a_stage_and_the_gemm_reads_8_pooled_values():
    graph, _ = compiled("resnet")
    network = extract(graph)
    stage = next(l for l in network.layers if l.op == POOL_STAGE_OP)
    assert stage.kind == "relay" and stage.shape == (8, 1, 1)
    np.testing.assert_array_equal(stage.projections[0].weight, np.ones((8, 1, 8, 8)))   # sums, not means
    readout = next(l for l in network.layers if l.kind == "readout")
    (p,) = readout.projections
    assert isinstance(p, MatrixProjection) and p.source == stage.name and p.matrix.shape == (10, 8)


@pytest.mark.parametrize("profile", ["loihi2", "spinnaker2", "generic"])
def test_graded_profiles_send_the_pooled_sums_exactly(profile):
    graph, x, doc = _mapped(profile)
    stage = [l for l in doc["layers"] if l["op"] == POOL_STAGE_OP]
    assert len(stage) == 1 and stage[0]["kind"] == "relay"
    assert_cores_equal_whole_graph(graph, x[:4], doc)


def test_without_graded_spikes_a_head_that_fits_a_core_is_composed_back():
    graph, x, doc = _mapped("loihi")        # 8 x 8 x 8 = 512 axons per readout neuron: fits
    assert not [l for l in doc["layers"] if l["op"] == POOL_STAGE_OP]
    assert_cores_equal_whole_graph(graph, x[:4], doc)


def test_without_graded_spikes_a_head_too_wide_for_a_core_gets_a_spiking_pool():
    narrow = replace(load_profile("loihi"), name="narrow_loihi", input_axons_per_core=300)
    graph, x, doc = _mapped(narrow)
    (pool,) = [l for l in doc["layers"] if l["name"] == "gap"]
    assert pool["kind"] == "population" and pool["op"] == "if_neuron"
    assert_cores_equal_whole_graph(graph, x[:4], doc)
    # the pool spikes at the average rate: its counts are the pooled input counts / 64, to the nearest
    q = quantized_from_mapping(graph, doc)
    ref = whole_graph_spike_trains(to_graph(q, dict(graph.meta)), q.quantize_input(x[:4]), doc["timesteps"])
    pooled = ref.spikes[pool["name"]].sum(axis=0)
    relu = ref.spikes["relu3"].sum(axis=0).reshape(4, 8, 64).sum(axis=2) / 64
    assert np.all(np.abs(pooled - relu) <= 0.5 + 1e-6)
