"""Ops without spiking semantics fail clearly; poisson input is reproducible from its seed."""

from __future__ import annotations

import numpy as np
import pytest

from snncc.backends.simulator import NotLoweredError, emit_program, simulate
from snncc.ir import Dense, MaxPool, Relu
from tests.simulator.sim_graphs import NetBuilder, conv_net


def ann_graph(op):
    b = NetBuilder()
    x = b.input("x", (2, 4, 4))
    if op == "relu":
        h = b.op(Relu, "act", x)
    else:
        h = b.op(MaxPool, "act", x, kernel=(2, 2), strides=(2, 2))
    return b.graph(h)


@pytest.mark.parametrize("op", ["relu", "max_pool"])
def test_not_lowered_op_is_a_clear_error(op, tmp_path):
    graph = ann_graph(op)
    message = f"node %act ({op}) is not lowered to spiking neurons; compile with a --coding pipeline first"
    with pytest.raises(NotLoweredError) as caught:
        simulate(graph, np.zeros((1, 2, 4, 4), np.float32), 4)
    assert str(caught.value) == message
    with pytest.raises(NotLoweredError, match="is not lowered to spiking neurons"):
        emit_program(graph, tmp_path)


def test_wrong_input_shape_names_the_node():
    b = NetBuilder()
    x = b.input("x", (3,))
    graph = b.graph(b.op(Dense, "fc", x, weight=b.const("w", np.ones((2, 3)))))
    with pytest.raises(ValueError, match=r"node %x \(input\): expects per-sample shape \[3\], got \[4\]"):
        simulate(graph, np.zeros((1, 4), np.float32), 2)


def test_poisson_input_is_reproducible_with_the_seed():
    rng = np.random.default_rng(8)
    graph = conv_net(rng)
    x = rng.uniform(0, 1, (6, 2, 12, 12)).astype(np.float32)
    first = simulate(graph, x, 8, input_coding="poisson", seed=3)
    again = simulate(graph, x, 8, input_coding="poisson", seed=3)
    other = simulate(graph, x, 8, input_coding="poisson", seed=4)
    np.testing.assert_array_equal(first.outputs[8], again.outputs[8])
    assert first.spikes_per_layer == again.spikes_per_layer
    assert not np.array_equal(first.outputs[8], other.outputs[8])
    # about 8 * sum(x) input spikes per sample
    assert first.spikes_per_layer["x"] == pytest.approx(8 * x.sum() / len(x), rel=0.05)
