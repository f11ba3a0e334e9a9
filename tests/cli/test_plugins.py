"""A pass in the user's own module, used from the command line: --plugin (a module or a .py file), the entry point
group snncc.passes, and --insert-after/--insert-before into a coding's default pipeline."""

import os
import textwrap

import pytest

from snncc.cli import main
from snncc.ir import load

PLUGIN = textwrap.dedent('''
    from snncc import register_pass
    from snncc.passes import PassResult


    @register_pass("{name}")
    def tag_header(graph, ctx, factor: int = 1):
        """Record its factor in the header. It changes nothing else."""
        return PassResult(graph.with_(meta={{**graph.meta, "{name}": str(factor)}}), True)
''')
MLP = "models/digits_mlp.onnx"


@pytest.fixture(autouse=True)
def _registry_restored():
    """The passes a test's plugin registers do not outlive it (other tests walk the registry)."""
    from snncc.passes import PASS_REGISTRY

    before = dict(PASS_REGISTRY)
    yield
    PASS_REGISTRY.clear()
    PASS_REGISTRY.update(before)


def _plugin(folder, module, name):
    path = folder / f"{module}.py"
    path.write_text(PLUGIN.format(name=name))
    return path


def test_plugin_file_and_insert_after(tmp_path, capsys):
    path = _plugin(tmp_path, "tagger_file", "tag-file")
    out = tmp_path / "m.snnir"
    assert main(["compile", MLP, "-T", "8", "--plugin", str(path), "--insert-after", "fold-bn:tag-file{factor=3}",
                 "--insert-before", "lower-rate:tag-file", "-o", str(out), "--no-progress"]) == 0
    meta = load(out).meta
    assert "fold-bn,tag-file{factor=3},fold-affine" in meta["pipeline"]
    assert ",tag-file,lower-rate{v0=half}" in meta["pipeline"]
    assert meta["tag-file"] == "1"   # the later insertion ran last
    assert meta["pipeline"].startswith("match-activations,match-qcfs,fold-bn,")   # the rest of the rate pipeline is untouched


def test_plugin_module_by_name_from_the_current_folder(tmp_path, monkeypatch, capsys):
    _plugin(tmp_path, "tagger_mod", "tag-mod")
    monkeypatch.chdir(tmp_path)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert main(["--plugin", "tagger_mod", "compile", os.path.join(repo, MLP), "-T", "8", "--coding", "phase",
                 "--insert-after", "insert-delays:tag-mod{factor=7}", "-o", "m.snnir", "--no-progress"]) == 0
    meta = load(tmp_path / "m.snnir").meta
    assert meta["pipeline"].endswith("insert-delays,tag-mod{factor=7}") and meta["tag-mod"] == "7"
    capsys.readouterr()
    assert main(["--plugin", "tagger_mod", "passes"]) == 0
    assert "tag-mod                  Record its factor in the header." in capsys.readouterr().out


@pytest.mark.parametrize("args,expected", [
    (["--insert-after", "fold-bnn:fold-bn"],
     "no pass 'fold-bnn' in the pipeline; its passes are match-activations, match-qcfs, fold-bn"),
    (["--insert-after", "fold-bn:no-such-pass"], "unknown pass 'no-such-pass'"),
    (["--insert-after", "fold-bn"], "write ANCHOR:PASS"),
    (["--plugin", "surely_not_a_module_xyz"], "no module named 'surely_not_a_module_xyz'"),
    (["--plugin", "missing/plugin.py"], "no such file"),
])
def test_clear_errors(args, expected, tmp_path, capsys):
    assert main(["compile", MLP, "-o", str(tmp_path / "m.snnir"), *args]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert not (tmp_path / "m.snnir").exists()


def test_a_plugin_that_fails_to_import(tmp_path, capsys):
    bad = tmp_path / "broken_plugin.py"
    bad.write_text("raise RuntimeError('boom')\n")
    assert main(["--plugin", str(bad), "passes"]) == 2
    assert f"--plugin {bad} failed while importing: RuntimeError: boom" in capsys.readouterr().err


def test_entry_point_group(tmp_path, monkeypatch, capsys):
    _plugin(tmp_path, "tagger_ep", "tag-ep")
    info = tmp_path / "tagger_ep-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tagger-ep\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[snncc.passes]\ntagger = tagger_ep\n")
    monkeypatch.syspath_prepend(str(tmp_path))   # as if the package were installed
    assert main(["passes"]) == 0
    assert "tag-ep" in capsys.readouterr().out
    out = tmp_path / "m.snnir"
    assert main(["compile", MLP, "-T", "4", "--insert-after", "lower-rate:tag-ep{factor=2}", "-o", str(out),
                 "--no-progress"]) == 0
    assert load(out).meta["tag-ep"] == "2"
