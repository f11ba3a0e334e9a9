"""A sweep asks the check which codings to compile: a blocked coding is recorded as infeasible, not compiled."""

from __future__ import annotations

from snncc.sweep import SerialClient, run_sweep
from snncc.sweep import run as sweep_run


def test_blocked_coding_is_infeasible_without_compiling(tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("an infeasible point was compiled")

    monkeypatch.setattr(sweep_run, "compile_point", never)
    records = run_sweep("models/digits_silu.onnx", "models/data/digits_test.npz", tmp_path, SerialClient(),
                        calib="models/data/digits_calib.npz", codings=["rate"], timesteps=[4, 8], shard_size=50,
                        limit=50)
    assert [r["status"] for r in records] == ["infeasible", "infeasible"]
    assert "%node_silu (silu)" in records[0]["reason"] and "--coding amos" in records[0]["reason"]
