"""srlib.artefacts on synthetic cases: a tint gives its known colour shift, a x4 grid its periodic energy."""

import numpy as np
import pytest
import skimage.data

from srlib.artefacts import artefact_metrics, colour_shift, grid_mask, periodic_energy


@pytest.fixture(scope="module")
def hr() -> np.ndarray:
    return skimage.data.astronaut()[100:228, 150:310].astype(np.float32) / 255  # 128x160 RGB, mid-tones


def test_colour_shift_of_a_tint_is_its_size_in_levels(hr):
    assert colour_shift(hr, hr) == 0
    tint = np.array([6, 0, -3]) / 255  # redder, a little less blue: mean |shift| (6 + 0 + 3) / 3 = 3 levels
    assert colour_shift(hr + tint, hr) == pytest.approx(3.0, abs=1e-4)
    u8 = np.maximum(hr * 255, 1).round().astype(np.uint8)
    assert colour_shift(u8 - 1, u8) == 1.0  # uint8 is read on [0, 255]


def test_colour_shift_ignores_texture_inside_a_block(hr):
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 8 / 255, hr.shape)  # zero-mean texture: averages out over 16x16 = 256 pixels
    assert colour_shift(hr + noise, hr) < 0.5 * 8 / 16 * 3  # about sigma / 16 per block, far below 8 levels
    assert colour_shift(hr + noise, hr, block=1) == pytest.approx(8 * np.sqrt(2 / np.pi), rel=0.05)


def test_grid_mask_holds_the_63_grid_frequencies():
    mask = grid_mask(64, 48)
    assert mask.sum() == 63 and not mask[0, 0]
    assert mask[16, 12] and mask[32, 0] and mask[8, 6] and not mask[4, 6]


def test_a_x4_checkerboard_raises_periodic_energy_far_above_noise(hr):
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 3 / 255, hr.shape)  # a random residual of 3 levels: no preferred period
    tile = rng.normal(0, 3 / 255, (4, 4, 3))  # what a badly trained x4 PixelShuffle repeats
    grid = np.tile(tile, (hr.shape[0] // 4, hr.shape[1] // 4, 1))
    white = periodic_energy(hr + noise, hr)
    assert white == pytest.approx(63 / (128 * 160), rel=0.5)  # white noise: its share of the bins
    # the same noise plus a grid of the same strength: the grid holds about half the residual's power
    checker = periodic_energy(hr + noise + grid, hr)
    assert checker == pytest.approx(0.5, abs=0.1) and checker > 50 * white
    assert periodic_energy(hr + noise + grid + 5 / 255, hr) == pytest.approx(checker)  # a cast does not dilute it
    period2 = np.where(np.indices(hr.shape[:2]).sum(0) % 2 == 0, 2, -2)[..., None] / 255  # x2 shuffle, 2 levels
    assert periodic_energy(hr + noise + period2, hr) == pytest.approx(2**2 / (2**2 + 3**2), abs=0.05)
    assert periodic_energy(hr, hr) == 0.0


def test_a_smooth_residual_and_cropping(hr):
    blurred = (hr + np.roll(hr, 1, axis=0) + np.roll(hr, 1, axis=1)) / 3  # a blur residual: edges, no grid
    assert periodic_energy(blurred, hr) < 0.05
    hr64 = hr.astype(np.float64)
    both = artefact_metrics(hr64 + 1 / 255, hr64, crop_border=4)
    assert both["colour_shift"] == pytest.approx(1.0) and both["periodic_energy"] < 1e-20  # a flat offset is DC
    with pytest.raises(ValueError, match="shapes differ"):
        colour_shift(hr[:64], hr)
    with pytest.raises(ValueError, match="smaller than 16x16"):
        colour_shift(hr[:20, :20], hr[:20, :20], crop_border=4)
