"""Degradations: shapes, seeding, and that each does what it says."""

import io

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from srlib.data import degrade
from srlib.imresize import imresize


@pytest.fixture(scope="module")
def hr():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:96, 0:96] / 96.0
    smooth = np.stack([0.5 + 0.3 * np.sin(6 * x), 0.5 + 0.3 * np.cos(5 * y), 0.4 + 0.2 * x * y], -1)
    return np.clip(smooth + rng.normal(0, 0.01, smooth.shape), 0, 1).astype(np.float32)


@pytest.mark.parametrize("name", list(degrade.DEGRADATIONS))
def test_shapes_range_and_seeding(hr, name):
    f = degrade.make_degradation(name, 4)
    a, b = f(hr, np.random.default_rng(5)), f(hr, 5)
    assert a.shape == (24, 24, 3) and a.dtype == np.float32
    assert 0 <= a.min() and a.max() <= 1
    np.testing.assert_array_equal(a, b)
    t = f(torch.from_numpy(hr).permute(2, 0, 1), 5)  # the same on a CHW tensor
    assert isinstance(t, torch.Tensor) and t.shape == (3, 24, 24)
    np.testing.assert_allclose(t.permute(1, 2, 0).numpy(), a, rtol=0, atol=1e-6)  # measured: identical


def test_fritsche_noise_has_sigma_8():
    # flat mid-grey: the clean LR is 0.5 everywhere, so nothing clips and the Poisson std is sigma there
    flat = np.full((192, 192, 3), 0.5, np.float32)
    clean = degrade.bicubic(flat, 4)
    np.testing.assert_array_equal(clean, 0.5)
    for noise in ("gaussian", "poisson"):
        noisy = degrade.track1(flat, 4, noise=noise, sigma=8, rng=0) - clean
        assert 7.6 < noisy.std() * 255 < 8.4  # 6912 samples: std error 0.07; sigma 7.5 or 8.5 fails
        assert abs(noisy.mean()) * 255 < 0.3
        assert np.abs(noisy[..., 0] - noisy[..., 1]).max() > 0.05  # independent per channel
    for noise in ("gaussian", "poisson"):
        grey = degrade.track1(flat, 4, noise=noise, sigma=8, grey=True, rng=0) - clean
        assert 7.6 < grey.std() * 255 < 8.4  # noise is there ...
        np.testing.assert_allclose(grey[..., 0], grey[..., 1], rtol=0, atol=1e-6)  # ... one field for all channels
        np.testing.assert_allclose(grey[..., 0], grey[..., 2], rtol=0, atol=1e-6)


def _pil_jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Reference JPEG round trip: 8-bit (rounded) RGB through Pillow at ``quality``, back to [0, 1]."""
    pixels = np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer)).astype(np.float32) / 255


def test_jpeg_stage_is_pillow_at_the_quality(hr):
    clean = degrade.bicubic(hr, 4)
    jpeg = degrade.track1(hr, 4, **degrade.FRITSCHE_JPEG)  # bicubic, then JPEG 30, no noise
    np.testing.assert_allclose(jpeg, _pil_jpeg(clean, 30), rtol=0, atol=1e-6)  # measured: identical
    assert np.abs(_pil_jpeg(clean, 31) - _pil_jpeg(clean, 30)).max() > 0.01  # so quality 31 would fail


def test_blur_stage_is_a_gaussian_before_the_resize():
    # a busy image, so a wrong sigma, kernel size or border shows up; blur sigma 1.6 -> 2 * ceil(4.8) + 1 = 11 taps
    hr = np.random.default_rng(1).random((96, 96, 3)).astype(np.float32)
    sigma, radius = 1.6, 5
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()  # the isotropic 2-D Gaussian is the product of two of these
    # reflect padding without repeating the edge pixel is scipy's "mirror"
    blurred = ndimage.correlate1d(hr.astype(np.float64), taps, axis=0, mode="mirror")
    blurred = ndimage.correlate1d(blurred, taps, axis=1, mode="mirror").astype(np.float32)
    reference = np.clip(imresize(blurred, 1 / 4), 0, 1)
    out = degrade.track1(hr, 4, noise=None, blur=sigma)
    np.testing.assert_allclose(out, reference, rtol=0, atol=1e-5)  # measured 3e-7; sigma 1.5 or 1.7: 6e-3
    assert np.abs(out - degrade.bicubic(hr, 4)).max() > 0.05


def test_kernels_sum_to_one():
    assert degrade.mixed_kernel("generalized_aniso", 21, 2.0, 1.0, 0.3, 2.0).sum() == pytest.approx(1)
    sinc = degrade.sinc_kernel(np.pi / 3, 13, pad_to=21)
    assert sinc.shape == (21, 21) and sinc.sum() == pytest.approx(1)
    k = degrade.random_kernel(np.random.default_rng(0), (0.2, 3), 0.1, degrade.SECOND_ORDER_DEFAULTS)
    assert k.shape[0] % 2 == 1 and 7 <= k.shape[0] <= 21


def test_filter2d_is_a_correlation():
    x = torch.rand(2, 3, 20, 25)
    k = torch.rand(5, 5)
    ref = torch.nn.functional.conv2d(
        torch.nn.functional.pad(x, [2] * 4, mode="reflect"), k.expand(3, 1, 5, 5), groups=3
    )
    torch.testing.assert_close(degrade.filter2d(x, k), ref, atol=1e-5, rtol=1e-5)


def test_noise_patches_and_injection():
    rng = np.random.default_rng(0)
    flat = np.full((64, 64, 3), 0.5, np.float32) + rng.normal(0, 2 / 255, (64, 64, 3)).astype(np.float32)
    busy = rng.random((64, 64, 3)).astype(np.float32)
    patches = degrade.collect_noise_patches([np.concatenate([flat, busy], axis=1)], patch=32, max_var=20)
    assert len(patches) == 4  # the four flat 32x32 tiles, none of the busy ones
    lr = np.full((16, 16, 3), 0.5, np.float32)
    noisy = degrade.inject_noise(lr, patches, rng=1)
    assert abs(noisy.mean() - 0.5) < 2e-3 and noisy.std() > 0  # mean removed, noise added
    np.testing.assert_array_equal(noisy, degrade.inject_noise(lr, patches, rng=1))
    big = degrade.inject_noise(np.full((40, 40, 3), 0.5, np.float32), patches, rng=1)  # patch tiled
    assert big.shape == (40, 40, 3)
    f = degrade.RealSRNoise(2, patches)
    assert f(flat, 0).shape == (32, 32, 3)
    with pytest.raises(ValueError, match="no noise patches"):
        degrade.inject_noise(lr, [])


def test_second_order_batch_and_variety(hr):
    batch = torch.from_numpy(hr).permute(2, 0, 1)[None].repeat(3, 1, 1, 1)
    out = degrade.second_order(batch, 4, rng=0)
    assert out.shape == (3, 3, 24, 24)
    assert not torch.equal(out[0], out[1])  # each image draws its own parameters
    assert torch.equal(out * 255, (out * 255).round())  # quantised to 8 bits
    assert np.abs(degrade.second_order(hr, 4, rng=1) - imresize(hr, 0.25)).mean() > 0.005
