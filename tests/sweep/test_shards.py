"""Test sets read by shards: memory-mapped rows of a stored .npz member, streamed rows of a compressed one."""

import numpy as np
import pytest

from snncc.errors import DataError
from snncc.npz_shards import npz_members, read_rows, shard_bounds


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_rows_equal_the_whole_array(tmp_path, save):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(23, 2, 3, 4)).astype(np.float32)
    y = rng.integers(0, 10, 23)
    path = tmp_path / "t.npz"
    save(path, a_long_member_name=np.zeros(5), x=x, y=y)
    members = npz_members(path)
    assert members["x"].stored == (save is np.savez)
    for start, stop in shard_bounds(23, 7):
        assert np.array_equal(read_rows(path, members["x"], start, stop), x[start:stop])
        assert np.array_equal(read_rows(path, members["y"], start, stop), y[start:stop])
    assert shard_bounds(23, 7) == [(0, 7), (7, 14), (14, 21), (21, 23)]


def test_object_arrays_and_garbage_are_data_errors(tmp_path):
    np.savez(tmp_path / "o.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="never unpickles"):
        npz_members(tmp_path / "o.npz")
    (tmp_path / "g.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable .npz"):
        npz_members(tmp_path / "g.npz")
