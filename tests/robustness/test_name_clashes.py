"""Issue 19 item 12: thousands of ONNX nodes sharing one name are de-duplicated in linear time (the clash series
resumes where it stopped instead of rescanning x_1, x_2, ... each time), with the same names as before."""

from __future__ import annotations

import time

from onnx import helper

from snncc.frontend import load_onnx, onnx_to_ir
from snncc.ir.names import NameTable
from tests.helpers import make_model


def _reference(requests, taken=()):
    """The quadratic definition: the first free `base`, `base_1`, `base_2`, ..."""
    used, out = set(taken), []
    for base in requests:
        name, n = base, 0
        while name in used:
            n += 1
            name = f"{base}_{n}"
        used.add(name)
        out.append(name)
    return out


def test_names_are_those_of_the_definition():
    requests = ["x", "x", "y", "x_1", "x", "x_3", "x", "y", "x"]
    table = NameTable({"x_2"})
    assert [table.fresh(r) for r in requests] == _reference(requests, {"x_2"})


def test_twenty_thousand_clashes_take_linear_time():
    table = NameTable()
    start = time.perf_counter()
    names = [table.fresh("relu") for _ in range(20000)]
    assert time.perf_counter() - start < 1.0      # the quadratic version took ~20 s here
    assert names[:3] == ["relu", "relu_1", "relu_2"] and len(set(names)) == 20000


def test_a_model_whose_nodes_share_one_name_converts_quickly(tmp_path):
    n = 3000
    nodes = [helper.make_node("Relu", ["x" if i == 0 else f"t{i - 1}"], [f"t{i}" if i < n - 1 else "y"],
                              name="same") for i in range(n)]
    (tmp_path / "m.onnx").write_bytes(make_model(nodes, [4], [4]).SerializeToString())
    start = time.perf_counter()
    graph = onnx_to_ir(load_onnx(tmp_path / "m.onnx"))
    assert time.perf_counter() - start < 30
    assert len({node.name for node in graph.nodes}) == len(graph.nodes)
