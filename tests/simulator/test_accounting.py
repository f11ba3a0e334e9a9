"""Spike counts, SynOps, MACs and energy on networks small enough to count by hand."""

from __future__ import annotations

import numpy as np
import pytest

from snncc.backends.simulator import build_program, simulate
from snncc.ir import AvgPool, Conv, Dense, Flatten
from snncc.ir.numeric import conv2d
from tests.simulator.sim_graphs import NetBuilder


def tiny_mlp():
    """x (2) -> dense 3x2 -> IF (theta 1, v0 0) -> dense 2x3. With x = (1, 0) the hidden currents are
    (0.5, 1, 0.25): over T = 8 steps 4 + 8 + 2 = 14 spikes, reaching 2, 2 and 1 output neurons (the synapses that
    exist: w2[1, 2] = 0). fc1 has 3 synapses (x[1]'s weights are 0), fc2 5."""
    b = NetBuilder()
    x = b.input("x", (2,))
    h = b.op(Dense, "fc1", x, weight=b.const("w1", [[0.5, 0], [1, 0], [0.25, 0]]))
    h = b.neuron("if1", h, 1.0, v0=0.0)
    return b.graph(b.op(Dense, "fc2", h, weight=b.const("w2", [[1, 1, 1], [1, -1, 0]])))


def test_tiny_mlp_counts():
    result = simulate(tiny_mlp(), np.array([[1, 0], [1, 0]], np.float32), 8)
    assert result.spikes_per_layer == {"if1": 14.0}
    assert result.spikes_per_sample == 14.0
    assert result.synops_per_sample == 4 * 2 + 8 * 2 + 2 * 1
    assert result.ann_macs_per_sample == 3 + 5
    assert result.snn_macs_per_sample == 3 * 8              # fc1 reads the analog input at every step
    assert result.max_spikes_per_neuron == 8
    assert result.energy_ratio == pytest.approx(4.6 * 8 / (0.9 * 26 + 4.6 * 24))
    np.testing.assert_allclose(result.outputs[8], [[(4 + 8 + 2) / 8, (4 - 8) / 8]] * 2)


def test_poisson_input_spikes_are_synaptic_events():
    result = simulate(tiny_mlp(), np.array([[1, 0]], np.float32), 8, input_coding="poisson")
    assert result.spikes_per_layer["x"] == 8.0              # p = 1 on the first input, 0 on the second
    assert result.snn_macs_per_sample == 0
    assert result.synops_per_sample == 8 * 3 + 26      # x[0] fires every step (p = 1): the analog run's spikes


@pytest.mark.parametrize("attrs", [dict(pads=(1, 1, 1, 1)), dict(strides=(2, 2), pads=(0, 1, 1, 0)),
                                   dict(dilations=(2, 1), pads=(2, 0, 1, 1)), dict(groups=2, strides=(1, 2))])
def test_conv_fanout_is_exact(attrs):
    """fan-out of input (c, h, w) = output positions x output channels it touches, counted by brute force."""
    b = NetBuilder()
    x = b.input("x", (4, 5, 6))
    groups = attrs.get("groups", 1)
    b.op(Conv, "c", x, weight=b.const("w", np.ones((6, 4 // groups, 3, 3))), **attrs)
    graph = b.graph("c")
    fanout = build_program(graph).fanout["x"]
    one_hot = np.eye(4 * 5 * 6, dtype=np.float32).reshape(-1, 4, 5, 6)
    touched = conv2d(one_hot, np.ones((6, 4 // groups, 3, 3), np.float32), None, attrs.get("strides", (1, 1)),
                     attrs.get("pads", (0, 0, 0, 0)), attrs.get("dilations", (1, 1)), groups)
    np.testing.assert_array_equal(fanout.reshape(-1), np.count_nonzero(touched.reshape(len(one_hot), -1), axis=1))


def test_fanout_passes_through_pooling_and_flatten():
    b = NetBuilder()
    x = b.input("x", (2, 4, 4))
    h = b.neuron("n", x, 1.0)
    p = b.op(AvgPool, "pool", h, kernel=(2, 2), strides=(2, 2))
    f = b.op(Flatten, "flat", p)
    b.op(Dense, "fc", f, weight=b.const("w", np.ones((3, 8))))
    program = build_program(b.graph("fc"))
    np.testing.assert_array_equal(program.fanout["n"], np.full((2, 4, 4), 3.0))
    assert program.ann_macs == 3 * 8


def test_spikes_per_sample_and_synops_on_a_conv_layer():
    # constant current 1/2 into IF (v0 = 0) on a 1x3x3 map: each neuron spikes T/2 times; the 3x3 conv (pad 1)
    # after it gives the centre fan-out 9, edges 6 and corners 4, times 2 output channels
    b = NetBuilder()
    x = b.input("x", (1, 3, 3))
    h = b.neuron("n", x, 1.0, v0=0.0)
    b.op(Conv, "c", h, weight=b.const("w", np.ones((2, 1, 3, 3))), pads=(1, 1, 1, 1))
    result = simulate(b.graph("c"), np.full((3, 1, 3, 3), 0.5, np.float32), 8)
    assert result.spikes_per_layer == {"n": 9 * 4.0}
    assert result.synops_per_sample == 4.0 * 2 * (9 + 4 * 6 + 4 * 4)
    assert result.snn_macs_per_sample == 0
