"""The error types users see. Every user-facing failure is a SnnccError: the CLI prints its message (what, where,
what to do) and exits 2; `--debug` shows the traceback.

    SnnccError
    ├── ModelLoadError          the .onnx file: unreadable, not ONNX, rejected by the checker, unsafe external data
    ├── UnsupportedModelError   ops, attributes, shapes (dynamic, zero-sized) or weights (NaN/Inf) snncc cannot convert
    ├── DataError               a data file (.npz): unreadable, object arrays, wrong shape or dtype
    ├── PassError               a pass failed (names the pass, the node and the passes before it)
    ├── OptionError             an option value is out of range or inconsistent with the model
    ├── FormatError             a .snnir file: corrupted, truncated, not .snnir, or of a newer format version
    ├── ResourceLimitError      a declared size exceeds the memory cap (SNNCC_MAX_BYTES / --max-memory)
    └── OutputError             an output cannot be written (missing folder, permissions, a file where a folder is)

Exit codes of the `snncc` command: 0 success; 1 "ran fine, the result says different" (`diff --exit-code`);
2 a user error (any SnnccError, a bad option or a usage error); 3 an internal error (a bug: please report it);
130 interrupted (Ctrl-C / SIGINT) and 143 terminated (SIGTERM), with no partial output left behind.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_DIFFERENT = 1
EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 3
EXIT_INTERRUPTED = 130


class SnnccError(Exception):
    """Base of every error snncc reports to a user."""

    exit_code = EXIT_USER_ERROR


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


class FormatError(SnnccError, ValueError):
    """A .snnir file is not readable by this snncc: corrupted, truncated, not .snnir, or of a newer major version.
    (Also a ValueError, as `snncc.ir.FormatError` always was.)"""


class ResourceLimitError(SnnccError):
    """A file or a declared shape would need more memory than the cap allows (`SNNCC_MAX_BYTES`,
    `snncc --max-memory`); nothing was allocated for it."""


class OutputError(SnnccError):
    """An output file or folder cannot be written; nothing was left half-written."""
