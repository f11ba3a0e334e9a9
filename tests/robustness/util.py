"""Small inputs for the robustness tests: a tiny valid ONNX model (Gemm -> Relu -> Gemm) and helpers that run the
CLI in process and check that it failed cleanly."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from snncc.cli import main
from tests.helpers import make_model

IN_FEATURES = 4


def tiny_model(w1: np.ndarray | None = None) -> onnx.ModelProto:
    """x[N,4] -> Gemm(3) -> Relu -> Gemm(2): the smallest model the rate pipeline compiles."""
    rng = np.random.default_rng(0)
    inits = {"w1": rng.standard_normal((3, IN_FEATURES)).astype(np.float32) if w1 is None else w1,
             "b1": np.zeros(3, np.float32), "w2": rng.standard_normal((2, 3)).astype(np.float32)}
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
             helper.make_node("Relu", ["h"], ["a"], name="relu1"),
             helper.make_node("Gemm", ["a", "w2"], ["y"], name="fc2", transB=1)]
    return make_model(nodes, [IN_FEATURES], [2], inits)


def calib(n: int = 32, shape=(IN_FEATURES,), dtype=np.float32) -> np.ndarray:
    return np.abs(np.random.default_rng(1).standard_normal((n, *shape))).astype(dtype)


def save_model(model: onnx.ModelProto, path) -> str:
    path.write_bytes(model.SerializeToString())
    return str(path)


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run `snncc ARGS` in process; returns (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_clean_failure(code: int, err: str, *needles: str) -> None:
    """Exit 2, one `error:` line naming every needle, and no traceback."""
    assert code == 2, err
    assert "Traceback" not in err, err
    assert err.startswith("error: "), err
    for needle in needles:
        assert needle in err, (needle, err)


def compile_tiny(folder, *extra: str, labels: bool = False) -> None:
    """tiny_model() compiled (rate) on calib() into folder/m.snnir, from folder/m.onnx and folder/c.npz."""
    save_model(tiny_model(), folder / "m.onnx")
    data = {"x": calib(), **({"y": np.zeros(32, np.int64)} if labels else {})}
    np.savez(folder / "c.npz", **data)
    assert main(["compile", str(folder / "m.onnx"), "--calib", str(folder / "c.npz"), "-o", str(folder / "m.snnir"),
                 *extra, "--no-progress"]) == 0
