"""Index arrays kept as runs of consecutive values, the packer's record of each core's input axons.

A core's input axons from one source are mostly a conv's halo box: in C order, each (channel, row) of the box is a
run of consecutive flat indices (one run per channel when the box spans whole rows). An index array
i_0, ..., i_(n-1) is stored as the starts s_j and lengths l_j of its maximal runs (i_(k+1) = i_k + 1 within a run),
in order, so that `expand(compact(idx))` is `idx` element for element (order included); it is stored as runs only
when they take less memory than the array. ResNet-50 at 224 x 224 on loihi2: 32.7 M axons, 131 MB as int32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Runs:
    """Runs of consecutive indices: index k of run j is starts[j] + k, for k < lengths[j]."""

    starts: np.ndarray
    lengths: np.ndarray
    dtype: np.dtype

    @property
    def size(self) -> int:
        return int(self.lengths.sum())


def compact(idx: np.ndarray) -> "np.ndarray | Runs":
    """`idx` as runs when that is smaller, else `idx` itself."""
    if idx.size < 8:
        return idx
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    if 2 * (breaks.size + 1) * 4 >= idx.nbytes:
        return idx
    bounds = np.concatenate(([0], breaks, [idx.size]))
    return Runs(idx[bounds[:-1]].astype(np.int64 if idx.max() >= 2 ** 31 else np.int32),
                np.diff(bounds).astype(np.int32), idx.dtype)


def expand(stored: "np.ndarray | Runs") -> np.ndarray:
    """The index array `compact` was given."""
    if not isinstance(stored, Runs):
        return stored
    lengths = stored.lengths.astype(np.int64)
    before = np.cumsum(lengths) - lengths
    offsets = np.repeat(stored.starts.astype(np.int64) - before, lengths)
    return (offsets + np.arange(offsets.size)).astype(stored.dtype)
