"""The bundled models the coding tables run on, with their data files (imported by the table scripts)."""

MODELS = {  # model -> (calibration file, test file, mask key or None), files in models/data/
    "digits_mlp": ("digits_calib", "digits_test", None),
    "digits_cnn": ("digits_calib", "digits_test", None),
    "digits_resnet": ("digits_calib", "digits_test", None),
    "digits_cnn_qcfs2": ("digits_calib", "digits_test", None),
    "digits_cnn_qcfs15": ("digits_calib", "digits_test", None),
    "mnist_cnn": ("mnist_calib", "mnist_test", None),
    "karate_gcn": ("karate", "karate", "test_mask"),
}
