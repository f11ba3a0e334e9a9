"""The bundled models the coding tables run on, their data files, and how the tables load and score them
(imported by the table scripts)."""

from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent.parent / "models" / "data"

MODELS = {  # model -> (calibration file, test file, mask key or None), files in models/data/
    "digits_mlp": ("digits_calib", "digits_test", None),
    "digits_cnn": ("digits_calib", "digits_test", None),
    "digits_resnet": ("digits_calib", "digits_test", None),
    "digits_cnn_qcfs2": ("digits_calib", "digits_test", None),
    "digits_cnn_qcfs15": ("digits_calib", "digits_test", None),
    "mnist_cnn": ("mnist_calib", "mnist_test", None),
    "karate_gcn": ("karate", "karate", "test_mask"),
}


def load(name: str) -> dict:
    data = np.load(DATA / f"{name}.npz")
    return {k: data[k] for k in data.files}


def score(pred: np.ndarray, y: np.ndarray, mask) -> float:
    hits = pred == y
    return float(np.mean(hits[..., mask] if mask is not None else hits))
