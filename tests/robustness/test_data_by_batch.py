"""Data files are read a chunk at a time (issue 19 item 15): a float64 `x` costs its float32 result plus one chunk,
never the whole array in its stored dtype, and every array comes out exactly as numpy's whole-array load gives it."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import numpy as np
import pytest

import snncc.npz_shards
from snncc.calibration_file import CalibrationFile
from snncc.data import load_npz
from snncc.errors import DataError

ARRAYS = {
    "float64": np.random.default_rng(0).standard_normal((37, 5, 3)),
    "float16": np.random.default_rng(1).standard_normal((37, 4)).astype(np.float16),
    "int8": np.random.default_rng(2).integers(-128, 127, (37, 6), dtype=np.int8),
    "uint16": np.random.default_rng(3).integers(0, 60000, (37, 2, 2), dtype=np.uint16),
    "big-endian": np.random.default_rng(4).standard_normal((37, 3)).astype(">f8"),
    "fortran": np.asfortranarray(np.random.default_rng(5).standard_normal((37, 4, 3))),
    "1-d": np.random.default_rng(6).standard_normal(37),
}


def _whole_array_load(path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What load_npz returned before reading by chunks: numpy's load of each array, then the conversion."""
    with np.load(path, allow_pickle=False) as f:
        return f["x"].astype(np.float32), f["y"].astype(np.int64), f["m"].astype(bool)


@pytest.mark.parametrize("compressed", [False, True], ids=["stored", "compressed"])
@pytest.mark.parametrize("name", list(ARRAYS))
def test_chunked_reads_equal_the_whole_array_load(tmp_path, monkeypatch, name, compressed):
    monkeypatch.setattr(snncc.npz_shards, "CHUNK_BYTES", 40)   # many chunks, most not on a row boundary
    x = ARRAYS[name]
    y = np.random.default_rng(7).integers(0, 10, (37, 3)).astype(np.uint8)
    m = np.array([True, False, True])
    path = tmp_path / "d.npz"
    (np.savez_compressed if compressed else np.savez)(path, x=x, y=y, m=m)
    data = load_npz(path, mask_key="m")
    want_x, want_y, want_m = _whole_array_load(path)
    for got, want in ((data.x, want_x), (data.y, want_y), (data.mask, want_m)):
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.array_equal(got, want)
    assert np.array_equal(np.asarray(CalibrationFile(path)), want_x)
    if name != "fortran":
        assert np.array_equal(CalibrationFile(path)[5:23], want_x[5:23])


def test_a_changed_byte_of_a_stored_array_fails_its_crc(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((100, 4), np.float32))
    data = bytearray((tmp_path / "d.npz").read_bytes())
    data[data.index(b"}") + 200] ^= 0x01   # inside x's data: still a finite float32
    (tmp_path / "d.npz").write_bytes(bytes(data))
    with pytest.raises(DataError, match="CRC"):
        load_npz(tmp_path / "d.npz")


def test_an_array_longer_than_its_member_is_refused(tmp_path):
    header = {"descr": "<f8", "fortran_order": False, "shape": (1000, 4)}
    with zipfile.ZipFile(tmp_path / "d.npz", "w") as z, z.open("x.npy", "w") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(bytes(800))
    with pytest.raises(DataError, match="'x' is truncated"):
        load_npz(tmp_path / "d.npz")


def _zeros_npz(path, shape: tuple[int, ...]) -> None:
    """A compressed .npz declaring a float64 `x` of `shape`, all zeros, written without holding it."""
    header = {"descr": "<f8", "fortran_order": False, "shape": shape}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open("x.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, header)
            left = int(np.prod(shape)) * 8
            zeros = bytes(1 << 22)
            while left:
                f.write(zeros[:min(left, len(zeros))])
                left -= min(left, len(zeros))


PEAK = """
import resource, sys
from snncc.data import load_npz
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
x = load_npz(sys.argv[1]).x
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) * 1024, x.nbytes, float(abs(x).max()))
"""


def test_a_large_float64_array_costs_its_float32_copy_and_a_chunk(tmp_path):
    shape = (1 << 14, 2048)   # 256 MiB of float64 in a 1 MB file; the float32 result is 128 MiB
    declared = int(np.prod(shape)) * 8
    _zeros_npz(tmp_path / "big.npz", shape)
    assert (tmp_path / "big.npz").stat().st_size < 2 << 20
    out = subprocess.run([sys.executable, "-c", PEAK, str(tmp_path / "big.npz")], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    grown, result, largest = out.stdout.split()
    grown, result = int(grown), int(result)
    assert result == declared // 2 and float(largest) == 0.0
    # the whole-array load grew by float64 + float32 + the finite check's mask: 2.1x the result
    assert grown < result + 3 * snncc.npz_shards.CHUNK_BYTES + (16 << 20), (grown, result)
    assert grown < declared * 0.6
