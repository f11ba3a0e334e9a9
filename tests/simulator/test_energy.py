"""Energy accounting (45 nm figures): synapses that exist, weighted spikes priced as multiply-accumulates, bias
currents and non-spiking products counted, the ratio at every T, and the words saying which side costs more."""

import numpy as np
import pytest

import snncc
from snncc.backends.simulator import build_program, simulate
from snncc.evaluate import energy_words, evaluate, format_report
from snncc.data import Dataset
from snncc.ir import Conv, Dense, Mul
from snncc.ir.numeric import conv2d
from tests.simulator.sim_graphs import NetBuilder

ACC, MUL, MAC = 0.9, 3.7, 4.6
CALIB = np.load("models/data/digits_calib.npz")["x"]
TEST = np.load("models/data/digits_test.npz")


def _energy(result) -> float:
    """The SNN's energy per sample from its parts."""
    plain = result.synops_per_sample - result.weighted_synops_per_sample
    return (ACC * plain + MAC * result.weighted_synops_per_sample + MAC * result.snn_macs_per_sample
            + ACC * result.bias_adds_per_sample + MUL * result.multiplies_per_sample)


def test_conv_fanout_counts_only_non_zero_weights():
    weight = np.random.default_rng(0).normal(size=(6, 2, 3, 3)).astype(np.float32)
    weight[np.random.default_rng(1).random(weight.shape) < 0.6] = 0
    b = NetBuilder()
    x = b.input("x", (4, 5, 6))
    b.op(Conv, "c", x, weight=b.const("w", weight), pads=(1, 1, 1, 1), groups=2)
    program = build_program(b.graph("c"))
    one_hot = np.eye(4 * 5 * 6, dtype=np.float32).reshape(-1, 4, 5, 6)
    reached = conv2d(one_hot, (weight != 0).astype(np.float32), None, (1, 1), (1, 1, 1, 1), (1, 1), 2)
    expected = np.count_nonzero(reached.reshape(len(one_hot), -1), axis=1)
    np.testing.assert_array_equal(program.fanout["x"].reshape(-1), expected)
    assert program.ann_macs == expected.sum() < 6 * 5 * 6 * 2 * 9   # no MAC for a zero weight or a padded tap


def test_bias_currents_and_products_are_counted_every_step():
    """x (3) -> dense with bias -> IF a, IF b; a * b (not spiking) -> dense. Per step: 3 bias adds, 3 products."""
    b = NetBuilder()
    x = b.input("x", (3,))
    h = b.op(Dense, "fc", x, weight=b.const("w", np.eye(3)), bias=b.const("b", [0.1, 0.2, 0.3]))
    product = b.op(Mul, "prod", [b.neuron("a", h, 1.0), b.neuron("b", h, 2.0)])
    graph = b.graph(b.op(Dense, "out", product, weight=b.const("w2", np.ones((2, 3)))))
    result = simulate(graph, np.full((4, 3), 0.5, np.float32), [2, 8])
    assert result.bias_adds_per_sample == 3 * 8 and result.multiplies_per_sample == 3 * 8
    assert result.snn_energy_pj == pytest.approx(_energy(result))
    assert result.ann_energy_pj == pytest.approx(MAC * (3 + 6) + ACC * 3 + MUL * 3)


@pytest.mark.parametrize("coding, options, weighted", [("phase", {}, True), ("phase", {"multi_spike": True}, False),
                                                       ("bits", {"timesteps": 3}, False), ("rate", {}, False)])
def test_weighted_spikes_are_priced_as_multiply_accumulates(coding, options, weighted):
    """Phase spikes weigh theta B^-k with a searched B < 2 (a multiply at the synapse); bits' 2^(T-k) and B = 2 are
    shifts; a rate spike weighs theta, folded into the weights."""
    graph = snncc.compile("models/digits_mlp.onnx", coding, calibration=CALIB, **options)
    result = simulate(graph, TEST["x"][:20], 8)
    assert result.synops_per_sample > 0
    if weighted:
        assert result.weighted_synops_per_sample == pytest.approx(result.synops_per_sample)
    else:
        assert result.weighted_synops_per_sample == 0
    assert result.snn_energy_pj == pytest.approx(_energy(result))


def test_energy_ratio_at_every_t_and_in_words():
    graph = snncc.compile("models/digits_mlp.onnx", timesteps=64, calibration=CALIB)
    data = Dataset(TEST["x"][:30], TEST["y"][:30], None)
    report = evaluate(graph, data, [4, 16, 64])
    ratios = [report.energy_ratio[t] for t in (4, 16, 64)]
    assert ratios[0] > ratios[1] > ratios[2] > 0          # more steps, more spikes: the SNN's share grows
    text = format_report(report)
    assert f"energy: {energy_words(report.energy_ratio[64], 64)}" in text
    assert energy_words(0.1, 64) == "the SNN uses 10x the ANN's energy at T=64"
    assert energy_words(4.0, 8) == "the SNN uses 0.25x the ANN's energy (the ANN 4x the SNN's) at T=8"
