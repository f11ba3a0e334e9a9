"""Spike traffic from real spikes: compile records per-population spike rates measured on its calibration data in
the header, and `map` weighs its routes by them unless told otherwise."""

import json
import tracemalloc

import numpy as np
import pytest

import snncc
from snncc.backends.coremap import map_graph
from snncc.backends.coremap.network import MappingError
from snncc.backends.coremap import traffic
from snncc.backends.coremap.traffic import (HEADER_KEY, RATE_SAMPLES, STATE_BYTES_PER_ELEMENT, format_rates,
                                           neuron_spike_counts, parse_rates, recorded_rates, traffic_batch)
from snncc.cli import main
from snncc.data import load_npz
from snncc.errors import FormatError
from snncc.ir import save
from snncc.limits import memory_cap

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
    measured = neuron_spike_counts(graph, x[:RATE_SAMPLES], 8)
    for name in populations:
        assert rates[name] == pytest.approx(float(measured[name].mean()), rel=1e-3)
    assert any(r > 0 for r in rates.values())


def test_compile_simulates_only_the_first_rate_samples_rows(monkeypatch):
    """The rates weigh routes, so compile measures them on RATE_SAMPLES rows, not the whole calibration set (on an
    OriNet the simulation of 64 rows took 68 of 94 s of compile): the header is exactly that subset's rates."""
    x = load_npz(CALIB).x[:64]
    simulated = []

    def spy(graph, rows, timesteps, **kwargs):
        simulated.append(len(rows))
        return neuron_spike_counts(graph, rows, timesteps, **kwargs)

    monkeypatch.setattr(traffic, "neuron_spike_counts", spy)
    graph = snncc.compile("models/digits_mlp.onnx", "rate", timesteps=8, calibration=x)
    assert simulated == [RATE_SAMPLES] and RATE_SAMPLES <= 16
    expected = {k: float(v.mean()) for k, v in neuron_spike_counts(graph, x[:RATE_SAMPLES], 8).items()}
    assert graph.meta[HEADER_KEY] == format_rates({n.name: expected[n.name] for n in graph.nodes if n.name in expected})


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


def test_spike_counts_run_in_batches_the_memory_cap_sizes(mlp):
    """compile's spike-rate measurement holds one batch of simulator state, sized from the memory cap (a ResNet-50
    at 64 x 64 held 2.3 GB for 64 samples at once); the counts do not depend on the batch."""
    graph, x = mlp
    per_sample = STATE_BYTES_PER_ELEMENT * sum(int(np.prod(n.type.shape)) for n in graph.nodes)
    with memory_cap(16 * 4 * per_sample):
        assert traffic_batch(graph) == 4
    assert traffic_batch(graph) == 128
    counts, peaks = {}, {}
    for batch in (4, 64):
        tracemalloc.start()
        counts[batch] = neuron_spike_counts(graph, x[:64], 8, batch_size=batch)
        peaks[batch] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert counts[4].keys() == counts[64].keys()
    assert all(np.array_equal(counts[4][k], counts[64][k]) for k in counts[4])
    assert peaks[4] < peaks[64] / 4
