"""Composed matrices that are convolutions become conv projections (exactly: same nonzeros, same values), and a
mapping may keep a sparse-tap conv explicit; the checker and the core-level simulation follow the file's choice."""

import json

import numpy as np

from snncc.backends.coremap import as_conv, check_mapping, dumps, map_graph, network, to_graph
from snncc.backends.coremap.coresim import quantized_from_mapping, simulate_cores, whole_graph_spike_trains
from snncc.backends.coremap.network import (ConvProjection, MatrixProjection, SparseRows, explicit_projection,
                                            extract, has_zero_taps)
from tests.coremap.nets import compiled


def test_pool_selection_convs_are_recognised_exactly(monkeypatch):
    graph, _ = compiled("maxpool")
    monkeypatch.setattr(network, "COMPOSE_CONVS", False)    # the fit itself, not the direct composition (conv_chain)
    recognised = extract(graph)
    monkeypatch.setattr(as_conv, "matrix_as_conv", lambda p: None)
    composed = extract(graph)
    convs = 0
    for a, b in zip(recognised.layers, composed.layers):
        for pa, pb in zip(a.projections, b.projections):
            if isinstance(pa, ConvProjection) and isinstance(pb, MatrixProjection):
                convs += 1
                m = explicit_projection(pa).matrix
                np.testing.assert_array_equal(m.indptr, pb.matrix.indptr)
                np.testing.assert_array_equal(m.indices, pb.matrix.indices)
                np.testing.assert_allclose(m.data, pb.matrix.data, rtol=1e-6)
                assert pa.groups == pa.src_shape[0]      # the pool's selections and synapse scales are depthwise
    assert convs >= 3


def test_a_selection_down_to_one_row_is_a_conv_from_row_0():
    """A 2x2 max pool of a 2-row image leaves one output row; its selection of source row 1 is a 2-row kernel whose
    first row is zero (ppocr_cls under AMOS: the fit read a 1-row kernel and wrote past it)."""
    c, w = 3, 8
    rows = np.arange(c * (w // 2))
    ch, x = np.divmod(rows, w // 2)
    cols = ch * 2 * w + w + 2 * x + 1            # channel ch, row 1, column 2x + 1
    m = SparseRows(np.arange(rows.size + 1), cols, np.ones(rows.size, np.float32), (rows.size, c * 2 * w))
    p = MatrixProjection("s", (c, 2, w), (c, 1, w // 2), m)
    conv = as_conv.matrix_as_conv(p)
    assert conv is not None and conv.weight.shape[2:] == (2, 2) and conv.groups == c
    np.testing.assert_array_equal(explicit_projection(conv).matrix.indices, cols)


def test_a_matrix_that_is_no_conv_stays_a_matrix():
    rng = np.random.default_rng(0)
    dense = (rng.uniform(0, 1, (2 * 4 * 4, 2 * 6 * 6)) > 0.9) * rng.normal(0, 1, (32, 72))
    p = MatrixProjection("s", (2, 6, 6), (2, 4, 4), SparseRows.from_dense(dense.astype(np.float32)))
    assert as_conv.matrix_as_conv(p) is None
    w = rng.normal(0, 1, (3, 2, 3, 3)).astype(np.float32)
    conv = ConvProjection("s", (2, 6, 6), (3, 4, 4), w, (1, 1), (0, 0, 0, 0), (1, 1), 1)
    back = as_conv.matrix_as_conv(explicit_projection(conv))
    assert back is not None and back.strides == (1, 1) and back.weight.shape == (3, 2, 3, 3)
    np.testing.assert_array_equal(back.weight, w)


def test_explicit_sparse_tap_convs_are_checked_and_simulated_as_recorded():
    graph, x = compiled("maxpool")
    result = map_graph(graph, "loihi", x, calibration_samples=16)
    doc = json.loads(dumps(result.document))
    kinds = {l["name"]: [s["kind"] for s in l["sources"]] for l in doc["layers"]}
    assert kinds["pool1.max0_1.relu"] == ["matrix"]     # a 2x2 selection diff with an all-zero kernel row
    assert has_zero_taps(extract(graph).layer("pool1.max0_1.relu").projections[0])
    assert check_mapping(graph, doc) == []
    cores = simulate_cores(graph, doc, x[:6])
    q = quantized_from_mapping(graph, doc)
    ref = whole_graph_spike_trains(to_graph(q, dict(graph.meta)), q.quantize_input(x[:6]), doc["timesteps"])
    for layer, trains in cores.spikes.items():
        np.testing.assert_array_equal(trains, ref.spikes[layer], err_msg=layer)
    # the same file claiming a conv where the mapper placed a matrix no longer adds up
    wrong = json.loads(dumps(result.document))
    for l in wrong["layers"]:
        if l["name"] == "pool1.max0_1.relu":
            l["sources"][0]["kind"] = "conv"
    assert check_mapping(graph, wrong) != []
