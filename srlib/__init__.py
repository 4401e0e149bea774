"""srlib: a small, readable library for x4 image super-resolution (EDSR, SRGAN, ESRGAN).

Import the namespace and call the pieces by name, e.g. ``srlib.models.build_model("rrdbnet")``.
"""

__version__ = "0.1.0"

from srlib.utils import data_root, data_roots, figures_dir, pick_device, save_figure, setup  # noqa: E402

__all__ = ["__version__", "setup", "pick_device", "save_figure", "data_root", "data_roots", "figures_dir"]
