"""Golden text IR: every bundled model compiled with every registered coding must reproduce its recorded text IR
byte for byte (or still fail with the recorded "not applicable" reason). `pytest --update-golden` rewrites them."""

import pytest

from snncc.errors import SnnccError
from snncc.ir import to_bytes, to_text
from snncc.ir.parse import parse
from tests.golden.golden import GOLDEN, bundled_models, compile_graph, load_manifest, registered_codings, update

_updated = False


def pytest_generate_tests(metafunc):
    global _updated
    if metafunc.config.getoption("--update-golden") and not _updated:
        update()     # before parametrizing, so the tests below check the files just written
        _updated = True
    entries = load_manifest()
    ids = [f"{e['model']}-{e['coding']}" for e in entries]
    if "golden_entry" in metafunc.fixturenames:
        picked = [(e, i) for e, i in zip(entries, ids) if "golden" in e]
        metafunc.parametrize("golden_entry", [e for e, _ in picked], ids=[i for _, i in picked])


def test_recompiling_gives_the_golden_text(golden_entry):
    graph = compile_graph(golden_entry["model"], golden_entry["coding"], golden_entry["options"])
    expected = (GOLDEN / golden_entry["golden"]).read_text()
    text = to_text(graph)
    assert text == expected, (f"compiled IR of {golden_entry['model']} --coding {golden_entry['coding']} changed; "
                              f"review with `snncc diff`, then `pytest --update-golden`")
    # the golden text parses back byte for byte, and the binary survives its full-precision text exactly
    assert to_text(parse(expected)) == expected
    assert to_bytes(parse(to_text(graph, full=True))) == to_bytes(graph)


def test_not_applicable_pairs_still_fail_with_their_reason():
    """A pair recorded as not applicable must still be refused with the same message (one test for all of them:
    there may be none, and an empty parametrization would be a skip)."""
    for entry in load_manifest():
        if "not_applicable" in entry:
            with pytest.raises(SnnccError) as info:
                compile_graph(entry["model"], entry["coding"], entry["options"])
            assert str(info.value) == entry["not_applicable"], f"{entry['model']} --coding {entry['coding']}"


def test_manifest_covers_every_bundled_model_and_registered_coding():
    listed = {(e["model"], e["coding"]) for e in load_manifest()}
    missing = [f"{m} --coding {c}" for m in bundled_models() for c in registered_codings() if (m, c) not in listed]
    assert not missing, ("no golden entry (file or 'not applicable' reason) for: " + ", ".join(missing)
                         + "; run `pytest tests/golden --update-golden` and review `git diff tests/golden`")
    for e in load_manifest():
        assert ("golden" in e) != ("not_applicable" in e), f"entry {e} must have exactly one of golden/not_applicable"
        if "golden" in e:
            assert (GOLDEN / e["golden"]).is_file(), f"{e['golden']} is listed but missing"
