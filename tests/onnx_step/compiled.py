"""Bundled models compiled once per test session with a small calibration set (the engines are compared, not the
conversion), and their data."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from tests.golden.golden import load_manifest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = 16


def compiled_pairs() -> list[tuple[str, str]]:
    """Every (bundled model, coding) that compiles: the golden manifest's entries with a golden file."""
    return [(e["model"], e["coding"]) for e in load_manifest() if "golden" in e]


def data(model: str, split: str = "test") -> np.ndarray:
    if model.startswith("karate"):
        return np.load(ROOT / "models/data/karate.npz")["x"]
    prefix = "mnist" if model.startswith("mnist") else "digits"
    return np.load(ROOT / f"models/data/{prefix}_{split}.npz")["x"][:SAMPLES]


@functools.lru_cache(maxsize=None)
def compiled(model: str, coding: str):
    import snncc

    return snncc.compile(str(ROOT / "models" / f"{model}.onnx"), coding, timesteps=4 if coding == "bits" else 8,
                         calibration=data(model, "calib"), record_spike_rates=False)
