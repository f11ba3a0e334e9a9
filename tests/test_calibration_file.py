"""CalibrationFile: rows read on demand (slices read only their rows), the whole array once through np.asarray, and
the checks load_npz makes, as DataError."""

import numpy as np
import pytest

from snncc.calibration_file import CalibrationFile
from snncc.errors import DataError


def test_slices_read_rows_and_asarray_reads_once(tmp_path):
    x = np.arange(5 * 3, dtype=np.float64).reshape(5, 3)
    np.savez(tmp_path / "c.npz", x=x)
    calib = CalibrationFile(tmp_path / "c.npz")
    assert len(calib) == 5 and calib.shape == (5, 3)
    head = calib[:2]
    assert head.dtype == np.float32 and np.array_equal(head, x[:2]) and calib._whole is None
    assert np.array_equal(np.asarray(calib, np.float32), x.astype(np.float32))
    assert np.asarray(calib) is np.asarray(calib)
    assert np.array_equal(calib[[4, 0]], x[[4, 0]])


@pytest.mark.parametrize("arrays, message", [({"y": np.zeros(3)}, "no array named 'x'"),
                                             ({"x": np.zeros((0, 3))}, "holds no samples"),
                                             ({"x": np.array(["a", "b"])}, "numeric array")])
def test_malformed_files_are_data_errors(tmp_path, arrays, message):
    np.savez(tmp_path / "c.npz", **arrays)
    with pytest.raises(DataError, match=message):
        CalibrationFile(tmp_path / "c.npz")


def test_non_finite_rows_are_named(tmp_path):
    x = np.zeros((4, 2), np.float32)
    x[3, 1] = np.nan
    np.savez_compressed(tmp_path / "c.npz", x=x)
    calib = CalibrationFile(tmp_path / "c.npz")
    assert np.array_equal(calib[:3], x[:3])
    with pytest.raises(DataError, match="rows 2..3 contain NaN"):
        calib[2:4]
