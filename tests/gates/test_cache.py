"""The on-disk cache of refitted circuits: a hit gives the same IR bytes without fitting, a corrupt or foreign
file is ignored with a warning, the key follows everything the fit depends on, and the cache can be turned off."""

import json

import numpy as np
import pytest

import snncc
from snncc.gates import FitSettings, get_circuit, get_gate
from snncc.gates import cache as gate_cache
from snncc.gates.table import _refit
from snncc.ir.serialize import to_bytes
from tests.amos.models import images
from tests.passes.test_match_activations import SPELLINGS, _model

QUICK = FitSettings(restarts=4, steps=150, halving_interval=50, survivors=2, polish_sweeps=2, eval_points=10_001)
WIDE = (-5.0, 6.0)          # outside the shipped HardSwish entry: always a refit


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(gate_cache.CACHE_ENV, str(tmp_path))
    _refit.cache_clear()
    yield tmp_path
    _refit.cache_clear()


def _no_fitting(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("fit_circuit ran although the cache holds the fit")
    monkeypatch.setattr("snncc.gates.table.fit_circuit", refuse)


def test_a_second_compile_reads_the_cache_and_gives_identical_ir_bytes(cache, monkeypatch):
    model = _model(SPELLINGS["gelu_tanh_pow"][1])        # not in the shipped table: always a refit
    calibration = images(100, seed=5)
    first = snncc.compile(model, "amos", calibration=calibration, phases=6, fit="quick")
    files = sorted(cache.glob("gelu_tanh-K6-*.json"))
    assert len(files) == 1 and not list(cache.glob("*.tmp"))
    _refit.cache_clear()
    _no_fitting(monkeypatch)
    second = snncc.compile(model, "amos", calibration=calibration, phases=6, fit="quick")
    assert to_bytes(second) == to_bytes(first)


@pytest.mark.parametrize("content", [
    "{not json", "", "\x80\x04\x95 pickle bytes",
    json.dumps({"format": "snncc-gate-fit", "version": 1, "key": {"gate": "other"}, "circuit": {}}),
    json.dumps({"format": "something-else"}),
], ids=["truncated", "empty", "pickle", "foreign_key", "foreign_format"])
def test_a_corrupt_or_foreign_file_is_ignored_with_a_warning(cache, content):
    fitted = get_circuit("hardswish", 6, WIDE, fit_settings=QUICK)
    (path,) = cache.glob("hardswish-K6-*.json")
    path.write_text(content, encoding="latin-1")
    _refit.cache_clear()
    with pytest.warns(gate_cache.GateCacheWarning, match="ignoring gate cache file"):
        refitted = get_circuit("hardswish", 6, WIDE, fit_settings=QUICK)
    assert refitted == fitted
    assert json.loads(path.read_text())["key"]["gate"] == "hardswish"       # rewritten with the refit


def test_the_key_changes_with_everything_the_fit_depends_on(monkeypatch):
    gate = get_gate("hardswish")
    base = gate_cache.fit_key(gate, 6, WIDE, 0.5, 1.0, QUICK)
    variants = [gate_cache.fit_key(gate, 7, WIDE, 0.5, 1.0, QUICK),
                gate_cache.fit_key(gate, 6, (-5.0, 6.5), 0.5, 1.0, QUICK),
                gate_cache.fit_key(gate, 6, WIDE, 0.6, 1.0, QUICK),
                gate_cache.fit_key(gate, 6, WIDE, None, None, QUICK),
                gate_cache.fit_key(gate, 6, WIDE, 0.5, 1.0, FitSettings(restarts=5, steps=150)),
                gate_cache.fit_key(get_gate("silu"), 6, WIDE, 0.5, 1.0, QUICK)]
    monkeypatch.setattr(gate_cache, "FITTER_VERSION", gate_cache.FITTER_VERSION + 1)
    variants.append(gate_cache.fit_key(gate, 6, WIDE, 0.5, 1.0, QUICK))
    folder = gate_cache.Path("/cache")
    paths = {gate_cache._path(folder, key) for key in variants + [base]}
    assert len(paths) == len(variants) + 1


def test_a_user_gate_registered_again_with_another_function_misses(monkeypatch):
    from snncc.gates import Gate, Lowering

    one = Gate(name="bump", function=lambda x: np.exp(-np.asarray(x) ** 2), default_K=6, default_range=WIDE,
               lowering=Lowering.FITTED)
    other = Gate(name="bump", function=lambda x: np.exp(-2 * np.asarray(x) ** 2), default_K=6, default_range=WIDE,
                 lowering=Lowering.FITTED)
    assert gate_cache.fit_key(one, 6, WIDE, None, None, QUICK) != gate_cache.fit_key(other, 6, WIDE, None, None, QUICK)


def test_the_cache_folder_follows_xdg_and_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.delenv(gate_cache.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert gate_cache.cache_dir() == tmp_path / "snncc" / "gates"
    monkeypatch.setenv(gate_cache.CACHE_ENV, "off")
    assert gate_cache.cache_dir() is None
    _refit.cache_clear()
    get_circuit("hardswish", 5, WIDE, fit_settings=QUICK)
    assert not (tmp_path / "snncc").exists()
    _refit.cache_clear()
