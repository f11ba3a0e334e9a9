"""snncc: an ONNX-to-SNN compiler.

    import snncc
    snn = snncc.compile("models/digits_cnn.onnx", coding="rate", timesteps=32, calibration=x_calib)
    snncc.ir.save(snn, "digits.snnir")
"""

from snncc.early_signals import install_if_command as _install_early_signals

_install_early_signals()   # first: a Ctrl-C or SIGTERM while the imports below load exits cleanly (130/143)

from snncc.errors import SnnccError  # noqa: E402
from snncc.version import VERSION as __version__  # noqa: E402

# the compiler (ONNX, the frontend, every pass) loads on first use of one of these names: `snncc map`, `check`
# and `eval` of a compiled graph never need it (about 30 MB of resident memory)
_LAZY = {"compile": "snncc.compiler", "default_calibration_file": "snncc.compiler", "PassContext": "snncc.passes",
         "PassManager": "snncc.passes", "PassResult": "snncc.passes", "register_pass": "snncc.passes",
         "register_coding": "snncc.pipeline"}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'snncc' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

__all__ = ["compile", "default_calibration_file", "register_pass", "register_coding", "PassContext", "PassManager",
           "PassResult", "SnnccError", "__version__"]
