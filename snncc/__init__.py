"""snncc: an ONNX-to-SNN compiler.

    import snncc
    snn = snncc.compile("models/digits_cnn.onnx", coding="rate", timesteps=32, calibration=x_calib)
    snncc.ir.save(snn, "digits.snnir")
"""

from snncc.compiler import VERSION as __version__
from snncc.compiler import compile, default_calibration_file
from snncc.errors import SnnccError
from snncc.passes import PassContext, PassManager, PassResult, register_pass
from snncc.pipeline import register_coding

__all__ = ["compile", "default_calibration_file", "register_pass", "register_coding", "PassContext", "PassManager",
           "PassResult", "SnnccError", "__version__"]
