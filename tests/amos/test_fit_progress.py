"""lower-gates shows a progress bar on stderr while it fits gate circuits, only when progress is on."""

import snncc
from snncc.ir.serialize import to_bytes
from tests.amos.models import images
from tests.passes.test_match_activations import SPELLINGS, _model


def test_the_fit_progress_bar_shows_only_with_progress(capfd):
    model = _model(SPELLINGS["gelu_tanh_pow"][1])
    calibration = images(50, seed=5)
    quiet = snncc.compile(model, "amos", calibration=calibration, phases=4, fit="quick")
    assert "fitting gate circuits" not in capfd.readouterr().err
    shown = snncc.compile(model, "amos", calibration=calibration, phases=4, fit="quick", progress=True)
    err = capfd.readouterr().err
    assert "lower-gates: fitting gate circuits" in err and "1/1" in err
    assert to_bytes(quiet) == to_bytes(shown)
