"""Reading an .npz by shards, never whole: an array's rows [start, stop) straight from the archive (test sets in
the sweep, calibration sets through CalibrationFile).

Decision (docs/sweep.md): .npz files stay the data format. A member written by `np.savez` is stored uncompressed in
the zip, so its rows are memory-mapped at the member's data offset (nothing but the shard is paged in); a member of
`np.savez_compressed` is streamed: the decompressor skips to the shard's first row and reads only its rows. Either
way a worker holds one shard, and only the archive's path travels between machines (workers need to see the file).
"""

from __future__ import annotations

import math
import zipfile
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
    stored: bool            # uncompressed: memory-mappable at `offset`
    offset: int             # stored: absolute file offset of the first element; compressed: offset in the member
    fortran: bool

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
                members[key] = Member(key, tuple(shape), dtype, stored, offset, fortran)
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    return members


def read_rows(path: str | Path, member: Member, start: int, stop: int) -> np.ndarray:
    """Rows [start, stop) of `member` (a copy: the map is closed on return)."""
    if member.fortran and len(member.shape) > 1:
        raise DataError(f"{path}: array {member.key!r} is stored in Fortran order; save it C-ordered "
                        "(np.ascontiguousarray) to read it by shards")
    stop = min(stop, member.shape[0] if member.shape else 0)
    rows = max(stop - start, 0)
    shape = (rows,) + member.shape[1:]
    check_bytes(rows * member.row_bytes, f"{path}: shard of {member.key!r}")
    if rows == 0:
        return np.empty(shape, member.dtype)
    if member.stored:
        mapped = np.memmap(path, dtype=member.dtype, mode="r", offset=member.offset + start * member.row_bytes,
                           shape=shape)
        out = np.array(mapped)
        del mapped
        return out
    with zipfile.ZipFile(path) as archive, archive.open(member.key + ".npy") as stream:
        stream.seek(member.offset + start * member.row_bytes)   # forward seek: decompresses and discards
        buffer = stream.read(rows * member.row_bytes)
    return np.frombuffer(buffer, member.dtype).reshape(shape).copy()


def shard_bounds(n: int, shard_size: int) -> list[tuple[int, int]]:
    """[start, stop) of consecutive shards of at most `shard_size` rows covering n rows."""
    return [(start, min(start + shard_size, n)) for start in range(0, n, shard_size)]
