"""The shipped table (errors measured here by fs_forward, not read from the file), its format, and get_circuit."""

import importlib.resources
import json

import numpy as np
import pytest

from snncc.gates import (FitSettings, GateTableError, approximation_error, fs_forward, get_circuit, get_gate,
                         parse_gate_table, read_gate_table, relu_circuit, shipped_gate_table, spike_counts,
                         write_gate_table)
from snncc.gates.build_table import TableEntry, build_gate_table
from snncc.gates.table import TABLE_FILE, WIDER_RANGE_TOLERANCE, _refit, format_gate_table

QUICK = FitSettings(restarts=4, steps=150, halving_interval=50, survivors=2, polish_sweeps=2, eval_points=10_001)


def measured_error(gate: str, K: int, x_range: tuple[float, float]) -> tuple[float, float, float]:
    """(max abs error, MSE, mean spikes) of the tabled circuit on 100001 uniform points of x_range."""
    circuit = shipped_gate_table().lookup(gate, K, x_range)
    assert circuit is not None, f"no table entry for {gate} K={K} on {x_range}"
    x = np.linspace(*x_range, 100_001)
    y, spikes = fs_forward(x, circuit)
    error = y - get_gate(gate).function(x)
    return float(np.abs(error).max()), float(np.mean(error**2)), float(spike_counts(spikes).mean())


def test_shipped_table_is_small_and_covers_the_required_gates():
    data = importlib.resources.files("snncc.gates").joinpath(TABLE_FILE).read_bytes()
    assert len(data) < 200_000
    document = json.loads(data)
    assert document["format"] == "snncc-fs-gate-table" and document["version"] == 1
    keys = {(circuit.gate, circuit.K) for circuit in shipped_gate_table().circuits}
    for K in range(4, 17):
        assert ("sigmoid", K) in keys and ("silu", K) in keys
    for name in ("hard_sigmoid", "hardswish", "gelu"):
        assert (name, get_gate(name).default_K) in keys


def test_table_sigmoid_and_silu_reach_the_fs_authors_accuracy():
    max_error, mse, spikes = measured_error("sigmoid", 12, (-10.0, 10.0))
    print(f"sigmoid K=12 on [-10, 10]: max abs error {max_error:.4f}, MSE {mse:.2e}, mean spikes {spikes:.2f}")
    assert max_error <= 0.06
    max_error, mse, spikes = measured_error("silu", 16, (-4.0, 4.0))
    print(f"silu K=16 on [-4, 4]: max abs error {max_error:.4f}, MSE {mse:.2e}, mean spikes {spikes:.2f}")
    assert max_error <= 0.16


@pytest.mark.parametrize("gate, x_range", [("sigmoid", (-10.0, 10.0)), ("silu", (-4.0, 4.0))])
def test_table_error_falls_as_K_grows(gate, x_range):
    mses = [measured_error(gate, K, x_range)[1] for K in range(4, 17)]
    print(f"{gate} MSE for K = 4..16: " + ", ".join(f"{mse:.2e}" for mse in mses))
    assert all(later <= earlier * (1 + 1e-9) for earlier, later in zip(mses, mses[1:])), mses  # warm-started chain
    assert mses[12] < mses[8] < mses[4] < mses[0]  # K = 16 < 12 < 8 < 4, strictly
    assert mses[12] < mses[0] / 5


def test_every_table_entry_states_its_measured_error():
    for circuit in shipped_gate_table().circuits:
        max_error, mse, _ = measured_error(circuit.gate, circuit.K, circuit.x_range)
        assert circuit.max_abs_error == pytest.approx(max_error, rel=1e-9)
        assert circuit.mse == pytest.approx(mse, rel=1e-9)
        assert circuit.bias_offset == 0.0 and not circuit.ge


def test_table_text_round_trips(tmp_path):
    table = shipped_gate_table()
    assert parse_gate_table(format_gate_table(table)) == table
    path = tmp_path / "table.json"
    write_gate_table(table, path)
    assert read_gate_table(path) == table
    assert path.read_text() == format_gate_table(table)


def test_bad_table_files_are_rejected_with_the_reason():
    good = json.loads(format_gate_table(shipped_gate_table()))
    with pytest.raises(GateTableError, match="not valid JSON"):
        parse_gate_table("{")
    with pytest.raises(GateTableError, match="version 2, this snncc reads version 1"):
        parse_gate_table(json.dumps({**good, "version": 2}))
    entry = {**good["entries"][0], "T": [1.0]}
    with pytest.raises(GateTableError, match=r"entry 0: .*unknown keys \['T'\]"):
        parse_gate_table(json.dumps({**good, "entries": [entry]}))
    entry = {**good["entries"][0], "thresholds": [1.0]}
    with pytest.raises(GateTableError, match="entry 0: .*thresholds has 1 values"):
        parse_gate_table(json.dumps({**good, "entries": [entry]}))


def test_get_circuit_uses_the_table_inside_its_range():
    tabled = shipped_gate_table().lookup("sigmoid", 12, (-10.0, 10.0))
    assert get_circuit("sigmoid") is tabled
    assert get_circuit("sigmoid", 12, (-3.0, 7.5)) is tabled
    assert get_circuit("silu", 16, (-7.0, 11.0)).x_range == (-8.0, 12.0)
    assert get_circuit("silu", 16, (-4.0, 4.0)).x_range == (-4.0, 4.0)  # the narrowest covering entry


def test_get_circuit_refits_outside_the_table_once_per_rounded_range():
    before = _refit.cache_info()
    # SiLU grows beyond the tabled [-4, 4]: the table cannot serve [-12, 12]
    circuits = [get_circuit("silu", 5, (-12.0 - 1e-3 * i, 12.0), fit_settings=QUICK) for i in range(1, 51)]
    after = _refit.cache_info()
    assert after.misses - before.misses == 1 and all(circuit is circuits[0] for circuit in circuits)
    assert circuits[0].x_range == (-12.1, 12.0) and circuits[0].K == 5  # rounded outwards to 0.1 (width 24)


def test_the_table_serves_a_wider_range_where_its_error_holds():
    tabled = shipped_gate_table().lookup("sigmoid", 12, (-10.0, 10.0))
    wide = get_circuit("sigmoid", 12, (-40.0, 25.0), fit_settings=QUICK)
    assert wide.thresholds == tabled.thresholds and wide.output_weights == tabled.output_weights
    assert wide.x_range == (-40.0, 25.0)
    measured, _ = approximation_error(wide, get_gate("sigmoid").function)
    assert measured == wide.max_abs_error <= WIDER_RANGE_TOLERANCE * tabled.max_abs_error
    # HardSwish is x above 3: the [-4, 4] circuit saturates, so [-5, 6] is refitted
    before = _refit.cache_info().misses
    refit = get_circuit("hardswish", 16, (-5.0, 6.0), fit_settings=QUICK)
    assert _refit.cache_info().misses == before + 1 and refit.x_range == (-5.0, 6.0)


def test_get_circuit_closed_form_and_affine_paths():
    assert get_circuit("relu", 6, (-3.0, 2.5)) == relu_circuit(2.5, 6)
    clip = get_circuit("clip", 8, (0.0, 6.0))
    assert clip.gate == "clip" and clip.thresholds[0] == 3.0 and clip.ge
    tanh = get_circuit("tanh", 12, (-2.0, 2.0))
    assert tanh.x_range == (-5.0, 5.0) and tanh.bias_offset == -1.0
    with pytest.raises(ValueError, match="alpha"):
        get_circuit("relu", 6, (-3.0, 0.0))
    with pytest.raises(ValueError, match="both a finite mean and a std > 0"):
        get_circuit("sigmoid", 12, mean=0.0)


def test_build_table_is_deterministic_and_round_trips(tmp_path):
    entries = [TableEntry(gate="sigmoid", K=3, x_range=(-4.0, 4.0)), TableEntry(gate="gelu", K=3, x_range=(-3.0, 3.0))]
    first = build_gate_table(entries, QUICK, seeds=(0, 1), log=lambda line: None)
    second = build_gate_table(entries, QUICK, seeds=(0, 1), log=lambda line: None)
    assert first == second and [c.gate for c in first.circuits] == ["sigmoid", "gelu"]
    assert first.provenance["seeds"] == [0, 1]
    write_gate_table(first, tmp_path / "t.json")
    assert read_gate_table(tmp_path / "t.json") == first
