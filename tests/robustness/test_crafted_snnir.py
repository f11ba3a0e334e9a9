"""Issue 19 item 6: a .snnir file whose structure the loader accepts but whose attributes are out of range (negative
pads, zero dilation, zero kernel, non-positive threshold, a non-finite float, a scalar output) is refused when it
is loaded, by every command, before any kernel runs it."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from snncc.cli import main
from snncc.ir import load, to_bytes
from tests.helpers import make_model
from tests.robustness.util import assert_clean_failure, run_cli


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """x[1,6,6] -> conv 3x3 pad 1 -> IF -> avg_pool 2x2 -> flatten -> dense(3), compiled with rate coding."""
    folder = tmp_path_factory.mktemp("crafted")
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("AveragePool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "w2"], ["y"], transB=1)]
    inits = {"w": rng.standard_normal((2, 1, 3, 3)).astype(np.float32), "b": np.zeros(2, np.float32),
             "w2": rng.standard_normal((3, 18)).astype(np.float32)}
    (folder / "c.onnx").write_bytes(make_model(nodes, [1, 6, 6], [3], inits).SerializeToString())
    np.savez(folder / "d.npz", x=np.abs(rng.standard_normal((8, 1, 6, 6))).astype(np.float32),
             y=rng.integers(0, 3, 8))
    assert main(["compile", str(folder / "c.onnx"), "--calib", str(folder / "d.npz"), "-o",
                 str(folder / "c.snnir"), "--no-progress"]) == 0
    return folder, load(folder / "c.snnir")


def _mutate(graph, node, **changes):
    return graph.with_(nodes=[n.replace(**changes) if n.name == node else n for n in graph.nodes])


# each keeps every declared shape consistent, so only the range check can catch it
CASES = {
    "negative conv pads": (lambda g: _mutate(g, "c", pads=(-1, -1, 3, 3)), "pads=(-1, -1, 3, 3) must be >= 0"),
    "zero dilation": (lambda g: _mutate(g, "c", dilations=(0, 0), pads=(0, 0, 0, 0)), "dilations=(0, 0)"),
    "zero pool kernel": (lambda g: _mutate(g, "p", kernel=(0, 0), strides=(3, 3)), "kernel=(0, 0) must be >= 1"),
    "negative pool pads": (lambda g: _mutate(g, "p", pads=(-1, -1, 1, 1)), "must be >= 0"),
    "negative theta": (lambda g: g.with_(constants={**g.constants, "r.theta": -g.constants["r.theta"]}),
                       "theta @r.theta must be positive"),
    "zero theta": (lambda g: g.with_(constants={**g.constants, "r.theta": 0 * g.constants["r.theta"]}),
                   "theta @r.theta must be positive"),
    "NaN v0": (lambda g: _mutate(g, "r", v0=float("nan")), "v0=nan must be a finite number"),
    "huge count": (lambda g: _mutate(g, "c", groups=1 << 40), "groups="),
    # found by the structured fuzzer: axis 0 fits the declared per-sample shape but is the batch axis at run time
    "dense on axis 0": (lambda g: _mutate(g, "y", axis=0), "axis=0 must be negative"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["eval", "map", "export-nir", "export-text", "inspect", "diff"])
def test_out_of_range_attributes_are_refused_on_load(compiled, tmp_path, capsys, case, command):
    folder, graph = compiled
    craft, needle = CASES[case]
    path = tmp_path / "bad.snnir"
    path.write_bytes(to_bytes(craft(graph)))
    args = {"eval": ["eval", path, "--data", folder / "d.npz"],
            "map": ["map", path, "--profile", "generic", "-o", tmp_path / "o.map.json"],
            "export-nir": ["export", path, "--format", "nir", "-o", tmp_path / "o.nir"],
            "export-text": ["export", path, "--format", "text", "-o", tmp_path / "o.txt"],
            "inspect": ["inspect", path], "diff": ["diff", folder / "c.snnir", path]}[command]
    code, _, err = run_cli(capsys, *args)
    assert_clean_failure(code, err, "malformed", needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.snnir"]
