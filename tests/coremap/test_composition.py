"""Explicit projections composed from sparse per-op Jacobians (network._compose) equal the old dense probe of the
whole linear sub-graph (f(e_i) - f(0)), drop cancellations, are deterministic, respect their caps, and let the bundled
MNIST CNN (a lowered max-pool tree before each conv) map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import snncc
from snncc.backends.coremap import MappingError, as_conv, check_mapping, dumps, map_graph, network
from snncc.backends.coremap.network import POOL_STAGE_OP, ConvProjection, MatrixProjection, extract, pool_window
from snncc.data import load_npz
from snncc.ir import (Add, Affine, AvgPool, Concat, ConstRef, Conv, Delay, Dense, Flatten, GlobalAvgPool, Graph,
                      GraphConv, IFNeuron, Input, Reshape, TensorType, verify)

MNIST = Path(__file__).resolve().parents[2] / "models" / "mnist_cnn.onnx"


class _Builder:
    def __init__(self, rng: np.random.Generator):
        self.rng, self.nodes, self.consts, self.types = rng, [], {}, {}

    def const(self, name, value) -> ConstRef:
        self.consts[name] = np.asarray(value, np.float32)
        return ConstRef(name)

    def input(self, name, shape):
        self.nodes.append(Input(name=name, type=TensorType(tuple(shape))))
        self.types[name] = self.nodes[-1].type
        return name

    def op(self, cls, name, inputs, **attrs):
        inputs = (inputs,) if isinstance(inputs, str) else tuple(inputs)
        probe = cls(name=name, inputs=inputs, type=TensorType(()), **attrs)
        node = probe.replace(type=probe.infer_type([self.types[i] for i in inputs], self.consts))
        self.nodes.append(node)
        self.types[name] = node.type
        return name

    def conv(self, name, src, out_c, k, groups=1, bias=True, **attrs):
        in_c = self.types[src].shape[0]
        w = self.rng.normal(0, 0.5, (out_c, in_c // groups, k, k))
        b = self.const(name + ".b", self.rng.normal(0, 0.1, out_c)) if bias else None
        return self.op(Conv, name, src, weight=self.const(name + ".w", w), bias=b, groups=groups, **attrs)

    def neuron(self, name, src):
        return self.op(IFNeuron, name, src, theta=self.const(name + ".theta", 1.0), v0=0.5)

    def graph(self, *outputs) -> Graph:
        g = Graph.build(self.nodes, outputs, self.consts, {"coding": "rate", "timesteps": "8"})
        verify(g)
        return g


def _maxpool_tree(b: _Builder, src: str, name: str) -> str:
    """The rate lowering of a 2x2/2 max pool: one-hot depthwise selection convs, differences through IF relus,
    synapse scales (here also with a shift, which goes into the bias) and adds."""
    c = b.types[src].shape[0]
    sel = {}
    for k, (i, j) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        w = np.zeros((c, 1, 2, 2))
        w[:, :, i, j] = 1.0
        sel[k] = b.op(Conv, f"{name}.sel{i}{j}", src, weight=b.const(f"{name}.sel{i}{j}.w", w), strides=(2, 2),
                      groups=c)

    def relu_max(tag, x, y):
        d = b.op(Add, f"{name}.{tag}.diff", (x, y), coeffs=(1.0, -1.0))
        r = b.neuron(f"{name}.{tag}.relu", d)
        shift = b.const(f"{name}.{tag}.shift", b.rng.normal(0, 0.1, (c, 1, 1))) if tag == "m0" else None
        a = b.op(Affine, f"{name}.{tag}.syn", r, scale=b.const(f"{name}.{tag}.scale", b.rng.uniform(0.5, 2, (c, 1, 1))),
                 shift=shift)
        return b.op(Add, f"{name}.{tag}", (y, a), coeffs=(1.0, 1.0))

    m0 = relu_max("m0", sel[0], sel[1])
    m1 = relu_max("m1", sel[2], sel[3])
    return relu_max("m2", m0, m1)


def random_net(seed: int) -> Graph:
    """conv -> if -> max-pool tree -> conv -> if; concat(pool, padded avg pool) -> grouped dilated strided conv with
    asymmetric pads -> if; a readout adding GAP -> flatten -> dense and reshape -> dense on axis -2 -> delay ->
    graph_conv -> flatten."""
    b = _Builder(np.random.default_rng(seed))
    x = b.input("x", (2, 8, 8))
    p1 = b.neuron("p1", b.conv("c1", x, 4, 3, pads=(1, 1, 1, 1)))
    pool = _maxpool_tree(b, p1, "mp")
    p2 = b.neuron("p2", b.conv("c2", pool, 6, 3, pads=(1, 1, 1, 1)))
    avg = b.op(AvgPool, "avg", p1, kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1), count_include_pad=False)
    cat = b.op(Concat, "cat", (pool, avg), axis=0)
    p3 = b.neuron("p3", b.conv("c3", cat, 6, 3, groups=2, dilations=(2, 2), pads=(2, 1, 1, 2), strides=(1, 1)))
    avg2 = b.op(AvgPool, "avg2", p3, kernel=(2, 2), strides=(1, 1), pads=(0, 0, 1, 1), count_include_pad=True)
    p4 = b.neuron("p4", b.op(Add, "sum4", (avg2, b.conv("c4", p3, 6, 1, bias=False)), coeffs=(0.5, -1.5)))
    gap = b.op(Flatten, "gap.flat", b.op(GlobalAvgPool, "gap", p2))
    fc = b.op(Dense, "fc", gap, weight=b.const("fc.w", b.rng.normal(0, 1, (12, 6))),
              bias=b.const("fc.b", b.rng.normal(0, 0.1, 12)))
    nodes_feat = b.op(Reshape, "rs", p4, shape=(6, 9))
    mix = b.op(Dense, "mix", nodes_feat, weight=b.const("mix.w", b.rng.normal(0, 1, (4, 6))), axis=-2)
    adj = (b.rng.uniform(0, 1, (4, 4)) > 0.5) * b.rng.uniform(0.2, 1, (4, 4))
    gc = b.op(GraphConv, "gc", b.op(Delay, "dl", mix, steps=1), adjacency=b.const("gc.a", adj),
              weight=b.const("gc.w", b.rng.normal(0, 1, (3, 9))), bias=b.const("gc.b", b.rng.normal(0, 0.1, 3)))
    out = b.op(Add, "out", (b.op(Flatten, "gc.flat", gc), fc), coeffs=(1.0, 0.5))
    return b.graph(out)


def dense_probe(graph: Graph, value: str, sources: list[str]):
    """The old explicit form: M_s[:, i] = f(e_i) - f(0) of the linear sub-graph, dense, in float64, one unit vector
    per source neuron (every other source at zero); and the bias f(0)."""
    nodes = graph.node_map()

    def evaluate(name, feed, memo):
        if name in feed:
            return feed[name]
        if name not in memo:
            node = nodes[name]
            memo[name] = node.evaluate([evaluate(i, feed, memo) for i in node.inputs], graph.constants)
        return memo[name]

    def run(s, batch):
        n = len(batch)
        feed = {t: np.zeros((n,) + nodes[t].type.shape, np.float64) for t in sources}
        if s is not None:
            feed[s] = batch.reshape((n,) + nodes[s].type.shape)
        return np.asarray(evaluate(value, feed, {}), np.float64).reshape(n, -1)

    base = run(None, np.zeros((1, 1)))[0]
    out = {}
    for s in sources:
        n = int(np.prod(nodes[s].type.shape))
        out[s] = (run(s, np.eye(n)) - base).T
    return out, base


def projection_dense(p) -> np.ndarray:
    if isinstance(p, MatrixProjection):
        return p.matrix.to_dense().astype(np.float64)
    rows = np.arange(int(np.prod(p.tgt_shape)))
    pos, src, w = p.rows_csr(rows)
    out = np.zeros((rows.size, int(np.prod(p.src_shape))))
    np.add.at(out, (pos, src), w)
    return out


def assert_matches_probe(graph: Graph, net) -> int:
    """Every layer's projections and bias equal the dense probe; returns how many were explicit matrices."""
    nodes = graph.node_map()
    explicit = 0
    for layer in net.layers:
        if layer.kind == "input" or layer.op == "first_spike_pool":
            continue
        value = layer.node.inputs[0] if layer.kind == "population" else layer.name
        sources = [p.source for p in layer.projections]
        probed, base = dense_probe(graph, value, sources)
        assert set(sources) == {s for s in probed}
        stages = {l.name: pool_window(l) for l in net.layers if l.op == POOL_STAGE_OP}
        for p in layer.projections:
            got, want = projection_dense(p), probed[p.source]
            # a pooling stage sends the sum of its window (its readers take the 1 / window)
            want = want * stages.get(layer.name, 1) / stages.get(p.source, 1)
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-5, err_msg=f"{layer.name} <- {p.source}")
            np.testing.assert_array_equal(got != 0, np.abs(want) > 1e-12, err_msg=f"{layer.name} <- {p.source}")
            if isinstance(p, MatrixProjection):
                explicit += 1
                m = p.matrix
                assert m.data.dtype == np.float32 and np.all(m.data != 0)
                for r in range(m.shape[0]):     # sorted, unique columns per row
                    assert np.all(np.diff(m.indices[m.indptr[r]:m.indptr[r + 1]]) > 0)
        bias = np.zeros(base.shape) if layer.bias is None else layer.bias
        np.testing.assert_allclose(bias, base, rtol=0, atol=1e-5, err_msg=layer.name)
        assert all(nodes[s].spiking or nodes[s].op == "input" or s in stages for s in sources)
    return explicit


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_composed_matrices_equal_the_dense_probe(seed, monkeypatch):
    graph = random_net(seed)
    assert_matches_probe(graph, extract(graph))             # composed matrices recognised as convs where they are
    monkeypatch.setattr(as_conv, "matrix_as_conv", lambda p: None)
    monkeypatch.setattr(network, "COMPOSE_CONVS", False)    # explicit matrices throughout
    # p2 (after the pool tree), the max-pool relus, p3 (concat), p4 and the readout are composed, not structural
    assert assert_matches_probe(graph, extract(graph)) >= 8


def test_ops_probed_one_by_one_give_the_same_matrices(monkeypatch):
    """Without any Jacobian formula every op is probed on its own (f(e_i) - f(0) of that op): same matrices."""
    graph = random_net(3)
    monkeypatch.setattr(as_conv, "matrix_as_conv", lambda p: None)
    monkeypatch.setattr(network, "COMPOSE_CONVS", False)    # explicit matrices throughout
    with_formulas = extract(graph)
    monkeypatch.setattr(network, "JACOBIAN_FORMULAS", {})
    probed = extract(graph)
    assert assert_matches_probe(graph, probed) >= 8
    for a, b in zip(with_formulas.layers, probed.layers):
        for pa, pb in zip(a.projections, b.projections):
            np.testing.assert_allclose(projection_dense(pa), projection_dense(pb), rtol=0, atol=1e-6)


def _matrices(net):
    return [(l.name, p.source, p.matrix.indptr.tobytes(), p.matrix.indices.tobytes(), p.matrix.data.tobytes())
            for l in net.layers for p in l.projections if isinstance(p, MatrixProjection)]


def test_same_graph_same_bytes():
    graph = random_net(4)
    assert _matrices(extract(graph)) == _matrices(extract(graph))


def test_products_built_in_row_blocks_give_the_same_bytes(monkeypatch):
    """conv -> conv: the bound on the product's nonzeros (81 C^2 a row) is far above its count (25 C): at a limit
    between the two the product is built in row blocks, with the same result."""
    b = _Builder(np.random.default_rng(8))
    p = b.neuron("p", b.conv("c0", b.input("x", (1, 8, 8)), 2, 3, pads=(1, 1, 1, 1)))
    ca = b.conv("ca", p, 2, 3, pads=(1, 1, 1, 1))
    graph = b.graph(b.neuron("q", b.conv("cb", ca, 2, 3, pads=(1, 1, 1, 1))))
    first = _matrices(extract(graph))
    nnz = extract(graph).layer("q").projections[0].matrix.nnz
    assert nnz < 2 * 64 * 2 * 25 + 1
    monkeypatch.setattr(network, "MAX_COMPOSED_NONZEROS", nnz)
    monkeypatch.setattr(network, "_BLOCK_NONZEROS", 7)
    calls = []
    real = network.sparse.vstack
    monkeypatch.setattr(network.sparse, "vstack", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert _matrices(extract(graph)) == first
    assert calls
    assert_matches_probe(graph, extract(graph))


def test_cancellations_are_dropped(monkeypatch):
    """(a + b) - b - a + c through adds, |a| << |b|: a + b rounds, so a residue of ~1e-17 is left where c is 0;
    it is no synapse."""
    b = _Builder(np.random.default_rng(5))
    x = b.input("x", (8,))
    p = b.neuron("p", b.op(Dense, "fc0", x, weight=b.const("fc0.w", b.rng.normal(0, 1, (32, 8)))))
    wa = b.rng.normal(0, 1e-10, (16, 32))
    wb = b.rng.normal(0, 1, (16, 32))
    wc = b.rng.normal(0, 1, (16, 32)) * (b.rng.uniform(0, 1, (16, 32)) > 0.5)
    a_ = b.op(Dense, "a", p, weight=b.const("a.w", wa))
    b_ = b.op(Dense, "b", p, weight=b.const("b.w", wb))
    c_ = b.op(Dense, "c", p, weight=b.const("c.w", wc))
    t = b.op(Add, "t", (a_, b_))
    u = b.op(Add, "u", (t, b_, a_), coeffs=(1.0, -1.0, -1.0))
    graph = b.graph(b.op(Add, "y", (u, c_)))
    monkeypatch.setattr(network, "_CANCEL_RTOL", 0.0)     # the residues exist: kept without the test
    (raw,) = extract(graph).layer("y").projections
    assert np.count_nonzero(raw.matrix.to_dense()[wc == 0]) > 0
    monkeypatch.undo()
    readout = extract(graph).layer("y")
    (proj,) = readout.projections
    np.testing.assert_array_equal(proj.matrix.to_dense() != 0, wc != 0)
    np.testing.assert_allclose(proj.matrix.to_dense(), wc, rtol=1e-6, atol=1e-12)


def test_limits_name_the_layer(monkeypatch):
    graph = random_net(0)
    monkeypatch.setattr(network, "MAX_COMPOSED_NONZEROS", 60)
    with pytest.raises(MappingError, match=r"layer %\S+: .*(compose into a \d+ x \d+ matrix|Jacobian).* nonzeros"):
        extract(graph)
    monkeypatch.setattr(network, "MAX_COMPOSED_NONZEROS", 60_000_000)
    monkeypatch.setattr(network, "JACOBIAN_FORMULAS", {})
    monkeypatch.setattr(network, "MAX_PROBE_ENTRIES", 1000)
    with pytest.raises(MappingError, match=r"layer %\S+: op %\S+ \(\w+\) between its sources and it has no Jacobian "
                                           r"formula .* gives a \d+ x \d+ matrix \([\d,]+ entries, limit 1,000\)"):
        extract(graph)


def test_composed_matrix_over_the_cap(monkeypatch):
    """Two Jacobians of 100 nonzeros whose product has 2,500: refused at the cap, before the product is whole."""
    b = _Builder(np.random.default_rng(6))
    p = b.neuron("p", b.op(Dense, "fc0", b.input("x", (3,)), weight=b.const("fc0.w", b.rng.normal(0, 1, (50, 3)))))
    d1 = b.op(Dense, "d1", p, weight=b.const("d1.w", b.rng.normal(0, 1, (2, 50))))
    graph = b.graph(b.op(Dense, "d2", d1, weight=b.const("d2.w", b.rng.normal(0, 1, (50, 2)))))
    assert extract(graph).layer("d2").projections[0].matrix.nnz == 2500
    monkeypatch.setattr(network, "MAX_COMPOSED_NONZEROS", 1000)
    monkeypatch.setattr(network, "_BLOCK_NONZEROS", 10)
    with pytest.raises(MappingError, match=r"layer %d2: the linear ops between %p and it compose into a 50 x 50 "
                                           r"matrix: its partial product at %d2 has [\d,]+ or more nonzeros \(limit "
                                           r"1,000\); only a conv or a dense read straight from a population"):
        extract(graph)


def test_mnist_cnn_maps_on_loihi2_and_loihi():
    """The bundled MNIST CNN: a lowered 2x2 max pool before a 3x3 conv composes into a 6272 x 12544 matrix of about
    130 nonzeros per row (78 M dense entries, beyond the old probe's limit), which is one stride-2 5x5 conv of the
    pooled population; the max-pool relus read it through depthwise convs. On loihi2 the shared kernels fit 5 cores;
    on loihi the sparse-tap conv's halo boxes cost more than its explicit synapses, so the mapper keeps it explicit."""
    x = load_npz(snncc.default_calibration_file(MNIST)).x[:64]
    graph = snncc.compile(str(MNIST), "rate", timesteps=8, calibration=x)
    net = extract(graph)
    proj = {p.source: p for p in net.layer("node_relu_1").projections}["node_relu"]
    assert isinstance(proj, ConvProjection) and proj.strides == (2, 2) and proj.weight.shape == (32, 16, 5, 5)
    explicit = network.explicit_projection(proj)
    assert explicit.matrix.shape == (6272, 12544) and 100 * 6272 < explicit.matrix.nnz <= 144 * 6272
    pool = net.layer("node_max_pool2d.max0_0.relu").projections[0]
    assert isinstance(pool, ConvProjection) and pool.groups == 16
    kinds = {}
    for profile in ("loihi2", "loihi"):
        result = map_graph(graph, profile, x, calibration_samples=16, granularities=(8,))
        doc = json.loads(dumps(result.document))
        assert check_mapping(graph, doc) == []
        assert doc["summary"]["cores"] <= 1.15 * doc["summary"]["lower_bound_cores"], profile
        kinds[profile] = {s["kind"] for l in doc["layers"] if l["name"] == "node_relu_1" for s in l["sources"]}
    assert kinds["loihi2"] == {"conv"} and "matrix" in kinds["loihi"]


def test_conv_jacobian_matches_conv_projection():
    """Any groups / strides / pads / dilations: the Jacobian is the structural projection's explicit form."""
    rng = np.random.default_rng(7)
    w = rng.normal(0, 1, (6, 2, 3, 2)).astype(np.float32)
    proj = ConvProjection("s", (4, 9, 7), (6, 4, 5), w, (2, 1), (1, 0, 2, 1), (2, 3), 2)
    from snncc.ir import numeric

    x = rng.normal(0, 1, (4, 9, 7))
    y = numeric.conv2d(x[None], w.astype(np.float64), None, (2, 1), (1, 0, 2, 1), (2, 3), 2)[0]
    assert y.shape == (6, 4, 5)
    j = network._conv_jacobian((4, 9, 7), (6, 4, 5), w, (2, 1), (1, 0, 2, 1), (2, 3), 2, "")
    np.testing.assert_allclose(j @ x.reshape(-1), y.reshape(-1), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(j.toarray(), projection_dense(proj), rtol=1e-6)
