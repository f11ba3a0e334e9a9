"""Reading an .npz by shards, never whole: an array's rows [start, stop) straight from the archive (test sets in
the sweep, calibration sets through CalibrationFile, every data file through `load_npz`), a chunk at a time and
converted chunk by chunk, so that reading costs the result plus one chunk, never the array in its stored dtype.

Decision (docs/sweep.md): .npz files stay the data format. A member written by `np.savez` is stored uncompressed in
the zip, so its rows are memory-mapped at the member's data offset (nothing but the shard is paged in); a member of
`np.savez_compressed` is streamed: the decompressor skips to the shard's first row and reads only its rows. Either
way a worker holds one shard, and only the archive's path travels between machines (workers need to see the file).
"""

from __future__ import annotations

import math
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snncc.errors import DataError
from snncc.limits import check_bytes

_LOCAL_HEADER_SIZE = 30   # fixed part of a zip local file header; name and extra field lengths at bytes 26..29


@dataclass(frozen=True)
class Member:
    """Where one array lives in an .npz: its shape and dtype, and (stored members) the byte offset of its data."""

    key: str
    shape: tuple[int, ...]
    dtype: np.dtype
    stored: bool            # uncompressed: readable in place at `offset`
    offset: int             # stored: absolute file offset of the first element; compressed: offset in the member
    fortran: bool
    header: int = 0         # bytes of the .npy header at the start of the member
    data_size: int = -1     # bytes after the .npy header in the member, as the zip declares them (-1: unknown)

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    @property
    def row_bytes(self) -> int:
        return math.prod(self.shape[1:]) * self.dtype.itemsize


def _npy_header(stream) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(stream)
    raise ValueError(f"unsupported .npy version {version}")


def npz_members(path: str | Path) -> dict[str, Member]:
    """The arrays of an .npz without reading their data; DataError for an unreadable file or an object array."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such data file")
    members = {}
    try:
        with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with archive.open(info) as member:
                    shape, fortran, dtype = _npy_header(member)
                    header_len = member.tell()
                key = info.filename[:-4]
                if dtype.hasobject:
                    raise DataError(f"{path}: array {key!r} holds Python objects, which snncc never unpickles")
                stored = info.compress_type == zipfile.ZIP_STORED
                offset = header_len
                if stored:   # data start = local header + its name and extra field + the .npy header
                    raw.seek(info.header_offset + 26)
                    name_len, extra_len = np.frombuffer(raw.read(4), "<u2")
                    offset += info.header_offset + _LOCAL_HEADER_SIZE + int(name_len) + int(extra_len)
                members[key] = Member(key, tuple(shape), dtype, stored, offset, fortran, header_len,
                                      info.file_size - header_len)
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError) as exc:
        # RuntimeError: an encrypted member; NotImplementedError: an unknown compression method
        raise DataError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    return members


CHUNK_BYTES = 8 << 20   # bytes of the stored dtype read and converted at a time


def read_rows(path: str | Path, member: Member, start: int, stop: int, dtype=None,
              check: Callable[[np.ndarray, np.ndarray, int], None] | None = None,
              chunk_bytes: int | None = None) -> np.ndarray:
    """Rows [start, stop) of `member`, converted to `dtype` (default: as stored) a chunk at a time: the peak is the
    result plus one chunk of the stored array. `check(stored, converted, first_element)` sees every chunk (finite
    values, label ranges) and raises to stop. The whole array is read through the zip member (its CRC checked, any
    byte order, Fortran order too); a part of it straight from the file (stored) or by a forward seek in the
    decompressed stream (compressed)."""
    dtype = member.dtype if dtype is None else np.dtype(dtype)
    total = member.shape[0] if member.shape else 0
    stop = min(stop, total)
    rows = max(stop - start, 0)
    whole = member.shape == () or (start == 0 and stop == total)
    if member.fortran and len(member.shape) > 1 and not whole:
        raise DataError(f"{path}: array {member.key!r} is stored in Fortran order; save it C-ordered "
                        "(np.ascontiguousarray) to read it by shards")
    shape = member.shape if member.shape == () else (rows,) + member.shape[1:]
    count = math.prod(shape)
    check_bytes(count * dtype.itemsize, f"{path}: shard of {member.key!r}")
    itemsize = member.dtype.itemsize
    data_bytes = count * itemsize
    first = 0 if member.shape == () else start * math.prod(member.shape[1:])
    if member.data_size >= 0 and (first * itemsize + data_bytes) > member.data_size:
        raise DataError(f"{path}: array {member.key!r} is truncated (its header declares shape "
                        f"{list(member.shape)}, its zip member holds {member.data_size} bytes of data)")
    out = np.empty(count, dtype)
    step = max(1, (chunk_bytes or CHUNK_BYTES) // max(itemsize, 1))
    try:
        with zipfile.ZipFile(path) as archive:
            if whole or not member.stored:
                stream = archive.open(member.key + ".npy")
                stream.seek(member.header + first * itemsize)   # compressed: decompresses and discards
            else:
                stream = open(path, "rb")
                stream.seek(member.offset + first * itemsize)
            with stream:
                for done in range(0, count, step):
                    n = min(step, count - done)
                    buffer = stream.read(n * itemsize)
                    if len(buffer) != n * itemsize:
                        raise DataError(f"{path}: array {member.key!r} is truncated (its header declares shape "
                                        f"{list(member.shape)})")
                    stored = np.frombuffer(buffer, member.dtype)
                    with np.errstate(over="ignore", invalid="ignore"):   # 1e300 -> inf: `check` says so
                        out[done:done + n] = stored
                    if check is not None:
                        check(stored, out[done:done + n], first + done)
                    del buffer, stored
                if whole:
                    stream.read(1)   # reaches the member's end: the zip module checks its CRC there
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError, zlib.error) as exc:
        raise DataError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    if member.fortran and len(member.shape) > 1:
        return out.reshape(shape[::-1]).T
    return out.reshape(shape)


def shard_bounds(n: int, shard_size: int) -> list[tuple[int, int]]:
    """[start, stop) of consecutive shards of at most `shard_size` rows covering n rows."""
    return [(start, min(start + shard_size, n)) for start in range(0, n, shard_size)]
