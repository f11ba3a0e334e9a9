"""Tensor types of the IR.

Every value in a graph is a batch of per-sample tensors. The batch dimension is implicit: a `TensorType` records the
per-sample shape only, so `f32[8,4,4]` is a (N, 8, 4, 4) array at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DTYPES: dict[str, np.dtype] = {
    "f32": np.dtype("float32"),
    "f64": np.dtype("float64"),
    "i64": np.dtype("int64"),
    "i32": np.dtype("int32"),
    "bool": np.dtype("bool"),
}


def dtype_name(dtype: np.dtype) -> str:
    """The IR's short name for a numpy dtype (`float32` -> `f32`)."""
    for name, np_dtype in DTYPES.items():
        if np.dtype(dtype) == np_dtype:
            return name
    raise ValueError(f"dtype {dtype} has no IR name; supported: {', '.join(DTYPES)}")


@dataclass(frozen=True, slots=True)
class TensorType:
    """Per-sample shape and element type of a value (batch dimension excluded)."""

    shape: tuple[int, ...]
    dtype: str = "f32"

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; supported: {', '.join(DTYPES)}")
        if any((not isinstance(d, int)) or d < 0 for d in self.shape):
            raise ValueError(f"shape {self.shape} must be non-negative integers")

    @property
    def size(self) -> int:
        """Number of elements per sample."""
        return int(np.prod(self.shape, dtype=np.int64))

    def __str__(self) -> str:
        return f"{self.dtype}[{','.join(str(d) for d in self.shape)}]"
