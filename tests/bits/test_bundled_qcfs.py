"""The issue's acceptance on the bundled QCFS-trained digits CNNs (models/digits_cnn_qcfs{2,15}.onnx, trained by
`models/train_digits.py --model cnn --act qcfs --levels L`), on the bundled digits test split, with no calibration
data (match-qcfs makes the thresholds data-free)."""

from __future__ import annotations

import numpy as np
import onnx

import snncc
from snncc.backends.simulator import simulate
from tests.helpers import onnxruntime_run

DATA = np.load("models/data/digits_test.npz")
X, Y = DATA["x"].astype(np.float32), DATA["y"]


def _ann(path: str) -> np.ndarray:
    return onnxruntime_run(onnx.load(path), X)


def test_bits_t4_on_the_l15_model_is_the_ann():
    """L = 15 = 2^4 - 1: the bit-serial SNN computes the QCFS ANN itself (loss 0, every prediction equal)."""
    path = "models/digits_cnn_qcfs15.onnx"
    graph = snncc.compile(path, "bits", timesteps=4)
    assert {n.levels for n in snncc.compile(path, pipeline="match-qcfs").nodes if n.op == "qcfs"} == {15}
    logits = _ann(path)
    result = simulate(graph, X, 4)
    np.testing.assert_allclose(result.outputs[4], logits, atol=1e-4)
    assert np.array_equal(result.predictions[4], logits.argmax(-1))


def test_signed_t2_on_the_l2_model_within_half_a_point():
    path = "models/digits_cnn_qcfs2.onnx"
    ann_accuracy = np.mean(_ann(path).argmax(-1) == Y)
    snn_accuracy = simulate(snncc.compile(path, "signed", timesteps=2), X, 2).accuracy(Y)[2]
    assert snn_accuracy >= ann_accuracy - 0.005
