"""imresize: MATLAB's algorithm (checked against PIL, which shares it away from the borders) and modcrop."""

import numpy as np
import pytest
import torch
from PIL import Image

from srlib.imresize import imresize, modcrop, weight_matrix


def _pil_bicubic(img: np.ndarray, size) -> np.ndarray:
    """PIL's antialiased bicubic (a = -0.5) in float mode, channel by channel."""
    return np.stack(
        [np.asarray(Image.fromarray(img[..., c], mode="F").resize(size, Image.BICUBIC)) for c in range(3)], -1
    )


def _psnr(a, b):
    return 10 * np.log10(1 / np.mean((a.astype(np.float64) - b) ** 2))


@pytest.fixture(scope="module")
def photo(benchmarks_dir):
    from srlib.io import read_image

    return modcrop(read_image(benchmarks_dir / "Set5" / "HR" / "baby.png"), 12)


def test_agrees_with_pil_downscale(photo):
    h, w = photo.shape[:2]
    for s in (2, 3, 4):
        ours, pil = imresize(photo, 1 / s), _pil_bicubic(photo, (w // s, h // s))
        assert ours.shape == pil.shape
        assert _psnr(ours, pil) > 50  # the only differences are at the borders (PIL renormalises there)
        assert _psnr(ours[2:-2, 2:-2], pil[2:-2, 2:-2]) > 100  # inside: the same numbers to float precision


def test_torch_matches_numpy_batched_and_keeps_dtype(photo):
    x = torch.from_numpy(photo).permute(2, 0, 1)
    batch = torch.stack([x, x.flip(-1)])
    out = imresize(batch, 1 / 4)
    assert out.shape == (2, 3, photo.shape[0] // 4, photo.shape[1] // 4) and out.dtype == torch.float32
    ref = imresize(photo, 1 / 4)
    np.testing.assert_allclose(out[0].permute(1, 2, 0).numpy(), ref, atol=1e-5)
    np.testing.assert_allclose(out[1].flip(-1).permute(1, 2, 0).numpy(), ref, atol=1e-5)
    assert imresize(x.double(), 2).dtype == torch.float64


def test_sizes_identity_and_constant():
    x = np.random.default_rng(0).random((30, 41, 3)).astype(np.float32)
    assert imresize(x, 4).shape == (120, 164, 3)
    assert imresize(x, 1 / 3).shape == (10, 14, 3)  # MATLAB: ceil(scale * size)
    assert imresize(x, output_shape=(17, 23)).shape == (17, 23, 3)
    assert imresize(x[..., 0], 0.5).shape == (15, 21)
    np.testing.assert_allclose(imresize(x, 1), x)
    np.testing.assert_allclose(imresize(np.full((20, 20, 3), 0.3), 1 / 4), 0.3, atol=1e-12)  # weights sum to 1
    np.testing.assert_allclose(weight_matrix(40, 10, 0.25).sum(1), 1)


def test_uint8_rounds_like_matlab():
    x = (np.random.default_rng(1).random((16, 16, 3)) * 255).astype(np.uint8)
    out = imresize(x, 0.5)
    assert out.dtype == np.uint8
    expected = np.clip(np.round(imresize(x.astype(np.float64), 0.5)), 0, 255)
    np.testing.assert_array_equal(out, expected)


def test_gradients_flow():
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    imresize(x, 0.5).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_modcrop():
    assert modcrop(np.zeros((321, 480, 3)), 4).shape == (320, 480, 3)
    assert modcrop(torch.zeros(2, 3, 15, 17), 4).shape == (2, 3, 12, 16)
    assert modcrop(np.zeros((10, 11)), 3).shape == (9, 9)
