"""The cut preserves the windowed codings too: phase, bits, AMOS and TTFS networks run core by core from the frames
routed to each core give the same frames as the whole network evaluated without cores, and the simulator's output."""

import copy
import json
from dataclasses import replace
from functools import lru_cache

import numpy as np
import pytest

import snncc
from snncc.backends.coremap import MappingError, check_mapping, dumps, map_graph
from snncc.backends.coremap.coresim_windowed import simulate_cores_windowed, whole_network_windowed
from snncc.backends.coremap.fan_in import as_recorded
from snncc.backends.coremap.network import extract
from snncc.backends.coremap.profile import profile_from_dict
from snncc.backends.simulator import simulate
from tests.coremap.nets import MODELS, compiled
from tests.coremap.profiles import SMALL
from tests.coremap.core_equivalence import assert_windowed_cores_match

# few input axons: the digits CNN's conv and dense fan-in is cut into partial-sum relays
RELAYS = replace(SMALL, name="small-relays", input_axons_per_core=100)


@lru_cache(maxsize=None)
def bundled(model: str, coding: str, timesteps: int):
    x = np.load(MODELS / "data" / "digits_calib.npz", allow_pickle=False)["x"][:64].astype(np.float32)
    return snncc.compile(str(MODELS / f"{model}.onnx"), coding, timesteps=timesteps, calibration=x)


def digits(n: int = 40) -> np.ndarray:
    return np.load(MODELS / "data" / "digits_test.npz", allow_pickle=False)["x"][:n].astype(np.float32)


def mapped_doc(graph, profile):
    doc = json.loads(dumps(map_graph(graph, profile, digits(64)).document))
    assert check_mapping(graph, doc) == []
    return doc


CASES = [("digits_cnn", "phase", 32, SMALL), ("digits_cnn", "phase", 32, RELAYS), ("digits_cnn", "bits", 6, SMALL),
         ("digits_cnn", "bits", 6, "loihi2"), ("digits_silu", "amos", 32, "loihi2"),
         ("digits_silu", "amos", 32, "spinnaker2"), ("digits_cnn", "ttfs", 32, SMALL),
         ("digits_cnn", "ttfs", 32, RELAYS), ("digits_mlp", "ttfs", 32, "loihi2")]


@pytest.mark.parametrize("model,coding,timesteps,profile", CASES,
                         ids=[f"{m}-{c}-{getattr(p, 'name', p)}" for m, c, _, p in CASES])
def test_core_level_frames_equal_the_whole_network(model, coding, timesteps, profile):
    graph = bundled(model, coding, timesteps)
    doc = mapped_doc(graph, profile)
    x = digits()
    cores = simulate_cores_windowed(graph, doc, x)
    whole = whole_network_windowed(as_recorded(extract(graph), profile_from_dict(doc["profile"], "p"), doc), x)
    assert set(cores.frames) == set(whole.frames) and cores.frames
    for layer, frames in whole.frames.items():
        np.testing.assert_array_equal(cores.frames[layer], frames, err_msg=layer)
    assert sum(float(f.sum()) for f in cores.frames.values()) > 0
    if profile is RELAYS:
        assert any(layer["kind"] == "relay" for layer in doc["layers"])
    if doc["summary"]["cores"] > 1:
        assert doc["summary"]["spikes_per_sample_crossing_cores"] > 0
    # and the same logits as the simulator on the compiled graph (float32 there, float64 here)
    (name, logits), = cores.readouts.items()
    np.testing.assert_allclose(logits, whole.readouts[name], rtol=0, atol=1e-9)
    reference = simulate(graph, x, timesteps).outputs[timesteps]
    np.testing.assert_allclose(logits, reference, rtol=1e-4, atol=1e-4)


def test_windowed_core_simulation_uses_the_routing_table():
    graph = bundled("digits_cnn", "phase", 32)
    doc = mapped_doc(graph, SMALL)
    bad = copy.deepcopy(doc)
    route = next(r for r in bad["routes"] if r["source"] != "host" and r["source"] != r["destination"])
    bad["routes"].remove(route)
    with pytest.raises(MappingError, match="routing table does not carry"):
        simulate_cores_windowed(graph, bad, digits(2))


def test_windowed_core_simulation_refuses_rate_networks():
    graph, x = compiled("cnn")
    doc = json.loads(dumps(map_graph(graph, SMALL, x, calibration_samples=8).document))
    with pytest.raises(MappingError, match="not a windowed population"):
        simulate_cores_windowed(graph, doc, x[:2])


def hardswish_se_model():
    """Conv -> HardSwish (lowered as relu + a staircase: two populations) -> Conv -> HardSwish, a HardSigmoid
    squeeze-excitation gate, x * gate, Conv -> Relu, Gemm: the second conv and the product's first operand each
    read the sum of two populations."""
    from onnx import helper

    from tests.helpers import make_model, rand

    nodes = [helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], pads=[1, 1, 1, 1]),
             helper.make_node("HardSwish", ["c0"], ["a0"]),
             helper.make_node("Conv", ["a0", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("HardSwish", ["c1"], ["a1"]),
             helper.make_node("GlobalAveragePool", ["a1"], ["gp"]),
             helper.make_node("Conv", ["gp", "wse", "bse"], ["se"]),
             helper.make_node("HardSigmoid", ["se"], ["gate"]),
             helper.make_node("Mul", ["a1", "gate"], ["scaled"]),
             helper.make_node("Conv", ["scaled", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("Flatten", ["r2"], ["f"]),
             helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1)]
    init = {"w0": rand(3, 1, 3, 3, seed=0, scale=1.5), "b0": rand(3, seed=3, scale=0.1),
            "w1": rand(4, 3, 3, 3, seed=1, scale=0.8), "b1": rand(4, seed=2, scale=0.1),
            "wse": rand(4, 4, 1, 1, seed=7), "bse": rand(4, seed=8, scale=0.1),
            "w2": rand(6, 4, 3, 3, seed=9, scale=0.3), "b2": rand(6, seed=10, scale=0.1),
            "wf": rand(10, 6 * 4 * 4, seed=11, scale=0.3), "bf": rand(10, seed=12, scale=0.1)}
    return make_model(nodes, [1, 8, 8], [10], init)


@pytest.mark.parametrize("model,profile", [("silu", SMALL), ("silu", "spinnaker2"), ("hardswish", "loihi2")],
                         ids=["silu-small", "silu-spinnaker2", "hardswish-loihi2"])
def test_squeeze_excitation_products_map_as_product_relays(model, profile):
    """x * sigmoid(s), a mul of two activations that AMOS keeps analog, is a product relay: one neuron per element
    reads each operand's value (the sum of the populations it reads: HardSwish is two) and sends the product; core
    by core it gives the whole network's frames and the simulator's logits."""
    from tests.amos.models import images, silu_se_model

    calib = images(32)
    graph = snncc.compile(silu_se_model() if model == "silu" else hardswish_se_model(), "amos", calibration=calib)
    product = next(n for n in graph.nodes if n.op == "mul")
    doc = json.loads(dumps(map_graph(graph, profile, calib).document))
    assert check_mapping(graph, doc) == []
    layer = next(l for l in doc["layers"] if l["name"] == product.name)
    assert (layer["kind"], layer["op"], len(layer["sources"])) == ("relay", "product", 2 if model == "silu" else 3)
    if model == "hardswish":     # a conv of relu + staircase stays two shared-kernel convs
        assert any(len(l["sources"]) == 2 and all(s["kind"] == "conv" for s in l["sources"])
                   for l in doc["layers"] if l["kind"] == "population")
    placed = sum(s["neurons"] for c in doc["cores"] for s in c["slices"] if s["layer"] == product.name)
    assert placed == int(np.prod(product.type.shape))      # one neuron per element
    x = images(20, seed=1)
    assert_windowed_cores_match(graph, doc, x)
