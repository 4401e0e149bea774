"""srlib.plots: panel titles and the side-by-side comparison with zoomed crops."""

import matplotlib
import numpy as np

from srlib.plots import comparison_figure, panel_title

matplotlib.use("Agg")


def test_panel_title_wraps_and_carries_the_metrics():
    title = panel_title("ESRGAN", "RealSR DF2K weights, converted from ncnn", dict(psnr_y=24.123, ssim_y=0.71234))
    lines = title.splitlines()
    assert lines[0].startswith("ESRGAN — RealSR") and all(len(line) <= 34 for line in lines[:-1])
    assert lines[-1] == "24.12 dB / 0.7123"
    assert panel_title("HR", "") == "HR"


def test_comparison_figure_keeps_boxes_inside():
    rng = np.random.default_rng(0)
    panels = [(f"panel {i}", rng.random((48, 64, 3)).astype(np.float32)) for i in range(3)]
    fig = comparison_figure(panels, [[0, 0, 16], [60, 40, 16]])  # the second box lies partly outside
    assert len(fig.axes) == 3 * 3  # full view plus one zoomed row per box, for each panel
    zoomed = fig.axes[2 * 3 + 0]  # axes run row by row: the second box's crop of the first panel
    shown = zoomed.images[0].get_array()
    np.testing.assert_allclose(shown, panels[0][1][32:48, 48:64], atol=1e-6)  # clamped to the corner
