"""Fan-in larger than a core on a profile with graded spikes: partial-sum relays, each within a core, whose integer
sums reach the neuron in the same step, so the cut still gives the whole-graph simulator's spikes exactly."""

import json
from dataclasses import replace

import numpy as np
import pytest

from snncc.backends.coremap import MappingError, check_mapping, dumps, load_profile, map_graph
from snncc.backends.coremap.fan_in import split_fan_in
from snncc.backends.coremap.network import ConvProjection, extract
from tests.coremap.core_equivalence import assert_cores_equal_whole_graph, assert_windowed_cores_match
from tests.coremap.nets import compiled

NARROW = replace(load_profile("generic"), name="narrow", neurons_per_core=64, input_axons_per_core=40,
                 output_axons_per_core=4096)


@pytest.mark.parametrize("name", ["digits_mlp", "cnn"])
def test_relays_keep_every_core_within_its_axons_and_the_spikes_exact(name):
    graph, x = compiled(name)
    doc = json.loads(dumps(map_graph(graph, NARROW, x, calibration_samples=16).document))
    relays = [l for l in doc["layers"] if l["kind"] == "relay"]
    assert relays and all("#partial" in l["name"] and l["op"] == "partial_sum" for l in relays)
    assert check_mapping(graph, doc) == []
    assert max(c["input_axons"] for c in doc["cores"]) <= 40
    assert_cores_equal_whole_graph(graph, x[:6], doc)
    # a file without its relays does not fit the profile, and the checker says so
    stripped = json.loads(dumps(doc))
    stripped["layers"] = [l for l in stripped["layers"] if l["kind"] != "relay"]
    assert check_mapping(graph, stripped) != []


def test_a_dense_conv_is_split_by_input_channel_blocks_that_keep_shared_kernels():
    graph, _ = compiled("cnn")
    network = extract(graph)
    # relu2 reads relu1 through avgpool2 + conv3x3 = one stride-2 6x6 conv: 8 channels x 36 taps = 288 axons
    profile = replace(NARROW, input_axons_per_core=120)     # relay groups take 90%: 108 axons
    split = split_fan_in(network, profile)
    relays = [l for l in split.layers if l.kind == "relay" and l.name.startswith("relu2")]
    assert len(relays) == 3                                      # 8 channels in blocks of 3 (108 axons)
    convs = [p for r in relays for p in r.projections]
    assert all(isinstance(p, ConvProjection) for p in convs)
    assert [p.channel_offset for p in convs] == [0, 3, 6] and [p.weight.shape[1] for p in convs] == [3, 3, 2]
    whole = network.layer("relu2").projections[0]
    np.testing.assert_array_equal(np.concatenate([p.weight for p in convs], axis=1), whole.weight)
    assert [p.source for p in split.layer("relu2").projections] == [r.name for r in relays]


def test_too_many_partial_sums_is_an_error():
    graph, x = compiled("digits_mlp")
    tiny = replace(NARROW, input_axons_per_core=4)
    with pytest.raises(MappingError, match="partial sums, more than the 4 input axons"):
        map_graph(graph, tiny, x)


def test_a_shortcut_shares_the_relay_of_the_last_channel_block():
    """relu3 = conv3x3(relu2) (8 channels x 9 taps = 72 axons) + relu1 (1 axon): with relay groups of 54 axons the
    conv takes blocks of 6 and 2 channels, and the shortcut, one axon a neuron, joins the second block's relay rather
    than being cut into relays of 54 source neurons each (8 x 8 x 8 sources: 10 relays, mostly empty)."""
    graph, x = compiled("resnet")
    profile = replace(NARROW, input_axons_per_core=60)
    split = split_fan_in(extract(graph), profile)
    relays = [l for l in split.layers if l.name.startswith("relu3#partial")]
    assert [[(p.source, type(p).__name__) for p in r.projections] for r in relays] == \
        [[("relu2", "ConvProjection")], [("relu2", "ConvProjection"), ("relu1", "ConvProjection")]]
    doc = json.loads(dumps(map_graph(graph, profile, x, calibration_samples=16).document))
    assert check_mapping(graph, doc) == []
    assert_cores_equal_whole_graph(graph, x[:6], doc)


def pointwise_model():
    """Conv3x3(8) -> HardSwish -> Conv1x1(16) -> HardSwish -> GAP -> Gemm(4): under AMOS the 1x1 conv's relu and
    rest halves each read 8 channels x 2 populations x 16 sub-neuron axons (256) with 2 Kbit kernels per channel."""
    from onnx import helper

    from tests.helpers import make_model, rand

    nodes = [helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], pads=[1, 1, 1, 1]),
             helper.make_node("HardSwish", ["c0"], ["a0"]),
             helper.make_node("Conv", ["a0", "w1", "b1"], ["c1"]),
             helper.make_node("HardSwish", ["c1"], ["a1"]),
             helper.make_node("GlobalAveragePool", ["a1"], ["gp"]),
             helper.make_node("Flatten", ["gp"], ["f"]),
             helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1)]
    init = {"w0": rand(8, 1, 3, 3, seed=0, scale=1.5), "b0": rand(8, seed=3, scale=0.1),
            "w1": rand(16, 8, 1, 1, seed=1, scale=0.5), "b1": rand(16, seed=2, scale=0.1),
            "wf": rand(4, 16, seed=11, scale=0.3), "bf": rand(4, seed=12, scale=0.1)}
    return make_model(nodes, [1, 8, 8], [4], init)


# a Loihi 2 scaled down: 16 channels' kernels x 4 positions' axons fill a core with 32 of its 128 AMOS neurons
TINY = replace(load_profile("loihi2"), name="tiny-loihi2", neurons_per_core=2048, input_axons_per_core=1024,
               synapse_memory_bits_per_core=16384)


def test_relays_pay_where_kernels_and_axons_leave_cores_empty_and_twins_share_them(monkeypatch):
    """A 1x1 conv fits a core neuron by neuron, but 8 kernels (memory) x 4 positions (axons) fill a core with 32
    neurons: relays of sqrt(A M / (b N)) = 32 axons fill whole cores (70 cores, 101 without), the relu and rest
    halves share them, and core by core the network computes the same frames and the simulator's logits."""
    import snncc
    from snncc.backends.coremap import fan_in
    from snncc.backends.coremap.fan_in import dense_cap
    from tests.amos.models import images

    calib = images(32)
    graph = snncc.compile(pointwise_model(), "amos", calibration=calib)
    assert dense_cap(TINY) == 32
    doc = json.loads(dumps(map_graph(graph, TINY, calib).document))
    assert check_mapping(graph, doc) == []
    sources = {l["name"]: [s["layer"] for s in l["sources"]] for l in doc["layers"]}
    relays = [f"a1.relu#partial{g}" for g in range(8)]       # 2 channels x 16 axons = 32 per relay neuron
    assert sources["a1.relu"] == relays and sources["a1.rest"] == relays
    assert not any(name.startswith("a1.rest#") for name in sources)
    x = images(8, seed=1)
    assert_windowed_cores_match(graph, doc, x)
    monkeypatch.setattr(fan_in, "RELAY_GAIN", 0.0)      # never voluntary: each neuron reads its sources itself
    direct = map_graph(graph, TINY, calib).document
    assert not any(l["name"].startswith("a1.") and "#partial" in l["name"] for l in direct["layers"])
    assert doc["summary"]["cores"] < 0.8 * direct["summary"]["cores"]
