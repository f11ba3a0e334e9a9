import json

import pytest

from snncc.backends.coremap import ProfileError, builtin_profiles, load_profile, profile_from_dict
from snncc.backends.coremap.profile import PROFILE_DIR


def test_builtin_profiles_load_and_cite_their_sources():
    assert {"loihi", "loihi2", "truenorth", "spinnaker2", "generic"} <= set(builtin_profiles())
    for name in builtin_profiles():
        p = load_profile(name)
        assert p.name == name
        assert p.neurons_per_core > 0 and p.input_axons_per_core > 0 and p.synapse_memory_bits_per_core > 0
        if name != "generic":
            assert "Sources:" in p.comment
            assert p.sources, name  # per-field citations
    assert load_profile("loihi").neurons_per_core == 1024 and load_profile("loihi").input_axons_per_core == 4096
    assert load_profile("truenorth").output_axons_per_neuron == 1
    assert "[unverified" in json.dumps(load_profile("loihi2").sources)


def test_user_profile_file(tmp_path):
    data = json.loads((PROFILE_DIR / "generic.json").read_text())
    data["name"] = "mine"
    data["neurons_per_core"] = 64
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(data))
    assert load_profile(str(path)).neurons_per_core == 64


@pytest.mark.parametrize("change, message", [
    ({"neurons_per_core": 0}, "neurons_per_core = 0 must be a positive integer"),
    ({"weight_bits": 1}, "weight_bits = 1 must be an integer in [2, 32]"),
    ({"shared_conv_weights": "yes"}, "must be true or false"),
    ({"neuron_models": ["rate", "magic"]}, "neuron_models"),
    ({"synapse_memory_model": "cloud"}, "synapse_memory_model"),
    ({"cores_per_chip": 2.5}, "cores_per_chip"),
    ({"extra": 1}, "unknown field(s) extra"),
])
def test_nonsensical_profiles_are_clear_errors(change, message):
    data = json.loads((PROFILE_DIR / "generic.json").read_text())
    data.update(change)
    with pytest.raises(ProfileError, match=None) as info:
        profile_from_dict(data, "p.json")
    assert message in str(info.value) and "p.json" in str(info.value)


def test_missing_field_is_named():
    data = json.loads((PROFILE_DIR / "loihi.json").read_text())
    del data["input_axons_per_core"]
    with pytest.raises(ProfileError, match="missing field.*input_axons_per_core"):
        profile_from_dict(data, "p.json")


def test_unknown_profile_and_unreadable_file(tmp_path):
    with pytest.raises(ProfileError, match="unknown hardware profile 'loihi9'.*loihi2"):
        load_profile("loihi9")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ProfileError, match="not a readable JSON profile"):
        load_profile(str(bad))
    with pytest.raises(ProfileError, match="no such profile file"):
        load_profile(str(tmp_path / "absent.json"))
