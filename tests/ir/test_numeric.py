"""The convolution kernel holds a bounded window copy: OriNet's 320x320 calibration batch once asked for 3.5 GB."""

import tracemalloc

import numpy as np

from snncc.ir import numeric
from tests.helpers import rand


def _conv(x, w):
    return numeric.conv2d(x, w, np.ones(w.shape[0], np.float32), (1, 1), (1, 1, 1, 1), (1, 1), 1)


def test_a_batch_is_convolved_in_chunks_of_bounded_copies(monkeypatch):
    x, w = rand(16, 4, 32, 32, seed=1), rand(8, 4, 3, 3, seed=2)
    whole = _conv(x, w)                                  # 16 x 4*9 x 32*32 float32: a 2.4 MB window copy
    monkeypatch.setattr(numeric, "IM2COL_BYTES", 1 << 19)
    tracemalloc.start()
    chunked = _conv(x, w)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1.6e6                                 # the output (0.5 MB) twice and one chunk's copy
    np.testing.assert_array_equal(chunked, whole)


def test_grouped_and_strided_chunks_agree(monkeypatch):
    x, w = rand(9, 4, 12, 12, seed=3), rand(4, 2, 3, 3, seed=4)
    args = (None, (2, 2), (1, 0, 1, 0), (1, 1), 2)
    whole = numeric.conv2d(x, w, *args)
    monkeypatch.setattr(numeric, "IM2COL_BYTES", 1)     # one sample at a time
    np.testing.assert_array_equal(numeric.conv2d(x, w, *args), whole)


def test_running_out_of_memory_in_a_node_stays_a_memory_error(monkeypatch):
    """The CLI turns MemoryError into "error: out of memory ..." (exit 2); wrapped as InterpretError it was an
    "internal error ... please report it" (exit 3)."""
    import pytest
    from onnx import helper

    from snncc.frontend import onnx_to_ir, prepare
    from snncc.ir import run
    from tests.helpers import make_model

    graph = onnx_to_ir(prepare(make_model([helper.make_node("Conv", ["x", "w"], ["y"])], (2, 5, 5), None,
                                          {"w": rand(3, 2, 3, 3)})))

    def no_memory(*args):
        raise MemoryError("Unable to allocate 3.52 GiB")
    monkeypatch.setattr(numeric, "conv2d", no_memory)
    with pytest.raises(MemoryError):
        run(graph, rand(2, 2, 5, 5))
