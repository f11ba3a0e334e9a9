"""Issue 19 items 8 and 14 (mapping and profile inputs): `snncc map --check` on a malformed mapping file, and a
malformed profile file, is a user error (exit 2) naming the field, never a crash (exit 3) nor a list of "violations"
(exit 1); FIFOs and endless files are refused before they are read; sizes and nesting are capped."""

from __future__ import annotations

import copy
import json
import os

import pytest

from tests.robustness.util import assert_clean_failure, run_cli, compile_tiny


@pytest.fixture(scope="module")
def mapped(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mapping")
    compile_tiny(folder, "--target", "generic")
    return folder, json.loads((folder / "m.map.json").read_text())


def _set(path, value):
    def edit(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return doc
    return edit


MALFORMED = {
    "cores is an object": (_set(["cores"], {}), "cores must be a list"),
    "cores are integers": (_set(["cores"], [1, 2]), "cores[0] must be an object"),
    "cores is null": (_set(["cores"], None), "cores must be a list, not null"),
    "a count is a string": (_set(["cores", 0, "neurons"], "12"), "cores[0].neurons must be a count"),
    "a count is negative": (_set(["cores", 0, "synapses"], -1), "cores[0].synapses must be a count"),
    "a count is huge": (_set(["cores", 0, "id"], 10 ** 400), "cores[0].id must be a count"),
    "a range is a string": (_set(["cores", 0, "slices", 0, "channels"], "0-3"), "channels must be a list"),
    "a range has 3 ends": (_set(["cores", 0, "slices", 0, "rows"], [0, 1, 2]), "must be a pair"),
    "a slice is a list": (_set(["cores", 0, "slices"], [[0, 1]]), "slices[0] must be an object"),
    "routes is an object": (_set(["routes"], {"a": 1}), "routes must be a list"),
    "axons is null": (_set(["routes", 0, "axons"], None), "routes[0].axons must be a count"),
    "summary is a list": (_set(["summary"], []), "summary must be an object"),
    "profile is a name": (_set(["profile"], "generic"), "profile must be an object"),
    "profile field is a string": (_set(["profile", "neurons_per_core"], "1024"), "neurons_per_core"),
    "layers is a number": (_set(["layers"], 5), "layers must be a list"),
    "no routes": (lambda d: {k: v for k, v in d.items() if k != "routes"}, "no field 'routes'"),
    "top level is a list": (lambda d: [d], "not a snncc core mapping"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_mapping_files_are_user_errors(mapped, tmp_path, capsys, case):
    folder, doc = mapped
    edit, needle = MALFORMED[case]
    bad = tmp_path / "bad.map.json"
    bad.write_text(json.dumps(edit(copy.deepcopy(doc))))
    code, out, err = run_cli(capsys, "map", "--check", folder / "m.snnir", bad)
    assert_clean_failure(code, err, "bad.map.json", needle)
    assert "violation" not in out


@pytest.mark.parametrize("text, needle", [
    ("[" * 100000 + "]" * 100000, "nested more than"),
    ('{"format": "snncc-core-map", "version": 1, "x": NaN}', "NaN is not a number JSON allows"),
    ('{"format": "snncc-core-map", "version": 1, "x": [' + "1," * 10 + "]}", "not a readable JSON"),
    ("\xff\xfe", "not UTF-8"),
])
def test_unparseable_mapping_files(mapped, tmp_path, capsys, text, needle):
    folder, _ = mapped
    bad = tmp_path / "bad.map.json"
    bad.write_bytes(text.encode("latin-1") if text.startswith("\xff") else text.encode())
    code, _, err = run_cli(capsys, "map", "--check", folder / "m.snnir", bad)
    assert_clean_failure(code, err, needle)


def test_a_valid_mapping_still_checks(mapped, capsys):
    folder, _ = mapped
    code, out, err = run_cli(capsys, "map", "--check", folder / "m.snnir", folder / "m.map.json")
    assert code == 0 and "ok" in out, err


def test_a_fifo_or_endless_file_is_not_read(mapped, tmp_path, capsys):
    folder, _ = mapped
    os.mkfifo(tmp_path / "pipe.json")
    for path in (tmp_path / "pipe.json", "/dev/zero"):
        code, _, err = run_cli(capsys, "map", "--check", folder / "m.snnir", path)
        assert_clean_failure(code, err, "not a regular file")
        code, _, err = run_cli(capsys, "map", folder / "m.snnir", "--profile", path, "-o", tmp_path / "o.map.json")
        assert_clean_failure(code, err, "not a regular file")


def test_an_oversized_profile_is_refused_before_reading(mapped, tmp_path, capsys):
    folder, _ = mapped
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(2 << 20)          # sparse: 2 MiB of zeros
    code, _, err = run_cli(capsys, "map", folder / "m.snnir", "--profile", big, "-o", tmp_path / "o.map.json")
    assert_clean_failure(code, err, "too large for a profile file")


@pytest.mark.parametrize("field, value", [("neurons_per_core", 10 ** 30), ("neurons_per_core", "1024"),
                                          ("neuron_models", {"rate": 1}), ("sources", [1])])
def test_malformed_profile_values(mapped, tmp_path, capsys, field, value):
    folder, doc = mapped
    profile = dict(doc["profile"], **{field: value})
    path = tmp_path / "p.json"
    path.write_text(json.dumps(profile))
    code, _, err = run_cli(capsys, "map", folder / "m.snnir", "--profile", path, "-o", tmp_path / "o.map.json")
    assert_clean_failure(code, err, field)
