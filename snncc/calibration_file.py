"""CalibrationFile: the `x` of a calibration .npz on disk, read by rows only when a pass asks for them.

A compile handed statistics gathered elsewhere (by shards, on a cluster) needs the calibration set only for the
onnxruntime cross-check and the recorded spike rates (the first rows), so it reads those rows and nothing more;
a pass that needs every sample (base search, max-input-current, user gates) still gets the whole array through
`np.asarray`, read once. Rows are read and converted to float32 a chunk at a time (snncc.npz_shards).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snncc.errors import DataError
from snncc.npz_shards import npz_members, read_rows


class CalibrationFile:
    """Sliced like an (N, ...) float32 array; every read is checked (numeric, finite) as `load_npz` checks."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        members = npz_members(self.path)
        if "x" not in members:
            raise DataError(f"{self.path}: no array named 'x' (found: {', '.join(sorted(members)) or 'none'})")
        self.member = members["x"]
        if self.member.dtype.kind not in "fiu":
            raise DataError(f"{self.path}: 'x' has dtype {self.member.dtype}; a numeric array is expected")
        if len(self.member.shape) < 1 or self.member.shape[0] == 0:
            raise DataError(f"{self.path}: 'x' holds no samples (shape {list(self.member.shape)}); x is "
                            "(N, *sample_shape)")
        self.shape = tuple(self.member.shape)
        self.ndim = len(self.shape)
        self.dtype = np.dtype(np.float32)
        self._whole: np.ndarray | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def rows(self, start: int, stop: int) -> np.ndarray:
        if self._whole is not None:
            return self._whole[start:stop]
        def finite(stored: np.ndarray, converted: np.ndarray, first: int) -> None:
            if not np.all(np.isfinite(converted)):
                raise DataError(f"{self.path}: 'x' rows {start}..{stop - 1} contain NaN or Inf (or values too large "
                                "for float32)")

        return read_rows(self.path, self.member, start, stop, np.float32, check=finite)

    def __getitem__(self, key):
        if isinstance(key, slice) and key.step in (None, 1):
            start, stop, _ = key.indices(len(self))
            return self.rows(start, max(start, stop))
        return np.asarray(self)[key]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        if self._whole is None:
            self._whole = self.rows(0, len(self))
        return self._whole if dtype is None else self._whole.astype(dtype, copy=False)
