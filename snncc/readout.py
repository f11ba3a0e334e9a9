"""The readout of a compiled graph's outputs with the output normalisers the frontend dropped applied again
(`snncc.frontend.tail`), so that they carry the source model's semantics (scores, not logits) where values are
compared with onnxruntime: a dropped Sigmoid on the outputs the header lists (`sigmoid_outputs`), a dropped
Softmax/LogSoftmax on the first output (`dropped_tail`). Headers written before `sigmoid_outputs` read as none.
"""

from __future__ import annotations

import numpy as np


def sigmoid_outputs(meta: dict) -> frozenset[int]:
    """Indices of the graph outputs whose dropped Sigmoid is applied at readout."""
    text = meta.get("sigmoid_outputs", "")
    return frozenset(int(i) for i in text.split(",") if i.strip())


def sigmoid(y: np.ndarray) -> np.ndarray:
    """The logistic function in float64 (no overflow warning for large negative logits), returned as float32."""
    z = np.asarray(y, dtype=np.float64)
    return (0.5 * (1.0 + np.tanh(0.5 * z))).astype(np.float32)


def with_dropped_normaliser(y: np.ndarray, tail: str) -> np.ndarray:
    """The IR output with the output tail's dropped Softmax/LogSoftmax applied again over each sample's values (the
    logits vector: only reshapes may follow the normaliser). An output with several axes longer than 1 was
    normalised along its last axis (a transpose may only bring the normaliser's axis there: PNet's per-pixel Softmax
    over NHWC channels)."""
    if "Softmax" not in tail or y.ndim < 1:
        return y
    several = sum(d > 1 for d in y.shape[1:]) > 1
    flat = (y if several else y.reshape(len(y), -1)).astype(np.float64)
    z = flat - flat.max(axis=-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return (log_p if "LogSoftmax" in tail else np.exp(log_p)).astype(np.float32).reshape(y.shape)


def read_output(meta: dict, index: int, y: np.ndarray) -> np.ndarray:
    """Output `index` of a graph with header `meta`, its dropped normaliser applied again."""
    if index in sigmoid_outputs(meta):
        return sigmoid(y)
    if index == 0:
        return with_dropped_normaliser(y, meta.get("dropped_tail", ""))
    return y
