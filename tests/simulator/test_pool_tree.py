"""The fused max-pool tree (kernels/pool_tree.py) gives the unfused kernels' spikes and values bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import snncc
from snncc.backends.simulator import build_program, kernels
from snncc.backends.simulator.runner import program_description
from tests.helpers import make_model, rand


def pool_model(kernel, strides, pads):
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=kernel, strides=strides, pads=pads),
             helper.make_node("Flatten", ["p1"], ["f"]),
             helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], transB=1)]
    oh = (9 + pads[0] + pads[2] - kernel[0]) // strides[0] + 1
    ow = (9 + pads[1] + pads[3] - kernel[1]) // strides[1] + 1
    inits = {"w1": rand(4, 1, 3, 3, seed=1), "b1": rand(4, seed=2) * 0.1,
             "w2": rand(5, 4 * oh * ow, seed=3) * 0.3, "b2": rand(5, seed=4)}
    return make_model(nodes, (1, 9, 9), (5,), inits)


@pytest.fixture(autouse=True)
def fuse_every_tree(monkeypatch):
    """These programs are tiny: fuse their trees at any batch size (the default fuses only large batches)."""
    monkeypatch.setattr(kernels.base, "POOL_TREE_MIN_WINDOWS", 0)


def run_both(program, x, coding, t=(3, 12)):
    return {path: kernels.simulate_program(program, {program.inputs[0]: x}, list(t), input_coding=coding, seed=5,
                                           batch_size=4, synaptic_path=path) for path in ("dense", "auto")}


def assert_identical(results):
    dense, fused = results["dense"], results["auto"]
    for name, per_t in dense["outputs"].items():
        for t, value in per_t.items():
            np.testing.assert_array_equal(fused["outputs"][name][t], value, err_msg=f"{name} T={t}")
    assert fused["spikes_per_layer"] == dense["spikes_per_layer"]
    assert fused["synops_per_sample"] == dense["synops_per_sample"]


@pytest.mark.parametrize("kernel, strides, pads", [([2, 2], [2, 2], [0, 0, 0, 0]),       # tiles, odd size cut
                                                   ([3, 3], [2, 2], [1, 1, 1, 1]),       # overlapping, padded, 9 taps
                                                   ([2, 3], [1, 2], [0, 1, 0, 1])])
@pytest.mark.parametrize("coding", ["analog", "poisson"])
@pytest.mark.parametrize("snn_coding", ["rate", "signed"])
def test_fused_tree_equals_unfused(kernel, strides, pads, coding, snn_coding):
    x = np.abs(rand(10, 1, 9, 9, seed=6))
    graph = snncc.compile(pool_model(kernel, strides, pads), snn_coding, calibration=x, record_spike_rates=False)
    program = build_program(graph)
    (tree,) = program.pool_trees
    assert {k.op for k in tree.neurons} == {"if_neuron" if snn_coding == "rate" else "signed_neuron"}
    assert len(tree.members) == kernel[0] * kernel[1] + 4 * (kernel[0] * kernel[1] - 1)
    results = run_both(program, x, coding)
    assert_identical(results)
    assert results["auto"]["path_counts"][tree.name] == {"pool-tree": 12 * 3}
    assert tree.name not in results["dense"]["path_counts"]


def test_pending_neurons_fire_in_silent_windows():
    # the tree neurons' thresholds cut to 1/8: a membrane can stay >= theta after its reset and fire again when its
    # window has no input spike; the fused kernel must still visit those windows
    x = np.abs(rand(10, 1, 9, 9, seed=7))
    graph = snncc.compile(pool_model([2, 2], [2, 2], [0, 0, 0, 0]), "rate", calibration=x, record_spike_rates=False)
    description = program_description(graph)
    constants = dict(graph.constants)
    for node in description["nodes"]:
        if node["op"] == "if_neuron" and ".max" in node["name"]:
            low = node["name"] + ".theta_low"
            constants[low] = np.asarray(constants[node["consts"]["theta"]]) / np.float32(8)
            node["consts"]["theta"] = low
    program = kernels.Program(description, constants)
    results = run_both(program, x, "poisson")
    assert_identical(results)
    assert results["auto"]["path_counts"][program.pool_trees[0].name]["pool-tree"] == 12 * 3


def test_auto_fuses_only_large_batches(monkeypatch):
    # under "auto" a tree is fused when batch x windows reaches POOL_TREE_MIN_WINDOWS (at small batches the whole-array
    # ops of its members are cheaper); "event" always fuses; either way the results are the unfused ones
    x = np.abs(rand(10, 1, 9, 9, seed=6))
    graph = snncc.compile(pool_model([2, 2], [2, 2], [0, 0, 0, 0]), "rate", calibration=x, record_spike_rates=False)
    program = build_program(graph)
    (tree,) = program.pool_trees
    windows = int(np.prod(tree.shape))                    # 4 x 4 x 4 per sample
    monkeypatch.setattr(kernels.base, "POOL_TREE_MIN_WINDOWS", 5 * windows)
    runs = {(path, batch): kernels.simulate_program(program, {program.inputs[0]: x}, 6, input_coding="poisson",
                                                    seed=5, batch_size=batch, synaptic_path=path)
            for path, batch in (("auto", 4), ("auto", 5), ("event", 4), ("dense", 4), ("dense", 5))}
    assert tree.name not in runs["auto", 4]["path_counts"]
    assert runs["auto", 5]["path_counts"][tree.name] == {"pool-tree": 6 * 2}      # batches of 5 and 5
    assert runs["event", 4]["path_counts"][tree.name] == {"pool-tree": 6 * 3}     # 4, 4 and 2
    for (path, batch), run in runs.items():       # Poisson draws depend on the batch: compare at the same batch
        assert run["spikes_per_layer"] == runs["dense", batch]["spikes_per_layer"]


def test_signed_neurons_below_their_low_threshold_fire_in_silent_windows():
    # signed tree neurons with theta_n = 3/4: after a +1 spike the membrane is usually below 3/4 theta with n > 0, so
    # the neuron sends -1 at the next step whether or not its window has input; the fused kernel must visit it
    x = np.abs(rand(10, 1, 9, 9, seed=7))
    graph = snncc.compile(pool_model([2, 2], [2, 2], [0, 0, 0, 0]), "signed", calibration=x,
                          record_spike_rates=False)
    description = program_description(graph)
    for node in description["nodes"]:
        if node["op"] == "signed_neuron" and ".max" in node["name"]:
            node["attrs"]["theta_n"] = 0.75
    program = kernels.Program(description, dict(graph.constants))
    (tree,) = program.pool_trees
    silent_low = [0]
    step = tree.step

    def counting_step(t):      # neurons that fire -1 without input: pending on the low side in a silent window
        tree.padded is None or tree.padded.refresh()
        quiet = ~np.any(np.stack([np.asarray(w) != 0 for w in tree.windows]), axis=0)
        for neuron in tree.neurons:
            silent_low[0] += int(np.sum(quiet & (neuron.v < neuron.low) & (neuron.n > 0)))
        step(t)

    tree.step = counting_step
    results = run_both(program, x, "poisson")
    assert_identical(results)
    assert silent_low[0] > 0
