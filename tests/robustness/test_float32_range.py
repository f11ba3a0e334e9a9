"""Issue 19 item 16: data that could overflow float32 in the simulator are refused by a sound bound (|W| row sums
times max |x| plus |b|, layer by layer; T steps of integration in each membrane and output sum), with one message
naming the node and the largest safe |x|; data at that bound simulate without a single float32 overflow."""

from __future__ import annotations

import json

import numpy as np
import pytest

import snncc
from backends.simulator import simulate
from snncc.cli import main
from snncc.float32_range import range_check, round_down
from snncc.ir import Graph, load
from tests.robustness.util import assert_clean_failure, calib, run_cli, save_model, tiny_model

N = 16


@pytest.fixture(scope="module", params=["rate", "phase"])
def compiled(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    save_model(tiny_model(), folder / "m.onnx")
    np.savez(folder / "c.npz", x=calib(32))
    assert main(["compile", str(folder / "m.onnx"), "--coding", request.param, "--calib", str(folder / "c.npz"),
                 "-o", str(folder / "m.snnir"), "--no-progress"]) == 0
    graph = load(folder / "m.snnir")
    steps = 32 if request.param == "rate" else 1
    return folder, graph, steps


def _data(value: float, sign: float = 1.0) -> np.ndarray:
    x = calib(N)
    x[3] = sign * value          # a whole sample at the bound: every weight sees it
    return x


def _float32_at_most(value: float) -> np.float32:
    v = np.float32(value)
    return v if float(v) <= value else np.nextafter(v, np.float32(0))


def test_data_at_the_safe_bound_simulate_without_any_overflow(compiled):
    _, graph, steps = compiled
    safe = range_check(graph, 32).safe_input_bound()
    assert 1e30 < safe < 3.4e38
    for sign in (1.0, -1.0):
        x = _data(float(_float32_at_most(safe)), sign)
        with np.errstate(over="raise", invalid="raise"):   # a float32 overflow anywhere raises here
            result = simulate(graph, x, [32], batch_size=N)
        assert result.predictions[32].shape == (N,)


def test_data_at_and_just_over_the_bound_on_the_command_line(compiled, tmp_path, capsys):
    folder, graph, _ = compiled
    safe = range_check(graph, 32).safe_input_bound()
    np.savez(tmp_path / "ok.npz", x=_data(float(_float32_at_most(safe)), -1.0), y=np.zeros(N, np.int64))
    code, out, err = run_cli(capsys, "eval", folder / "m.snnir", "--data", tmp_path / "ok.npz", "--json",
                             "--no-progress")
    assert code == 0, err
    assert json.loads(out)["samples"] == N
    over = float(np.nextafter(np.float32(safe * 1.001), np.float32(np.inf)))
    np.savez(tmp_path / "over.npz", x=_data(over), y=np.zeros(N, np.int64))
    code, out, err = run_cli(capsys, "eval", folder / "m.snnir", "--data", tmp_path / "over.npz", "--json",
                             "--no-progress")
    assert_clean_failure(code, err, "could overflow float32", "T=32", "%", f"inputs up to {round_down(safe)} ")
    assert out == "" and len(err.strip().splitlines()) == 1


def test_poisson_input_reads_probabilities(compiled, tmp_path, capsys):
    folder, graph, _ = compiled
    if graph.meta.get("schedule") == "windowed":
        return   # poisson input is a concurrent-schedule option
    np.savez(tmp_path / "d.npz", x=_data(3e38), y=np.zeros(N, np.int64))
    code, _, err = run_cli(capsys, "eval", folder / "m.snnir", "--data", tmp_path / "d.npz", "--input-coding",
                           "poisson", "--no-progress")
    assert code == 0, err


def test_a_network_that_overflows_whatever_the_input(compiled, tmp_path, capsys):
    folder, graph, _ = compiled
    last = next(n for n in reversed(graph.nodes) if n.op == "dense")   # fed by spikes, whatever x is
    constants = dict(graph.constants)
    constants[last.weight] = np.full_like(constants[last.weight], 3e38)
    snncc.ir.save(Graph.build(graph.nodes, graph.outputs, constants, graph.meta), tmp_path / "bad.snnir")
    np.savez(tmp_path / "d.npz", x=calib(N))
    code, _, err = run_cli(capsys, "eval", tmp_path / "bad.snnir", "--data", tmp_path / "d.npz", "--no-progress")
    assert_clean_failure(code, err, "whatever the input", f"%{last.name}")
