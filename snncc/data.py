"""Reading user data files (.npz with `x` and optional `y`) safely: never unpickles, checks shapes and dtypes."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snncc.errors import DataError


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray              # (N, ...) float32
    y: np.ndarray | None       # (N,) or (N, ...) int64 labels, or None
    mask: np.ndarray | None    # optional boolean mask over the label positions that count (test nodes, ...)


def load_npz(path: str | Path, input_shape: tuple[int, ...] | None = None, *, mask_key: str | None = None) -> Dataset:
    """Load `x` (float, (N, *input_shape)) and optional `y` (integer labels) from an .npz; DataError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such data file")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except ValueError as exc:
        raise DataError(f"{path}: holds object arrays, which snncc never unpickles ({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    if "x" not in arrays:
        raise DataError(f"{path}: no array named 'x' (found: {', '.join(sorted(arrays)) or 'none'})")
    x = arrays["x"]
    if x.dtype.kind not in "fiu":
        raise DataError(f"{path}: 'x' has dtype {x.dtype}; a numeric array is expected")
    x = x.astype(np.float32)
    if x.ndim < 1 or len(x) == 0:
        raise DataError(f"{path}: 'x' holds no samples")
    if not np.all(np.isfinite(x)):
        raise DataError(f"{path}: 'x' contains NaN or Inf")
    if input_shape is not None and tuple(x.shape[1:]) != tuple(input_shape):
        raise DataError(f"{path}: 'x' has per-sample shape {list(x.shape[1:])} but the model expects "
                        f"{list(input_shape)}")
    y = arrays.get("y")
    if y is not None:
        if y.dtype.kind not in "iub":
            raise DataError(f"{path}: 'y' has dtype {y.dtype}; integer class labels are expected")
        if len(y) != len(x):
            raise DataError(f"{path}: 'y' has {len(y)} labels for {len(x)} samples")
        y = y.astype(np.int64)
    mask = arrays.get(mask_key) if mask_key else None
    return Dataset(x, y, None if mask is None else mask.astype(bool))
