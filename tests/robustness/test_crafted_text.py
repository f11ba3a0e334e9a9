"""Issue 19 item 7: crafted text IR (integers and dimensions beyond int64, thousands of digits, deep `[` nesting,
constant and value shapes that overflow or exceed the memory cap) and the hashed `inspect` form given where weights
are needed: every command refuses them with one clear message, exit 2."""

from __future__ import annotations

import re

import pytest

from snncc.cli import main
from tests.robustness.util import assert_clean_failure, run_cli, compile_tiny


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text")
    compile_tiny(folder, labels=True)
    assert main(["export", str(folder / "m.snnir"), "--format", "text", "--full", "-o", str(folder / "full.txt")]) == 0
    full = (folder / "full.txt").read_text()
    # what `inspect` prints for a tensor over INLINE_LIMIT elements: a digest and a range, no values
    lines = [re.sub(r"^(@fc1.weight = f32\[3,4\]) .*$", r"\1 sha256:0123456789abcdef min=-1 max=1", line)
             for line in full.split("\n")]
    (folder / "hashed.txt").write_text("\n".join(lines))
    return folder, full


CASES = {
    "integer of 5000 digits": (lambda t: t.replace("axis=-1", "axis=-1" + "0" * 5000, 1), "does not fit a 64-bit"),
    "integer over int64": (lambda t: t.replace("axis=-1", "axis=-9223372036854775809", 1), "does not fit a 64-bit"),
    "dimension over int64": (lambda t: t.replace(": f32[2]\nreturn", ": f32[99999999999999999999]\nreturn"),
                             "dimension 99999999999999999999 does not fit"),
    "dimension of 5000 digits": (lambda t: t.replace(": f32[2]\nreturn", ": f32[" + "9" * 5000 + "]\nreturn"),
                                 "(5000 digits) does not fit"),
    "deep nesting": (lambda t: t.replace("axis=-1", "axis=" + "[" * 100000 + "]" * 100000, 1), "nested more than"),
    "huge value type": (lambda t: t.replace(": f32[2]\nreturn", ": f32[4294967296,4294967296]\nreturn"),
                        "more than the memory cap"),
    "constant shape overflowing int64 products": (
        lambda t: t.replace("@fc1.bias = f32[3]", "@fc1.bias = f32[4294967296,4294967296,4294967296,0]"),
        "@fc1.bias"),
    "constant too large": (lambda t: t.replace("@fc1.bias = f32[3]", "@fc1.bias = f32[4294967296,4294967296]"),
                           "more than the memory cap"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["diff", "export", "map", "eval", "inspect"])
def test_crafted_text_is_refused(texts, tmp_path, capsys, case, command):
    folder, full = texts
    craft, needle = CASES[case]
    crafted = craft(full)
    assert crafted != full, "the crafting did not apply"
    path = tmp_path / "bad.txt"
    path.write_text(crafted)
    args = {"diff": ["diff", folder / "m.snnir", path],
            "export": ["export", path, "--format", "text", "-o", tmp_path / "o.txt"],
            "map": ["map", path, "--profile", "generic", "-o", tmp_path / "o.map.json"],
            "eval": ["eval", path, "--data", folder / "c.npz"],
            "inspect": ["inspect", path]}[command]
    code, _, err = run_cli(capsys, *args)
    assert_clean_failure(code, err, needle)
    assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt"]


@pytest.mark.parametrize("command", ["map", "eval", "export-nir"])
def test_hashed_text_needs_the_full_form(texts, tmp_path, capsys, command):
    folder, _ = texts
    hashed = folder / "hashed.txt"
    args = {"map": ["map", hashed, "--profile", "generic", "-o", tmp_path / "o.map.json"],
            "eval": ["eval", hashed, "--data", folder / "c.npz"],
            "export-nir": ["export", hashed, "--format", "nir", "-o", tmp_path / "o.nir"]}[command]
    code, _, err = run_cli(capsys, *args)
    assert_clean_failure(code, err, "hashed tensors", "--full")
    assert list(tmp_path.iterdir()) == []


def test_the_full_text_form_still_runs_everywhere(texts, tmp_path, capsys):
    folder, _ = texts
    code, out, err = run_cli(capsys, "eval", folder / "full.txt", "--data", folder / "c.npz", "--json")
    assert code == 0, err
    code, _, err = run_cli(capsys, "map", folder / "full.txt", "--profile", "generic", "-o", tmp_path / "o.map.json")
    assert code == 0, err
    code, out, err = run_cli(capsys, "inspect", folder / "full.txt")
    assert code == 0 and out.startswith("snnir "), err
