"""The rate-coded MaxPool (ReLU tree) against the max of its input rates, as benchmarks/maxpool_rate_error.py
measures it (README's figures): not exact, biased upwards, within 3 theta/T, and shrinking with T."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "maxpool_rate_error.py"


def _benchmark():
    spec = importlib.util.spec_from_file_location("maxpool_rate_error", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rate_coded_maxpool_overestimates_by_at_most_three_quanta():
    ann, rows = _benchmark().pool_errors("mnist_cnn", [4, 16], limit=24)
    at4, at16 = rows
    for row in rows:
        assert 0.01 < row["differ"] < 0.15, row             # some outputs differ: the tree is not exact
        assert row["bias"] > 0 and abs(row["bias"] - row["mean"]) < 1e-9, row   # never below the max
        assert row["max_rel"] <= 3 / row["T"] + 1e-5, row
    assert at16["mean"] < at4["mean"] / 2
    assert at16["acc"] >= at4["acc"] and ann > 0.9
