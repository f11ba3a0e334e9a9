"""Hardware profiles: the per-core limits a mapping must respect, read from JSON files.

Built-in profiles live in `profiles/NAME.json` (each cites its sources; numbers not checked against the primary
paper are marked "[unverified]" in its `sources`). A user's own profile is any JSON file with the same fields.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from pathlib import Path

from snncc.errors import OptionError

PROFILE_SCHEMA = "snncc-hw-profile/1"
PROFILE_DIR = Path(__file__).with_name("profiles")
CODINGS = ("rate", "signed", "bits", "phase", "amos", "ttfs")
MEMORY_MODELS = ("per_synapse", "crossbar")
MAX_PROFILE_BYTES = 1 << 20


class ProfileError(OptionError):
    """A hardware profile is missing, unreadable, incomplete or has a nonsensical value."""


@dataclass(frozen=True)
class Profile:
    """One core's limits and the chip around it.

    neurons_per_core              neurons (compartments) one core holds
    input_axons_per_core          distinct incoming axons (fan-in) one core can receive
    output_axons_per_core         outgoing axons one core can drive (one per (neuron, destination core) pair)
    output_axons_per_neuron       0 = unlimited; 1 = each neuron drives one axon (TrueNorth): a neuron with k
                                  destination cores needs k-1 splitter neurons on its core
    synapse_memory_bits_per_core  synapse memory of one core
    synapse_memory_model          per_synapse: synapses (or shared conv kernels) x weight_bits;
                                  crossbar: input axons x neurons x 1 bit (a dense binary crossbar)
    weight_bits                   signed weight precision (quantization grid: 2^(bits-1) - 1 levels per sign)
    shared_conv_weights           a conv kernel is stored once per core (not once per synapse)
    cores_per_chip, max_chips     chip size and the largest system
    state_bits                    membrane potential / threshold precision (signed)
    signed_spikes                 a spike can carry a sign; otherwise signed events need a second axon
    graded_spikes                 a spike can carry an integer payload (per-step scales of bits/phase codings);
                                  otherwise each step's scale needs its own axon and weight copy
    neuron_models                 codings the profile can run (rate, signed, bits, phase, amos, ttfs)
    """

    name: str
    description: str
    comment: str
    neurons_per_core: int
    input_axons_per_core: int
    output_axons_per_core: int
    output_axons_per_neuron: int
    synapse_memory_bits_per_core: int
    synapse_memory_model: str
    weight_bits: int
    shared_conv_weights: bool
    cores_per_chip: int
    max_chips: int
    state_bits: int
    signed_spikes: bool
    graded_spikes: bool
    neuron_models: tuple[str, ...]
    sources: dict

    @property
    def max_weight(self) -> int:
        """Largest magnitude of a quantized weight: 2^(weight_bits-1) - 1 (1 for 2-bit trinary weights)."""
        return (1 << (self.weight_bits - 1)) - 1

    @property
    def max_state(self) -> int:
        return (1 << (self.state_bits - 1)) - 1

    def to_json(self) -> dict:
        out = {"schema": PROFILE_SCHEMA}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def digest(self) -> str:
        """SHA-256 of the canonical JSON form (sorted keys, no whitespace)."""
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


_POSITIVE_INTS = ("neurons_per_core", "input_axons_per_core", "output_axons_per_core",
                  "synapse_memory_bits_per_core", "cores_per_chip", "max_chips")


def builtin_profiles() -> list[str]:
    """Names of the bundled profiles."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.json"))


def profile_from_dict(data: dict, origin: str = "profile") -> Profile:
    """Validate a profile's JSON object; ProfileError names the file, the field and what is wrong."""
    if not isinstance(data, dict):
        raise ProfileError(f"{origin}: a profile must be a JSON object")
    if data.get("schema", PROFILE_SCHEMA) != PROFILE_SCHEMA:
        raise ProfileError(f"{origin}: schema {data.get('schema')!r} is not {PROFILE_SCHEMA!r}")
    wanted = [f.name for f in fields(Profile)]
    optional = {"description": "", "comment": "", "sources": {}}
    missing = [k for k in wanted if k not in data and k not in optional]
    if missing:
        raise ProfileError(f"{origin}: missing field(s) {', '.join(missing)} (see docs/mapping.md for every field)")
    unknown = sorted(set(data) - set(wanted) - {"schema"})
    if unknown:
        raise ProfileError(f"{origin}: unknown field(s) {', '.join(unknown)}")
    values = {k: data.get(k, optional.get(k)) for k in wanted}

    def bad(key: str, why: str) -> ProfileError:
        return ProfileError(f"{origin}: {key} = {values[key]!r} {why}")

    for key in _POSITIVE_INTS:
        v = values[key]
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 1 << 53:
            raise bad(key, "must be a positive integer (at most 2^53)")
    v = values["output_axons_per_neuron"]
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise bad("output_axons_per_neuron", "must be an integer >= 0 (0 = unlimited)")
    for key, lo, hi in (("weight_bits", 2, 32), ("state_bits", 2, 64)):
        v = values[key]
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise bad(key, f"must be an integer in [{lo}, {hi}]")
    if values["state_bits"] < values["weight_bits"]:
        raise bad("state_bits", f"is smaller than weight_bits = {values['weight_bits']}")
    for key in ("shared_conv_weights", "signed_spikes", "graded_spikes"):
        if not isinstance(values[key], bool):
            raise bad(key, "must be true or false")
    if values["synapse_memory_model"] not in MEMORY_MODELS:
        raise bad("synapse_memory_model", f"must be one of {', '.join(MEMORY_MODELS)}")
    models = values["neuron_models"]
    if not isinstance(models, list) or not models or any(m not in CODINGS for m in models):
        raise bad("neuron_models", f"must be a non-empty list of codings from {', '.join(CODINGS)}")
    for key in ("name", "description", "comment"):
        if not isinstance(values[key], str):
            raise bad(key, "must be a string")
    if not values["name"] or len(values["name"]) > 100 or not values["name"].isprintable():
        # printed in summaries: a control character (an ANSI escape, a newline) would rewrite the terminal
        raise bad("name", "must be a non-empty printable name of at most 100 characters")
    if not isinstance(values["sources"], dict):
        raise bad("sources", "must be an object {field: citation}")
    values["neuron_models"] = tuple(models)
    return Profile(**values)


def load_profile(spec: str | Path | Profile) -> Profile:
    """A profile by built-in name (`loihi2`) or from a JSON file path."""
    if isinstance(spec, Profile):
        return spec
    text = str(spec)
    path = Path(text)
    if not (text.endswith(".json") or "/" in text or path.exists()):   # a name, not a path: a built-in
        path = PROFILE_DIR / f"{text}.json"
        if not path.is_file():
            raise ProfileError(f"unknown hardware profile {text!r}; built-in: {', '.join(builtin_profiles())} "
                               "(or pass a JSON file)")
    from snncc.backends.coremap.json_input import read_json

    data = read_json(path, "profile file", ProfileError, MAX_PROFILE_BYTES)
    return profile_from_dict(data, str(path))
