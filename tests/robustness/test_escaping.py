"""Issue 19 item 19: nothing from a file reaches the terminal or the text form raw: a header key with a newline
cannot forge header lines (refused on load, escaped when printed), and a profile name with ANSI escapes is refused
(its repr in the message shows the escape, the terminal never receives it)."""

from __future__ import annotations

import json

import pytest

from snncc.ir import load, to_bytes, to_text
from tests.robustness.util import assert_clean_failure, run_cli, compile_tiny


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    folder = tmp_path_factory.mktemp("escaping")
    compile_tiny(folder)
    return folder, load(folder / "m.snnir")


@pytest.mark.parametrize("key", ["x\ncoding", "a b", "", "k" * 65, "\x1b[2J"])
def test_a_forged_header_key_is_refused_on_load(compiled, tmp_path, capsys, key):
    _, graph = compiled
    path = tmp_path / "forged.snnir"
    path.write_bytes(to_bytes(graph.with_(meta={**graph.meta, key: "v"})))
    for command in (["inspect", path], ["eval", path, "--data", compiled[0] / "c.npz"]):
        code, out, err = run_cli(capsys, *command)
        assert_clean_failure(code, err, "is not a plain name")
        assert "\x1b" not in err and out == ""


def test_a_graph_built_in_memory_prints_odd_keys_escaped(compiled):
    _, graph = compiled
    text = to_text(graph.with_(meta={**graph.meta, "x\ncoding": "v"}))
    header = text.split("\n\n", 1)[0].split("\n")
    assert '"x\\ncoding" "v"' in header
    assert not any(line.startswith("coding") and line != 'coding "rate"' for line in header)


def test_a_profile_name_with_escapes_is_refused(compiled, tmp_path, capsys):
    folder, _ = compiled
    from snncc.backends.coremap import load_profile

    profile = load_profile("generic").to_json()
    profile["name"] = "\x1b[31mred\x1b[0m"
    (tmp_path / "p.json").write_text(json.dumps(profile))
    code, out, err = run_cli(capsys, "map", folder / "m.snnir", "--profile", tmp_path / "p.json", "-o",
                             tmp_path / "o.map.json")
    assert_clean_failure(code, err, "name", "printable")
    assert "\x1b" not in err + out
