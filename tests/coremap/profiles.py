"""Profiles for the tests: the built-in ones plus a small generic core that forces many cores on tiny networks."""

from dataclasses import replace

from snncc.backends.coremap import load_profile

SMALL = replace(load_profile("generic"), name="small", neurons_per_core=96, input_axons_per_core=600,
                output_axons_per_core=600, synapse_memory_bits_per_core=40_000)
BUILTIN = ("loihi", "loihi2", "truenorth", "spinnaker2", "generic")
