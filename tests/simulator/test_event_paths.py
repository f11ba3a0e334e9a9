"""The event-driven synaptic paths compute what the dense paths compute."""

from __future__ import annotations

import numpy as np
import pytest

from snncc.backends.simulator import simulate
from snncc.ir import AvgPool, Conv, Dense, Flatten
from tests.simulator.sim_graphs import NetBuilder, conv_net, mlp

PATHS = ("dense", "event", "auto")


def run_paths(graph, x, t, **kw):
    return {p: simulate(graph, x, t, synaptic_path=p, **kw) for p in PATHS}


def dyadic_input(rng, shape):
    return (np.round(rng.uniform(0, 1, shape) * 16) / 16).astype(np.float32)


@pytest.mark.parametrize("coding", ["analog", "poisson"])
def test_exact_arithmetic_conv_net_paths_identical(coding):
    # dyadic weights and thresholds: every float sum is exact, so spike trains must match bit for bit
    rng = np.random.default_rng(1)
    graph = conv_net(rng, dyadic=True)
    x = dyadic_input(rng, (12, 2, 12, 12))
    results = run_paths(graph, x, 16, input_coding=coding)
    for path in ("event", "auto"):
        np.testing.assert_array_equal(results[path].outputs[16], results["dense"].outputs[16])
        assert results[path].spikes_per_layer == results["dense"].spikes_per_layer
        assert results[path].synops_per_sample == results["dense"].synops_per_sample


def test_exact_arithmetic_mlp_paths_identical():
    rng = np.random.default_rng(2)
    graph = mlp(rng, sizes=(20, 64, 48, 10), theta=0.5, dyadic=True)
    x = dyadic_input(rng, (40, 20))
    results = run_paths(graph, x, 16)
    for path in ("event", "auto"):
        np.testing.assert_array_equal(results[path].outputs[16], results["dense"].outputs[16])


def single_layer(rng, shape, layer, **attrs):
    """poisson input (binary events) -> one synaptic layer (the output): compares the synaptic paths alone."""
    b = NetBuilder()
    x = b.input("x", shape)
    if layer == "conv":
        o, c, k = attrs.pop("out"), shape[0], attrs.pop("k")
        w = b.const("w", rng.normal(0, 1, (o, c // attrs.get("groups", 1), k, k)))
        return b.graph(b.op(Conv, "y", x, weight=w, bias=b.const("b", rng.normal(0, 1, o)), **attrs))
    o = attrs.pop("out")
    axis = attrs.get("axis", -1)
    w = b.const("w", rng.normal(0, 1, (o, shape[axis])))
    out_shape = list(shape)
    out_shape[axis] = o
    bias = b.const("b", rng.normal(0, 1, out_shape[-1]))          # broadcasts against the per-sample output
    return b.graph(b.op(Dense, "y", x, weight=w, bias=bias, **attrs))


CONV_CASES = [
    dict(out=6, k=3, pads=(1, 1, 1, 1)),
    dict(out=6, k=3, strides=(2, 2), pads=(1, 0, 1, 2)),
    dict(out=4, k=3, dilations=(2, 2), pads=(2, 2, 2, 2)),
    dict(out=8, k=3, groups=2, pads=(1, 1, 1, 1)),
    dict(out=4, k=3, groups=4, strides=(2, 1)),
    dict(out=5, k=1),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("rate", [0.02, 0.5])
def test_conv_event_path_matches_dense(case, rate):
    rng = np.random.default_rng(4)
    graph = single_layer(rng, (4, 9, 10), "conv", **dict(case))
    x = np.full((7, 4, 9, 10), rate, np.float32)
    results = run_paths(graph, x, 6, input_coding="poisson", seed=9)
    for path in ("event", "auto"):
        np.testing.assert_allclose(results[path].outputs[6], results["dense"].outputs[6], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape,axis", [((50,), -1), ((6, 30), -1), ((30, 6), -2)])
@pytest.mark.parametrize("rate", [0.02, 0.5])
def test_dense_event_path_matches_dense(shape, axis, rate):
    rng = np.random.default_rng(5)
    graph = single_layer(rng, shape, "dense", out=64, axis=axis)
    x = np.full((9,) + shape, rate, np.float32)
    results = run_paths(graph, x, 6, input_coding="poisson", seed=2)
    for path in ("event", "auto"):
        np.testing.assert_allclose(results[path].outputs[6], results["dense"].outputs[6], rtol=1e-5, atol=1e-5)


def test_scaled_and_pooled_spikes_reach_dense_and_conv():
    # per-channel out_scale folded into the dense weights, and non-binary events (avg-pooled spikes) into a conv
    rng = np.random.default_rng(6)
    b = NetBuilder()
    x = b.input("x", (3, 8, 8))
    h = b.op(Conv, "c1", x, weight=b.const("c1.w", rng.normal(0, 0.5, (8, 3, 3, 3))), pads=(1, 1, 1, 1))
    theta = rng.uniform(0.5, 1.5, (8, 1, 1))
    h = b.neuron("n1", h, theta, out_scale=theta)
    p = b.op(AvgPool, "pool", h, kernel=(2, 2), strides=(2, 2))
    h = b.op(Conv, "c2", p, weight=b.const("c2.w", rng.normal(0, 0.5, (8, 8, 3, 3))), pads=(1, 1, 1, 1))
    h = b.neuron("n2", h, 1.0, out_scale=rng.uniform(0.5, 1.5, (8, 1, 1)))
    f = b.op(Flatten, "flat", h)
    y = b.op(Dense, "fc", f, weight=b.const("fc.w", rng.normal(0, 0.2, (64, 128))))
    graph = b.graph(y)
    x = rng.uniform(0, 1, (10, 3, 8, 8)).astype(np.float32)
    results = run_paths(graph, x, 4)
    for path in ("event", "auto"):
        np.testing.assert_allclose(results[path].outputs[4], results["dense"].outputs[4], rtol=1e-5, atol=1e-5)
