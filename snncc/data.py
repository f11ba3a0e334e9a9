"""Reading user data files (.npz with `x` and optional `y`) safely: never unpickles, checks every array's declared
size against the memory cap before decompressing it (zip bombs), then shapes and dtypes."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snncc.errors import DataError
from snncc.limits import check_bytes, element_count


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray              # (N, ...) float32
    y: np.ndarray | None       # (N,) or (N, ...) int64 labels, or None
    mask: np.ndarray | None    # optional boolean mask over the label positions that count (test nodes, ...)


def _declared_sizes(path: Path) -> None:
    """Read each member's .npy header (a few bytes) and refuse object arrays and sizes over the cap."""
    total = 0
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(member)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(member)
                else:
                    raise ValueError(f"unsupported .npy version {version}")
            key = info.filename[:-4]
            if dtype.hasobject:
                raise DataError(f"{path}: array {key!r} holds Python objects, which snncc never unpickles; save "
                                "plain numeric arrays (np.savez(path, x=x.astype(np.float32), y=y))")
            count = element_count(shape)
            nbytes = count * dtype.itemsize
            # what loading costs at its peak, not only the array: x's float32 copy and the finite check's mask,
            # y's int64 copy
            if key == "x":
                nbytes += count * (4 if dtype != np.float32 else 0) + count
            elif key == "y":
                nbytes += count * 8
            check_bytes(nbytes, f"{path}: array {key!r} of shape {list(shape)} ({dtype}, with its conversions)")
            total += nbytes
    check_bytes(total, f"{path}: its arrays")


def load_npz(path: str | Path, input_shape: tuple[int, ...] | None = None, *, mask_key: str | None = None) -> Dataset:
    """Load `x` (float, (N, *input_shape)) and optional `y` (integer labels) from an .npz; DataError otherwise."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such data file")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")
    try:
        _declared_sizes(path)
        with np.load(path, allow_pickle=False) as f:
            if not hasattr(f, "files"):
                raise DataError(f"{path}: a single .npy array, not an .npz archive; save it with "
                                "np.savez(path, x=x, y=y)")
            wanted = {"x", "y", mask_key} - {None}
            arrays = {k: f[k] for k in f.files if k in wanted}
            found = list(f.files)
    except DataError:
        raise
    except ValueError as exc:
        raise DataError(f"{path}: holds object arrays or is malformed; snncc never unpickles ({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError, NotImplementedError, RuntimeError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    if "x" not in arrays:
        raise DataError(f"{path}: no array named 'x' (found: {', '.join(sorted(found)) or 'none'})")
    x = arrays["x"]
    if x.dtype.kind not in "fiu":
        raise DataError(f"{path}: 'x' has dtype {x.dtype}; a numeric array is expected")
    if x.ndim < 1 or len(x) == 0:
        raise DataError(f"{path}: 'x' holds no samples (shape {list(x.shape)}); x is (N, *sample_shape)")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise DataError(f"{path}: 'x' contains NaN or Inf (or values too large for float32)")
    if input_shape is not None and tuple(x.shape[1:]) != tuple(input_shape):
        raise DataError(f"{path}: 'x' has per-sample shape {list(x.shape[1:])} but the model expects "
                        f"{list(input_shape)}")
    y = arrays.get("y")
    if y is not None:
        if y.dtype.kind not in "iub":
            raise DataError(f"{path}: 'y' has dtype {y.dtype}; integer class labels are expected")
        if y.ndim < 1 or len(y) != len(x):
            raise DataError(f"{path}: 'y' has shape {list(y.shape)}, so not one label row per sample of the "
                            f"{len(x)} in 'x'")
        if y.size and int(y.max()) > np.iinfo(np.int64).max:   # uint64: would wrap to a negative label
            raise DataError(f"{path}: 'y' holds label {int(y.max())}; class labels are small integers from 0")
        y = y.astype(np.int64)
    mask = None
    if mask_key:
        if mask_key not in arrays:
            raise DataError(f"{path}: no array named {mask_key!r} for --mask (found: {', '.join(sorted(found))})")
        mask = arrays[mask_key]
        if mask.dtype.kind not in "biu" or mask.ndim != 1:
            raise DataError(f"{path}: mask {mask_key!r} must be a 1-D boolean array, got {mask.dtype}"
                            f"{list(mask.shape)}")
        mask = mask.astype(bool)
        if not mask.any():
            raise DataError(f"{path}: mask {mask_key!r} selects no labels (all false): there is nothing to score")
        if y is not None and mask.shape[0] != y.shape[-1]:
            raise DataError(f"{path}: mask {mask_key!r} has {mask.shape[0]} entries but each label row has "
                            f"{y.shape[-1]}")
    return Dataset(x, y, mask)
