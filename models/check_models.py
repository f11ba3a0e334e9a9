"""Check every bundled ONNX model against its bundled test split (numpy + onnx + onnxruntime only, no torch).

    python models/check_models.py            # one line per model: accuracy, size, opset
    python models/check_models.py --ops      # also list the op types of each graph

For each model: ``onnx.checker.check_model(full_check=True)``, a run at batch sizes 1 and 7 (the batch dimension is
dynamic), and the ANN accuracy on its test npz measured with onnxruntime. Exits non-zero if a check fails or an
accuracy is below the model's floor.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")

# model file -> (test npz, minimum accepted accuracy)
MODELS = {
    "digits_mlp.onnx": ("digits_test.npz", 0.96),
    "digits_cnn.onnx": ("digits_test.npz", 0.96),
    "digits_resnet.onnx": ("digits_test.npz", 0.96),
    "digits_silu.onnx": ("digits_test.npz", 0.96),
    "digits_cnn_qcfs2.onnx": ("digits_test.npz", 0.94),
    "digits_cnn_qcfs15.onnx": ("digits_test.npz", 0.94),
    "mnist_cnn.onnx": ("mnist_test.npz", 0.95),
    "karate_gcn.onnx": ("karate.npz", 0.80),
}


def op_types(model: onnx.ModelProto) -> list[str]:
    """Distinct op types of the main graph, in order of first appearance."""
    seen: list[str] = []
    for n in model.graph.node:
        if n.op_type not in seen:
            seen.append(n.op_type)
    return seen


def run(sess: ort.InferenceSession, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """Logits for ``x`` computed in chunks of ``batch``."""
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i : i + batch]})[0] for i in range(0, len(x), batch)])


def check(fname: str, npz: str) -> tuple[float, str]:
    """Run all checks on one model; return (accuracy, description of what was scored)."""
    path = os.path.join(HERE, fname)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    with np.load(os.path.join(DATA, npz), allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    x, y = data["x"], data["y"]
    name = sess.get_inputs()[0].name
    for b in (1, 7):
        xb = np.concatenate([x] * b)[:b]
        out = sess.run(None, {name: xb})[0]
        if out.shape[0] != b:
            raise RuntimeError(f"{fname}: batch {b} gave output shape {out.shape}")
        if not np.allclose(out[:1], sess.run(None, {name: x[:1]})[0], atol=1e-5):
            raise RuntimeError(f"{fname}: sample 0 differs between batch 1 and batch {b}")
    pred = run(sess, x).argmax(-1)
    if "test_mask" in data:  # node classification: score only the test nodes of graph 0
        mask = data["test_mask"]
        return float((pred[0][mask] == y[0][mask]).mean()), f"{int(mask.sum())} test nodes"
    return float((pred == y).mean()), f"{len(y)} test images"


def main(argv: list[str] | None = None) -> int:  # noqa: D103
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ops", action="store_true", help="also print each graph's op types")
    a = p.parse_args(argv)
    failed = []
    for fname, (npz, floor) in MODELS.items():
        try:
            acc, what = check(fname, npz)
        except Exception as e:  # report every model, then fail
            print(f"{fname:24s} FAILED: {type(e).__name__}: {e}")
            failed.append(fname)
            continue
        model = onnx.load(os.path.join(HERE, fname))
        opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        kib = os.path.getsize(os.path.join(HERE, fname)) / 1024
        ok = "ok" if acc >= floor else f"BELOW FLOOR {floor}"
        print(f"{fname:24s} acc {acc:.4f} on {npz} ({what}), opset {opset}, {kib:.1f} KiB, checker ok, "
              f"batch 1/7 ok  [{ok}]")
        if a.ops:
            print(f"{'':24s} ops: {', '.join(op_types(model))}")
        if acc < floor:
            failed.append(fname)
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
