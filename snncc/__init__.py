"""snncc: an ONNX-to-SNN compiler.

    import snncc
    snn = snncc.compile("models/digits_cnn.onnx", coding="rate", timesteps=32, calibration=x_calib)
    snncc.ir.save(snn, "digits.snnir")
"""

from snncc.early_signals import install_if_command as _install_early_signals

_install_early_signals()   # first: a Ctrl-C or SIGTERM while the imports below load exits cleanly (130/143)

from snncc.compiler import VERSION as __version__  # noqa: E402
from snncc.compiler import compile, default_calibration_file  # noqa: E402
from snncc.errors import SnnccError  # noqa: E402
from snncc.passes import PassContext, PassManager, PassResult, register_pass  # noqa: E402
from snncc.pipeline import register_coding  # noqa: E402

__all__ = ["compile", "default_calibration_file", "register_pass", "register_coding", "PassContext", "PassManager",
           "PassResult", "SnnccError", "__version__"]
