"""Spike traffic from real spikes: compile records per-population spike rates measured on its calibration data in
the header, and `map` weighs its routes by them unless told otherwise."""

import json

import numpy as np
import pytest

import snncc
from snncc.backends.coremap import map_graph
from snncc.backends.coremap.network import MappingError
from snncc.backends.coremap.traffic import HEADER_KEY, neuron_spike_counts, parse_rates, recorded_rates
from snncc.cli import main
from snncc.data import load_npz
from snncc.errors import FormatError
from snncc.ir import save

CALIB = "models/data/digits_calib.npz"


@pytest.fixture(scope="module")
def mlp():
    x = load_npz(CALIB).x
    return snncc.compile("models/digits_cnn.onnx", "rate", timesteps=8, calibration=x), x


def test_compile_records_the_rates_it_measures(mlp):
    graph, x = mlp
    rates = recorded_rates(graph)
    populations = [n.name for n in graph.nodes if n.op == "if_neuron"]
    assert list(rates) == populations
    measured = neuron_spike_counts(graph, x[:128], 8)
    for name in populations:
        assert rates[name] == pytest.approx(float(measured[name].mean()), rel=1e-3)
    assert any(r > 0 for r in rates.values())


@pytest.fixture(scope="module")
def unrecorded():
    graph = snncc.compile("models/digits_mlp.onnx", "rate", timesteps=8, calibration=load_npz(CALIB).x,
                          record_spike_rates=False)
    assert HEADER_KEY not in graph.meta
    return graph


def test_map_weighs_routes_by_the_recorded_rates(mlp):
    graph, _ = mlp
    recorded = map_graph(graph, "spinnaker2", None).document
    assert recorded["traffic"].startswith("recorded")
    doubled = graph.with_(meta={**graph.meta, HEADER_KEY: " ".join(
        f"{k}={2 * v!r}" for k, v in recorded_rates(graph).items())})
    twice = map_graph(doubled, "spinnaker2", None).document
    crossing = lambda d: d["summary"]["spikes_per_sample_crossing_cores"]  # noqa: E731
    assert crossing(recorded) > 0
    # the file rounds to 6 significant digits: each figure is within 5e-6 of its value
    assert crossing(twice) == pytest.approx(2 * crossing(recorded), rel=1e-5)
    uniform = map_graph(graph, "spinnaker2", None, traffic="uniform").document
    assert uniform["traffic"].startswith("uniform") and crossing(uniform) != crossing(recorded)


def test_recorded_traffic_without_rates_is_refused(unrecorded):
    graph = unrecorded
    with pytest.raises(MappingError, match="no spike_rates"):
        map_graph(graph, "loihi", None, traffic="recorded")
    assert map_graph(graph, "loihi", None).document["traffic"].startswith("uniform")


@pytest.mark.parametrize("text", ["a=1 b", "a=-1", "a=nan", "a=1e999", "a b=2"])
def test_malformed_header_rates_are_a_format_error(text):
    with pytest.raises(FormatError, match="spike_rates"):
        parse_rates(text)


def test_cli_map_says_which_traffic_it_used(mlp, tmp_path, capsys):
    graph, _ = mlp
    path = tmp_path / "m.snnir"
    save(graph, str(path))
    assert main(["map", str(path), "--profile", "loihi2", "-o", str(tmp_path / "a.json")]) == 0
    assert "(recorded: spike rates measured by compile" in capsys.readouterr().out
    assert json.loads((tmp_path / "a.json").read_text())["traffic"].startswith("recorded")
    assert main(["map", str(path), "--profile", "loihi2", "--traffic", "uniform", "-o", str(tmp_path / "b.json")]) == 0
    assert "(uniform: 1 spike per neuron per sample (--traffic uniform))" in capsys.readouterr().out
    broken = graph.with_(meta={**graph.meta, HEADER_KEY: "x=oops"})
    save(broken, str(path))
    assert main(["map", str(path), "--profile", "loihi2", "-o", str(tmp_path / "c.json")]) == 2
    assert "malformed" in capsys.readouterr().err
