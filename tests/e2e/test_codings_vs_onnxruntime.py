"""Every coding end to end against onnxruntime on the source ONNX model (not against the graph's own ANN mode): the
compiled SNN, simulated on the first 200 digits test images, must predict what the ONNX model predicts and decode
logits close to its logits. Thresholds are the measured figures less a margin of about one sample (measured:
agreement / max |SNN - ONNX| relative to max |ONNX|)."""

import numpy as np
import onnxruntime as ort
import pytest

import snncc
from snncc.backends.simulator import simulate

CALIB = np.load("models/data/digits_calib.npz")["x"]
X = np.load("models/data/digits_test.npz")["x"][:200].astype(np.float32)

CASES = [  # model, coding, options, min agreement, max relative logit error   (measured)
    ("digits_silu", "amos", {}, 0.995, 0.12),                         # 1.000, 0.093 (SiLU gates as FS circuits)
    ("digits_cnn", "amos", {}, 0.995, 0.03),                          # 1.000, 0.012
    ("digits_cnn", "phase", {}, 0.995, 0.14),                         # 1.000, 0.109 (K = 8, searched base)
    ("digits_cnn", "bits", {"timesteps": 4}, 0.99, 0.07),             # 0.995, 0.054 (ReLU model, L = 15)
    ("digits_cnn_qcfs15", "bits", {"timesteps": 4}, 1.0, 1e-5),      # 1.000, 0.000 (exact: QCFS L = 2^4 - 1)
    ("digits_cnn", "signed", {"timesteps": 4}, 0.995, 0.21),          # 1.000, 0.168
    ("digits_cnn_qcfs2", "signed", {"timesteps": 2}, 0.98, 0.33),     # 0.985, 0.281 (exact on the first layer only)
    ("digits_cnn", "rate", {"timesteps": 32}, 0.995, 0.05),           # 1.000, 0.034
]


@pytest.mark.parametrize("model, coding, options, agreement, error", CASES,
                         ids=[f"{m}-{c}" for m, c, *_ in CASES])
def test_snn_matches_onnxruntime_on_the_source_model(model, coding, options, agreement, error):
    session = ort.InferenceSession(f"models/{model}.onnx", providers=["CPUExecutionProvider"])
    reference = session.run(None, {session.get_inputs()[0].name: X})[0]
    graph = snncc.compile(f"models/{model}.onnx", coding, calibration=CALIB, **options)
    steps = int(graph.meta["timesteps"])
    logits = simulate(graph, X, steps).outputs[steps]
    assert np.mean(logits.argmax(-1) == reference.argmax(-1)) >= agreement
    assert np.abs(logits - reference).max() / np.abs(reference).max() <= error
