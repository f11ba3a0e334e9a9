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
