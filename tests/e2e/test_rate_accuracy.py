"""End to end on a bundled model: ONNX -> rate-coded SNN -> simulation keeps the ANN's accuracy at T=32."""

import numpy as np

import snncc
from snncc.backends.simulator import simulate
from snncc.evaluate import ann_reference


def test_digits_cnn_rate_coding_within_one_point_of_the_ann_at_t32():
    calib = np.load("models/data/digits_calib.npz")["x"]
    test = np.load("models/data/digits_test.npz")
    snn = snncc.compile("models/digits_cnn.onnx", coding="rate", timesteps=32, calibration=calib)
    ann_logits = ann_reference(snn, test["x"], notes := [])
    assert ann_logits is not None, notes
    ann_acc = float(np.mean(ann_logits.argmax(-1) == test["y"]))
    result = simulate(snn, test["x"], [16, 32])
    snn_acc = {t: float(np.mean(result.predictions[t] == test["y"])) for t in (16, 32)}
    assert snn_acc[32] >= ann_acc - 0.01, (ann_acc, snn_acc)
    assert snn_acc[16] >= ann_acc - 0.03, (ann_acc, snn_acc)
    assert result.max_spikes_per_neuron <= 32
