"""Issue 19 item 11: calibration keeps a sample of every gate's activations until it ends; their total is counted
against the memory cap before it runs (a 578 KB model with 20k Relu nodes used 5.2 GB), and the out-of-memory advice
names only options the commands have."""

from __future__ import annotations

import numpy as np
from onnx import helper

from tests.helpers import make_model
from tests.robustness.util import assert_clean_failure, run_cli

WIDTH, DEPTH = 64, 500


def test_the_kept_activation_samples_count_against_the_cap(tmp_path, capsys):
    nodes = [helper.make_node("Relu", ["x" if i == 0 else f"r{i - 1}"], [f"r{i}" if i < DEPTH - 1 else "y"],
                              name=f"relu{i}") for i in range(DEPTH)]
    (tmp_path / "m.onnx").write_bytes(make_model(nodes, [WIDTH], [WIDTH]).SerializeToString())
    np.savez(tmp_path / "c.npz", x=np.random.default_rng(0).random((256, WIDTH), np.float32))
    # 500 gates x 256 samples x 64 values x 8 bytes = 62.5 MiB of samples, each gate's own tensors are tiny
    code, _, err = run_cli(capsys, "--max-memory", "32M", "compile", tmp_path / "m.onnx", "--calib",
                           tmp_path / "c.npz", "-o", tmp_path / "o.snnir", "--no-progress")
    assert_clean_failure(code, err, "activation samples of 500 gate node(s)", "memory cap")
    assert not (tmp_path / "o.snnir").exists()


def test_the_out_of_memory_advice_names_real_options(capsys, monkeypatch):
    import snncc.cli as cli

    def exhausted():
        raise MemoryError

    monkeypatch.setattr(cli, "cli", type("C", (), {"main": staticmethod(lambda **k: exhausted())}))
    code = cli.main(["compile", "m.onnx", "-o", "o.snnir"])
    err = capsys.readouterr().err
    assert code == 2 and "eval, sweep: or a smaller --batch-size" in err
