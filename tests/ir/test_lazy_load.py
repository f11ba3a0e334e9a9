"""`load(path, lazy=True)`: the same graph as an eager load, constants read from the file when used and freed when
their last holder drops them, and the same errors for broken files."""

import gc
import weakref

import numpy as np
import pytest

from snncc.ir import FormatError, load, save, to_bytes, to_text
from snncc.ir.lazy_load import FileConstants
from tests.ir.test_serialize import small_graph


def test_lazy_graph_is_the_eager_graph(tmp_path):
    path = tmp_path / "g.snnir"
    save(small_graph(), path)
    eager, lazy = load(path), load(path, lazy=True)
    assert isinstance(lazy.constants, FileConstants)
    assert lazy.nodes == eager.nodes and lazy.outputs == eager.outputs and dict(lazy.meta) == dict(eager.meta)
    assert list(lazy.constants) == list(eager.constants)
    for name, value in eager.constants.items():
        got = lazy.constants[name]
        assert got.dtype == value.dtype and got.shape == value.shape and got.tobytes() == value.tobytes()
        assert not got.flags.writeable
    assert to_bytes(lazy) == to_bytes(eager) == path.read_bytes()
    assert to_text(lazy) == to_text(eager)


def test_a_constant_lives_while_held_and_goes_when_dropped(tmp_path):
    path = tmp_path / "g.snnir"
    save(small_graph(), path)
    constants = load(path, lazy=True).constants
    w = constants["w"]
    assert constants["w"] is w                      # held: asked again, the same array (no second copy)
    gone = weakref.ref(w)
    del w
    gc.collect()
    assert gone() is None                           # dropped by its last holder: freed, not cached
    assert np.array_equal(constants["w"], small_graph().constants["w"])     # read again on the next use


def test_broken_files_are_format_errors_as_when_eager(tmp_path):
    data = to_bytes(small_graph())
    for k, bad in enumerate((data[: len(data) // 2], data[:-3], b"\x00\x01garbage" * 7, b"")):
        path = tmp_path / f"bad{k}.snnir"
        path.write_bytes(bad)
        with pytest.raises(FormatError):
            load(path)
        with pytest.raises(FormatError, match=str(path)):
            load(path, lazy=True)
    with pytest.raises(FormatError, match="no such file"):
        load(tmp_path / "missing.snnir", lazy=True)
