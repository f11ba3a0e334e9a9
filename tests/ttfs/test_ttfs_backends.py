"""TTFS in the backends: NIR export refuses it naming what NIR lacks; the core mapper places TTFS populations
(and the first-spike pool relays, which need no neuron model of their own) on profiles that list ttfs, refuses
those that do not, and the emitted standalone program runs the TTFS kernel."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import snncc
from snncc.backends.coremap import MappingError, check_mapping, dumps, map_graph
from snncc.backends.nir_export import NirExportError, export_nir
from snncc.backends.simulator import simulate
from tests.ttfs.ttfs_models import GRID, integer_input, residual_pool_cnn


@pytest.fixture(scope="module")
def graph():
    return snncc.compile(residual_pool_cnn(), "ttfs", phases=GRID)


def test_nir_export_says_what_nir_cannot_express(graph, tmp_path):
    with pytest.raises(NirExportError, match="NIR cannot express the ttfs coding: .*fires at most once"):
        export_nir(graph, tmp_path / "out.nir")


def test_core_mapping_places_ttfs_populations_and_pools(graph):
    x = integer_input(16, (1, 8, 8))
    result = map_graph(graph, "generic", x, calibration_samples=8)
    doc = json.loads(dumps(result.document))
    assert check_mapping(graph, doc) == []
    ops = {layer["name"]: layer for layer in doc["layers"]}
    assert {"clip1", "clip2", "clip3", "pool1"} <= set(ops)
    with pytest.raises(MappingError, match="cannot run the ttfs coding"):
        map_graph(graph, "loihi", x, calibration_samples=8)


def test_emitted_program_runs_the_ttfs_kernel(graph, tmp_path):
    from snncc.backends.simulator import emit_program

    x = integer_input(8, (1, 8, 8), seed=4)
    emit_program(graph, tmp_path / "prog")
    np.savez(tmp_path / "x.npz", x=x)
    out = subprocess.run([sys.executable, str(tmp_path / "prog" / "snn_program.py"), str(tmp_path / "x.npz"),
                          "--json"], capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    assert report["max_spikes_per_neuron"] == 1
    (predictions,) = report["predictions"].values()
    np.testing.assert_array_equal(predictions, simulate(graph, x, 1).predictions[1])


@pytest.mark.parametrize("coding", ["ttfs", "phase"])
def test_core_level_simulation_runs_first_spike_pools(coding):
    """Small cores cut the network; run core by core, the frames (pools included) equal the whole network's and
    the logits equal the simulator's."""
    from snncc.backends.coremap.coresim_windowed import simulate_cores_windowed, whole_network_windowed
    from snncc.backends.coremap.fan_in import as_recorded
    from snncc.backends.coremap.network import extract
    from snncc.backends.coremap.profile import profile_from_dict
    from tests.coremap.profiles import SMALL

    model, x = residual_pool_cnn(), integer_input(24, (1, 8, 8), seed=6)
    graph = snncc.compile(model, coding, phases=GRID if coding == "ttfs" else 8, calibration=x)
    doc = json.loads(dumps(map_graph(graph, SMALL, x, calibration_samples=8).document))
    assert check_mapping(graph, doc) == [] and doc["summary"]["cores"] > 1
    cores = simulate_cores_windowed(graph, doc, x)
    whole = whole_network_windowed(as_recorded(extract(graph), profile_from_dict(doc["profile"], "p"), doc), x)
    assert "pool1" in cores.frames and cores.frames["pool1"].sum() > 0
    for layer, frames in whole.frames.items():
        np.testing.assert_array_equal(cores.frames[layer], frames, err_msg=layer)
    if coding == "ttfs":   # the pool's one spike is the earliest spike of its 2x2 window
        steps = frames_step(cores.frames["clip1"]).reshape(len(x), 4, 4, 2, 4, 2).min(axis=(3, 5))
        np.testing.assert_array_equal(frames_step(cores.frames["pool1"]).reshape(len(x), 4, 4, 4), steps)
    (name, logits), = cores.readouts.items()
    np.testing.assert_allclose(logits, simulate(graph, x, 1).outputs[1], rtol=1e-5, atol=1e-3)


def frames_step(frames: np.ndarray) -> np.ndarray:
    """The step of each neuron's spike in (K, N, neurons) frames, K for a silent one."""
    assert frames.sum(axis=0).max() <= 1
    return np.where(frames.any(axis=0), frames.argmax(axis=0), frames.shape[0])
