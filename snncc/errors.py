"""The error types users see. Every user-facing failure is a SnnccError: the CLI prints its message (what, where,
what to do) and exits 2; `--debug` shows the traceback."""

from __future__ import annotations


class SnnccError(Exception):
    """Base of every error snncc reports to a user."""

    exit_code = 2


class ModelLoadError(SnnccError):
    """The model file cannot be read, is not valid ONNX, or points outside its folder."""


class UnsupportedModelError(SnnccError):
    """The model uses ops, attributes or shapes snncc cannot convert; the message lists every offending node."""


class DataError(SnnccError):
    """A data file (.npz) is missing arrays, has the wrong shape or dtype, or holds objects."""


class PassError(SnnccError):
    """A pass failed; the message names the pass, the node and the passes that ran before."""


class OptionError(SnnccError):
    """An option value is out of range or inconsistent with the model."""
