"""NIR export: the written file reads back with `nir.read` holding every weight; a reference NIR simulator written
from NIR's published equations (tests/nir/reference.py, not snncc's simulator) reproduces `snncc eval`'s predictions;
codings and ops NIR cannot express fail with a message saying what is missing."""

import json

import numpy as np
import nir
import pytest
from onnx import helper

import snncc
from snncc.backends.nir_export import NirExportError, check_exportable, export_nir, to_nir, ungrouped
from snncc.backends.simulator import simulate
from snncc.cli import main
from snncc.ir import ConstRef, Dense, Graph, IFNeuron, Input, Relu, TensorType, load, to_text
from snncc.ir.parse import parse
from tests.helpers import make_model, rand
from tests.nir.reference import simulate_nir

T = 32


@pytest.fixture(scope="module")
def digits():
    return np.load("models/data/digits_test.npz"), np.load("models/data/digits_calib.npz")["x"]


@pytest.fixture(scope="module")
def mlp(tmp_path_factory, digits):
    """digits_mlp compiled with the rate coding and exported with the CLI."""
    folder = tmp_path_factory.mktemp("nir")
    snnir, out = folder / "mlp.snnir", folder / "mlp.nir"
    assert main(["compile", "models/digits_mlp.onnx", "-o", str(snnir), "-T", str(T)]) == 0
    assert main(["export", str(snnir), "--format", "nir", "-o", str(out)]) == 0
    return load(snnir), out


def small_cnn():
    """A CNN with every op the rate export handles: padded conv, MaxPool (lowered to a ReLU tree), a residual Add
    (its synapses become Scale nodes), AvgPool (a depthwise conv), Flatten and a dense head."""
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("Add", ["r2", "p1"], ["s"]),
             helper.make_node("Relu", ["s"], ["r3"]),
             helper.make_node("AveragePool", ["r3"], ["a"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["a"], ["f"]),
             helper.make_node("Gemm", ["f", "w3", "b3"], ["y"], transB=1)]
    inits = {"w1": rand(6, 1, 3, 3, seed=1, scale=0.5), "b1": rand(6, seed=2, scale=0.1),
             "w2": rand(6, 6, 3, 3, seed=3, scale=0.3), "b2": rand(6, seed=4, scale=0.1),
             "w3": rand(10, 24, seed=5, scale=0.5), "b3": rand(10, seed=6, scale=0.1)}
    return make_model(nodes, (1, 8, 8), (10,), inits)


def test_file_reads_back_with_every_weight(mlp):
    graph, path = mlp
    back = nir.read(path)
    assert back.metadata["coding"] == "rate" and back.metadata["pipeline"] == graph.meta["pipeline"]
    nodes = graph.node_map()
    ifs = [n for n in graph.nodes if n.op == "if_neuron"]
    denses = [n for n in graph.nodes if n.op == "dense"]
    assert len(ifs) == 2 and len(denses) == 3
    for d in denses:
        node = back.nodes[d.name]
        assert isinstance(node, nir.Affine)
        np.testing.assert_array_equal(node.weight, graph.constants[d.weight])
        np.testing.assert_array_equal(node.bias, graph.constants[d.bias])
    for n in ifs:
        theta = np.broadcast_to(graph.constants[n.theta], n.type.shape).astype(np.float32)
        assert isinstance(back.nodes[f"{n.name}.v"], nir.I)
        np.testing.assert_array_equal(back.nodes[f"{n.name}.v"].r, np.ones(n.type.shape, np.float32))
        np.testing.assert_array_equal(back.nodes[f"{n.name}.reset"].scale, -theta)
        thr = back.nodes[n.name].threshold
        # strict threshold just below theta (1 - v0): v > thr  <=>  v >= theta (1 - v0) for float32 v
        start = theta * np.float32(1 - n.v0)
        assert np.all(thr < start) and np.all(np.nextafter(thr, np.float32(np.inf)) == start)
        # the soft-reset loop: input -> I -> Threshold -> Scale(-theta) -> I
        assert {(nodes[n.inputs[0]].name, f"{n.name}.v"), (f"{n.name}.v", n.name), (n.name, f"{n.name}.reset"),
                (f"{n.name}.reset", f"{n.name}.v")} <= {tuple(e) for e in back.edges}
    assert isinstance(back.nodes["input"], nir.Input) and isinstance(back.nodes["output"], nir.Output)
    assert (graph.outputs[0], "output") in {tuple(e) for e in back.edges}


def _compile_and_export(folder, model):
    return _compile_and_export_with(folder, model, [])


def _compile_and_export_with(folder, model, options):
    snnir, out = folder / f"{model}.snnir", folder / f"{model}.nir"
    assert main(["compile", f"models/{model}.onnx", "-o", str(snnir), "-T", str(T), *options]) == 0
    assert main(["export", str(snnir), "--format", "nir", "-o", str(out)]) == 0
    return load(snnir), snnir, out


# The whole digits test set. digits_resnet agrees too (benchmarks/nir_interop.py runs it in nirtorch on the whole
# set) but simulating it twice costs ~30 s of CI time; its residual path is covered by the small CNN test below.
@pytest.mark.parametrize("model, samples", [("digits_mlp", None), ("digits_cnn", None)])
def test_reference_nir_simulation_matches_snncc_eval_on_digits(model, samples, digits, tmp_path, capsys):
    test, _ = digits
    graph, snnir, path = _compile_and_export(tmp_path, model)
    x, y = test["x"][:samples], test["y"][:samples]
    ours = simulate(graph, x, T)   # what `snncc eval` runs
    theirs = simulate_nir(nir.read(path), x, T)
    assert np.mean(theirs.argmax(-1) == ours.predictions[T]) == 1.0
    # not only the argmax: every decoded logit agrees up to float32 summation order
    np.testing.assert_allclose(theirs, ours.outputs[T], atol=1e-4)
    capsys.readouterr()
    args = ["eval", str(snnir), "--data", "models/data/digits_test.npz", "--json"]
    assert main(args + ([] if samples is None else ["--limit", str(samples)])) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["snn_accuracy"] == pytest.approx(np.mean(theirs.argmax(-1) == y), abs=1e-12)
    assert report["snn_accuracy"] > 0.9


def test_reset_to_zero_if_is_not_what_snncc_computes(mlp, digits):
    """Contrast: the same network with NIR's plain IF (reset to v_reset = 0) gives different outputs, which is why
    the export spells soft reset out with an integrator and a recurrent edge."""
    graph, path = mlp
    test, _ = digits
    g = nir.read(path)
    nodes, edges = dict(g.nodes), [tuple(e) for e in g.edges]
    for n in graph.nodes:
        if n.op == "if_neuron":
            theta = np.broadcast_to(graph.constants[n.theta], n.type.shape).astype(np.float32)
            nodes[n.name] = nir.IF(r=np.ones(n.type.shape, np.float32), v_threshold=theta,
                                   v_reset=np.zeros(n.type.shape, np.float32))
            del nodes[f"{n.name}.v"], nodes[f"{n.name}.reset"]
            src = next(a for a, b in edges if b == f"{n.name}.v" and a != f"{n.name}.reset")
            edges = [e for e in edges if f"{n.name}.v" not in e and f"{n.name}.reset" not in e] + [(src, n.name)]
    hard = simulate_nir(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), test["x"][:200], T)
    soft = simulate_nir(nir.read(path), test["x"][:200], T)
    assert np.abs(hard - soft).max() > 0.1


def test_cnn_with_maxpool_residual_and_avgpool_matches_the_simulator(tmp_path, digits):
    test, calib = digits
    graph = snncc.compile(small_cnn(), "rate", timesteps=T, calibration=calib)
    ops = {n.op for n in graph.nodes}
    assert {"conv", "add", "affine", "avg_pool", "if_neuron", "flatten", "dense"} <= ops
    path = tmp_path / "cnn.nir"
    export_nir(graph, path)
    nir_graph = nir.read(path)    # type-checked by nir: grouped convs are written as block-diagonal plain convs
    kinds = {type(n).__name__ for n in nir_graph.nodes.values()}
    for node in graph.nodes:
        if node.op == "conv":
            written = nir_graph.nodes[node.name]
            assert written.groups == 1
            np.testing.assert_array_equal(written.weight, ungrouped(graph.constants[node.weight], node.groups))
            if node.groups > 1:   # the block-diagonal expansion keeps each group's weights and zeros elsewhere
                assert np.count_nonzero(written.weight) == np.count_nonzero(graph.constants[node.weight])
    assert {"Conv2d", "Scale", "Threshold", "I", "Flatten", "Affine"} <= kinds
    x = test["x"][:120]
    ours = simulate(graph, x, T)
    theirs = simulate_nir(nir_graph, x, T)
    assert np.mean(theirs.argmax(-1) == ours.predictions[T]) == 1.0
    np.testing.assert_allclose(theirs, ours.outputs[T], atol=1e-4)


def _tiny(op_node, coding="rate"):
    consts = {"w": np.ones((3, 4), np.float32), "theta": np.ones(3, np.float32)}
    nodes = [Input(name="x", type=TensorType((4,))),
             Dense(name="fc", inputs=("x",), type=TensorType((3,)), weight=ConstRef("w")), op_node]
    return Graph.build(nodes, (op_node.name,), consts, {"coding": coding})


@pytest.mark.parametrize("coding, missing", [
    ("phase", "no clock"), ("amos", "per-step threshold"), ("bits", "time-varying weight"),
    ("signed", "only {0, 1}")])
def test_other_codings_fail_saying_what_nir_lacks(coding, missing):
    g = _tiny(IFNeuron(name="n", inputs=("fc",), type=TensorType((3,)), theta=ConstRef("theta")), coding)
    with pytest.raises(NirExportError, match=f"NIR cannot express the {coding} coding: .*{missing}"):
        check_exportable(g)


def test_unlowered_relu_is_named_with_the_fix():
    g = _tiny(Relu(name="act", inputs=("fc",), type=TensorType((3,))))
    with pytest.raises(NirExportError, match=r"%act \(relu\): .*compile with --coding rate"):
        to_nir(g)


def test_cli_export_errors(tmp_path, mlp, capsys):
    graph, _ = mlp
    hashed = tmp_path / "m.txt"
    snnir = tmp_path / "m.snnir"
    from snncc.ir import save
    save(graph, snnir)
    assert main(["export", str(snnir), "--format", "text", "-o", str(hashed)]) == 0
    assert hashed.read_text() == to_text(graph)
    assert main(["export", str(snnir), "--format", "nir", "--full", "-o", str(tmp_path / "y.nir")]) == 2
    assert "--full applies to --format text only" in capsys.readouterr().err
    assert main(["export", str(hashed), "--format", "nir", "-o", str(tmp_path / "x.nir")]) == 2
    assert "hashed tensors" in capsys.readouterr().err
    assert not (tmp_path / "x.nir").exists()
    assert main(["export", str(hashed), "--format", "text", "--full", "-o", str(tmp_path / "full.txt")]) == 2
    assert "hashed tensors" in capsys.readouterr().err
    phase = tmp_path / "p.snnir"
    from snncc.ir import save
    save(_tiny(IFNeuron(name="n", inputs=("fc",), type=TensorType((3,)), theta=ConstRef("theta")), "phase"), phase)
    assert main(["export", str(phase), "--format", "nir", "-o", str(tmp_path / "p.nir")]) == 2
    assert "NIR cannot express the phase coding" in capsys.readouterr().err


def test_full_text_exports_the_same_nir_as_the_binary(tmp_path, mlp):
    graph, path = mlp
    full = tmp_path / "full.txt"
    full.write_text(to_text(graph, full=True))
    out = tmp_path / "from_text.nir"
    assert main(["export", str(full), "--format", "nir", "-o", str(out)]) == 0
    a, b = nir.read(path), nir.read(out)
    assert sorted(a.nodes) == sorted(b.nodes)
    for name in a.nodes:
        for field in ("weight", "bias", "scale", "threshold", "r"):
            if hasattr(a.nodes[name], field):
                np.testing.assert_array_equal(getattr(a.nodes[name], field), getattr(b.nodes[name], field))
    assert parse(full.read_text()).meta["coding"] == "rate"


@pytest.mark.parametrize("v0", [0.0, 0.5])
def test_output_population_with_out_scale_and_exact_ties(v0):
    """An IF population that is the graph output keeps its spike scale (a Scale node after the Threshold), and a
    membrane landing exactly on theta fires in both (snncc fires at v >= theta, NIR's Threshold at v > threshold)."""
    theta = np.array([0.5, 1.0, 2.0, 0.75], np.float32)
    consts = {"w": np.eye(4, dtype=np.float32), "b": np.zeros(4, np.float32), "theta": theta}
    nodes = [Input(name="x", type=TensorType((4,))),
             Dense(name="fc", inputs=("x",), type=TensorType((4,)), weight=ConstRef("w"), bias=ConstRef("b")),
             IFNeuron(name="n", inputs=("fc",), type=TensorType((4,)), theta=ConstRef("theta"),
                      out_scale=ConstRef("theta"), v0=v0)]
    g = Graph.build(nodes, ("n",), consts, {"coding": "rate"})
    rng = np.random.default_rng(3)
    x = np.concatenate([theta[None, :], theta[None, :] / 2, rng.uniform(-1, 3, (64, 4)).astype(np.float32)])
    ours = simulate(g, x, 16)
    theirs = simulate_nir(to_nir(g), x, 16)
    np.testing.assert_allclose(theirs, ours.outputs[16], rtol=0, atol=1e-6)
    np.testing.assert_allclose(theirs[0], theta)   # current == theta: a spike (worth theta) every step


def test_graph_layers_are_carried_flattened():
    """A GCN-style graph: dense on features (axis -1) and on nodes (axis -2) of a (nodes, features) value become
    Affine maps kron(I, W) / kron(A, I) on the C-order vector; the output is written flattened with its shape in the
    metadata."""
    rng = np.random.default_rng(7)
    consts = {"w1": rng.standard_normal((4, 3)).astype(np.float32), "b1": rng.standard_normal(4).astype(np.float32),
              "adj": rng.uniform(0, 0.5, (5, 5)).astype(np.float32), "theta": np.array([0.5, 1, 1.5, 2], np.float32),
              "w2": rng.standard_normal((2, 4)).astype(np.float32), "b2": np.zeros(2, np.float32)}
    nodes = [Input(name="x", type=TensorType((5, 3))),
             Dense(name="feat", inputs=("x",), type=TensorType((5, 4)), weight=ConstRef("w1"), bias=ConstRef("b1")),
             Dense(name="mix", inputs=("feat",), type=TensorType((5, 4)), weight=ConstRef("adj"), axis=-2),
             IFNeuron(name="act", inputs=("mix",), type=TensorType((5, 4)), theta=ConstRef("theta"), v0=0.5),
             Dense(name="head", inputs=("act",), type=TensorType((5, 2)), weight=ConstRef("w2"), bias=ConstRef("b2"))]
    g = Graph.build(nodes, ("head",), consts, {"coding": "rate"})
    nir_graph = to_nir(g)
    np.testing.assert_array_equal(nir_graph.nodes["mix"].weight, np.kron(consts["adj"], np.eye(4, dtype=np.float32)))
    np.testing.assert_array_equal(nir_graph.nodes["head"].weight, np.kron(np.eye(5, dtype=np.float32), consts["w2"]))
    np.testing.assert_array_equal(nir_graph.metadata["output.shape"], [5, 2])
    x = rng.uniform(0, 2, (40, 5, 3)).astype(np.float32)
    ours = simulate(g, x, 24)
    theirs = simulate_nir(nir_graph, x, 24).reshape(-1, 5, 2)
    np.testing.assert_allclose(theirs, ours.outputs[24], atol=1e-4)


def test_karate_gcn_matches_the_simulator(tmp_path):
    """The bundled GCN: graph layers carried flattened, the bias added after A H W folded into that Affine."""
    data = np.load("models/data/karate.npz")
    graph, _, path = _compile_and_export_with(tmp_path, "karate_gcn", ["--calib", "models/data/karate.npz"])
    written = nir.read(path)
    assert [n for n in written.nodes if isinstance(written.nodes[n], nir.Flatten)] == ["input.flat"]
    ours = simulate(graph, data["x"], T)
    theirs = simulate_nir(written, data["x"], T).reshape(ours.outputs[T].shape)
    np.testing.assert_allclose(theirs, ours.outputs[T], atol=1e-5)
    mask = data["test_mask"]
    assert np.mean(theirs.argmax(-1)[0][mask] == data["y"][0][mask]) > 0.8


@pytest.mark.parametrize("shape, scale_shape", [((6,), (6,)), ((3, 4, 4), (3, 1, 1))])
def test_affine_with_shift_after_a_population(shape, scale_shape):
    """A shift that cannot fold into a dense layer: Affine(diag) on a vector, a per-channel 1x1 Conv2d on images."""
    rng = np.random.default_rng(11)
    consts = {"theta": np.full(scale_shape, 0.8, np.float32),
              "s": rng.uniform(0.5, 2, scale_shape).astype(np.float32),
              "t": rng.uniform(-1, 1, scale_shape).astype(np.float32)}
    from snncc.ir import Affine
    nodes = [Input(name="x", type=TensorType(shape)),
             IFNeuron(name="n", inputs=("x",), type=TensorType(shape), theta=ConstRef("theta"), v0=0.5),
             Affine(name="a", inputs=("n",), type=TensorType(shape), scale=ConstRef("s"), shift=ConstRef("t"))]
    g = Graph.build(nodes, ("a",), consts, {"coding": "rate"})
    written = to_nir(g)
    assert isinstance(written.nodes["a"], nir.Affine if len(shape) == 1 else nir.Conv2d)
    x = rng.uniform(0, 1.2, (16,) + shape).astype(np.float32)
    np.testing.assert_allclose(simulate_nir(written, x, 12), simulate(g, x, 12).outputs[12], atol=1e-5)
