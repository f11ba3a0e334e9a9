"""The snncc version (its own module: reading it imports nothing else)."""

VERSION = "0.1.0"
