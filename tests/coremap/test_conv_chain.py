"""A chain of convs from one source (a max-pool tree's strided selections, then the next conv) composes as one conv
without the explicit matrix, equal to that matrix exactly; the mapping of the bundled max-pool model is unchanged."""

import numpy as np

from snncc.backends.coremap import as_conv, check_mapping, map_graph, network
from snncc.backends.coremap.conv_chain import compose_conv
from snncc.backends.coremap.network import ConvProjection, MatrixProjection, extract
from snncc.ir import Conv
from tests.coremap.nets import compiled
from tests.coremap.test_composition import _Builder, _maxpool_tree, projection_dense, random_net


def _small_net(seed: int):
    """conv -> IF -> stride-2 one-hot selection conv -> conv -> IF, and the max-pool tree of the same."""
    b = _Builder(np.random.default_rng(seed))
    x = b.input("x", (3, 10, 10))
    p1 = b.neuron("p1", b.conv("c1", x, 4, 3, pads=(1, 1, 1, 1)))
    w = np.zeros((4, 1, 2, 2))
    w[:, :, 1, 0] = 1.0
    sel = b.op(Conv, "sel", p1, weight=b.const("sel.w", w), strides=(2, 2), groups=4)
    p2 = b.neuron("p2", b.conv("c2", sel, 5, 3, pads=(1, 1, 1, 1)))
    pool = _maxpool_tree(b, p1, "mp")
    p3 = b.neuron("p3", b.conv("c3", pool, 6, 3, pads=(1, 1, 1, 1), strides=(2, 2)))
    return b.graph(p2, p3)


def _explicit(graph, monkeypatch):
    monkeypatch.setattr(network, "COMPOSE_CONVS", False)
    monkeypatch.setattr(as_conv, "matrix_as_conv", lambda p: None)
    out = extract(graph)
    monkeypatch.undo()
    return out


def test_direct_composition_equals_the_explicit_matrix(monkeypatch):
    for graph in (_small_net(0), _small_net(1), random_net(0), random_net(2)):
        direct = extract(graph)
        explicit = _explicit(graph, monkeypatch)
        composed = 0
        for a, b in zip(direct.layers, explicit.layers):
            assert [p.source for p in a.projections] == [p.source for p in b.projections]
            for pa, pb in zip(a.projections, b.projections):
                np.testing.assert_array_equal(projection_dense(pa), projection_dense(pb), err_msg=a.name)
                composed += isinstance(pa, ConvProjection) and isinstance(pb, MatrixProjection)
            np.testing.assert_array_equal(a.bias if a.bias is not None else 0, b.bias if b.bias is not None else 0)
        assert composed >= 1
    graph = _small_net(0)
    nodes = graph.node_map()
    p = compose_conv(nodes, graph.constants, "c2", "p1", ["sel", "c2"])
    # kernel k2 s1 + k1 - s1 = 6 at stride 4 / 2, trimmed to its live taps (rows 1, 3, 5 and columns 0, 2, 4)
    assert p is not None and p.strides == (2, 2) and p.weight.shape[2:] == (5, 5) and p.pads[:2] == (1, 2)


def test_a_padded_selection_is_not_composed():
    """A selection that reads the source's interior through the next conv's padding is no conv chain."""
    b = _Builder(np.random.default_rng(0))
    x = b.input("x", (2, 6, 6))
    p1 = b.neuron("p1", b.conv("c1", x, 2, 3, pads=(1, 1, 1, 1)))
    sel = b.op(Conv, "sel", p1, weight=b.const("sel.w", np.ones((2, 1, 3, 3))), pads=(1, 1, 1, 1), groups=2)
    b.neuron("p2", b.conv("c2", sel, 2, 3, pads=(1, 1, 1, 1)))
    graph = b.graph("p2")
    assert compose_conv(graph.node_map(), graph.constants, "c2", "p1", ["sel", "c2"]) is None


def test_maxpool_model_maps_the_same(monkeypatch):
    """Same cores and a clean check; the pool relays' projections are now convs where the fit had left matrices."""
    graph, x = compiled("maxpool")
    new = map_graph(graph, "loihi", x, calibration_samples=16)
    assert check_mapping(graph, new.document) == []
    monkeypatch.setattr(network, "COMPOSE_CONVS", False)
    old = map_graph(graph, "loihi", x, calibration_samples=16)
    assert len(new.document["cores"]) == len(old.document["cores"])
