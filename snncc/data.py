"""Reading user data files (.npz with `x` and optional `y`) safely: never unpickles, checks the declared size of
every array it reads against the memory cap before decompressing it (zip bombs), checks shapes and dtypes from the
headers, then reads each array a chunk at a time into the type it is returned in (float32 x, int64 y): never the
whole array in its stored dtype (a float64 x costs its float32 copy plus one chunk)."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snncc.errors import DataError
from snncc.limits import check_bytes, element_count
from snncc.npz_shards import CHUNK_BYTES, Member, npz_members, read_rows


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray              # (N, ...) float32
    y: np.ndarray | None       # (N,) or (N, ...) int64 labels, or None
    mask: np.ndarray | None    # optional boolean mask over the label positions that count (test nodes, ...)


def _checked_sizes(path: Path, wanted: dict[str, Member]) -> None:
    """ResourceLimitError when the arrays to read would not fit under the cap, from their headers alone (before a
    byte is decompressed). What reading holds at its peak: each array in the type it is returned in (x float32, y
    int64, a mask bool) plus one chunk of the stored data being converted."""
    total = chunks = 0
    for key, member in wanted.items():
        count = element_count(member.shape)
        nbytes = count * _RESULT_ITEMSIZE.get(key, 1)
        chunk = min(CHUNK_BYTES, count * member.dtype.itemsize)
        check_bytes(nbytes + chunk, f"{path}: array {key!r} of shape {list(member.shape)} ({member.dtype}, "
                                    "as read: the result and a chunk)")
        total += nbytes
        chunks = max(chunks, chunk)
    check_bytes(total + chunks, f"{path}: its arrays")


_RESULT_ITEMSIZE = {"x": 4, "y": 8}


def load_npz(path: str | Path, input_shape: tuple[int, ...] | None = None, *, mask_key: str | None = None) -> Dataset:
    """Load `x` (float, (N, *input_shape)) and optional `y` (integer labels) from an .npz; DataError otherwise."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such data file")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            single = f.read(6) == b"\x93NUMPY"
        if single:
            raise DataError(f"{path}: a single .npy array, not an .npz archive; save it with np.savez(path, x=x, y=y)")
        raise DataError(f"{path}: not a readable .npz file (not a zip archive)")
    members = npz_members(path)   # headers only; object arrays refused here
    found = sorted(members)
    if "x" not in members:
        raise DataError(f"{path}: no array named 'x' (found: {', '.join(found) or 'none'})")
    if mask_key and mask_key not in members:
        raise DataError(f"{path}: no array named {mask_key!r} for --mask (found: {', '.join(found)})")
    wanted = {k: members[k] for k in ("x", "y", mask_key) if k in members}
    _check_kinds(path, wanted, mask_key)
    _checked_sizes(path, wanted)
    x_member = wanted["x"]
    if len(x_member.shape) < 1 or x_member.shape[0] == 0:
        raise DataError(f"{path}: 'x' holds no samples (shape {list(x_member.shape)}); x is (N, *sample_shape)")
    if input_shape is not None and tuple(x_member.shape[1:]) != tuple(input_shape):
        raise DataError(f"{path}: 'x' has per-sample shape {list(x_member.shape[1:])} but the model expects "
                        f"{list(input_shape)}")
    y_member = wanted.get("y")
    if y_member is not None and (len(y_member.shape) < 1 or y_member.shape[0] != x_member.shape[0]):
        raise DataError(f"{path}: 'y' has shape {list(y_member.shape)}, so not one label row per sample of the "
                        f"{x_member.shape[0]} in 'x'")
    mask = None
    if mask_key:
        m = wanted[mask_key]
        if len(m.shape) != 1:
            raise DataError(f"{path}: mask {mask_key!r} must be a 1-D boolean array, got {m.dtype}{list(m.shape)}")
        if y_member is not None and m.shape[0] != (y_member.shape[-1] if y_member.shape else 0):
            raise DataError(f"{path}: mask {mask_key!r} has {m.shape[0]} entries but each label row has "
                            f"{y_member.shape[-1]}")
        mask = read_rows(path, m, 0, m.shape[0], bool)
        if not mask.any():
            raise DataError(f"{path}: mask {mask_key!r} selects no labels (all false): there is nothing to score")
    x = read_rows(path, x_member, 0, x_member.shape[0], np.float32, check=_finite(path))
    y = None
    if y_member is not None:
        y = read_rows(path, y_member, 0, y_member.shape[0], np.int64, check=_small_labels(path))
    return Dataset(x, y, mask)


def _check_kinds(path: Path, wanted: dict[str, Member], mask_key: str | None) -> None:
    x = wanted["x"]
    if x.dtype.kind not in "fiu":
        raise DataError(f"{path}: 'x' has dtype {x.dtype}; a numeric array is expected")
    if "y" in wanted and wanted["y"].dtype.kind not in "iub":
        raise DataError(f"{path}: 'y' has dtype {wanted['y'].dtype}; integer class labels are expected")
    if mask_key and wanted[mask_key].dtype.kind not in "biu":
        m = wanted[mask_key]
        raise DataError(f"{path}: mask {mask_key!r} must be a 1-D boolean array, got {m.dtype}{list(m.shape)}")


def _finite(path: Path):
    def check(stored: np.ndarray, converted: np.ndarray, first: int) -> None:
        if not np.all(np.isfinite(converted)):
            raise DataError(f"{path}: 'x' contains NaN or Inf (or values too large for float32)")
    return check


def _small_labels(path: Path):
    def check(stored: np.ndarray, converted: np.ndarray, first: int) -> None:
        if stored.size and stored.dtype.kind == "u" and int(stored.max()) > np.iinfo(np.int64).max:
            # uint64: would wrap to a negative label
            raise DataError(f"{path}: 'y' holds label {int(stored.max())}; class labels are small integers from 0")
    return check
