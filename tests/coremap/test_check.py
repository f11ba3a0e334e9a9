"""`check_mapping` recomputes every limit independently and rejects hand-broken mappings."""

import copy

import pytest

from snncc.backends.coremap import check_mapping
from tests.coremap.profiles import SMALL


@pytest.fixture
def cnn_small(mapped):
    graph, _, doc = mapped("cnn", SMALL)
    assert check_mapping(graph, doc) == []
    return graph, doc


def _broken(doc, edit):
    doc = copy.deepcopy(doc)
    edit(doc)
    return doc


def test_edited_counts_are_caught(cnn_small):
    graph, doc = cnn_small
    for key in ("neurons", "input_axons", "output_axons", "synapses", "memory_bits"):
        bad = _broken(doc, lambda d: d["cores"][1].__setitem__(key, d["cores"][1][key] - 1))
        problems = check_mapping(graph, bad)
        assert any(f"core 1: file says {key}" in p for p in problems), (key, problems)


def test_overfull_core_is_a_violation(cnn_small):
    """Move every slice of core 1 into core 0: core 0 then holds more than the profile allows."""
    graph, doc = cnn_small

    def merge(d):
        d["cores"][0]["slices"] += d["cores"][1]["slices"]
        d["cores"][1]["slices"] = []

    problems = check_mapping(graph, _broken(doc, merge))
    assert any("core 0: neurons" in p and "exceeds the small limit 96" in p for p in problems)
    assert any(p.startswith("route") for p in problems)


def test_missing_and_overlapping_slices(cnn_small):
    graph, doc = cnn_small
    gone = _broken(doc, lambda d: d["cores"][2]["slices"].pop())
    assert any("neurons are on no core" in p for p in check_mapping(graph, gone))
    twice = _broken(doc, lambda d: d["cores"][2]["slices"].append(copy.deepcopy(d["cores"][0]["slices"][0])))
    assert any("are also on core" in p for p in check_mapping(graph, twice))
    outside = _broken(doc, lambda d: d["cores"][0]["slices"][0].__setitem__("channels", [0, 999]))
    assert any("lies outside layer" in p for p in check_mapping(graph, outside))


def test_routes_must_match(cnn_small):
    graph, doc = cnn_small
    more = _broken(doc, lambda d: d["routes"][-1].__setitem__("axons", d["routes"][-1]["axons"] + 1))
    assert any(p.startswith("route") and "axons" in p for p in check_mapping(graph, more))
    dropped = _broken(doc, lambda d: d["routes"].pop(0))
    assert any(p.startswith("route") for p in check_mapping(graph, dropped))


def test_profile_limits_and_hashes(cnn_small, mapped):
    graph, doc = cnn_small
    tighter = _broken(doc, lambda d: d["profile"].__setitem__("input_axons_per_core", 10))
    problems = check_mapping(graph, tighter)
    assert any("profile_sha256" in p for p in problems)
    assert any("input_axons" in p and "exceeds the small limit 10" in p for p in problems)
    other, _, _ = mapped("resnet", SMALL)
    assert any("source_ir_sha256" in p for p in check_mapping(other, doc))
    chips = _broken(doc, lambda d: d["profile"].update(cores_per_chip=1, max_chips=2))
    assert any("chips needed" in p for p in check_mapping(graph, chips))
