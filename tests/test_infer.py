"""srlib.infer: tiling, image modes, self-ensemble, precision checks, model names and `srlib upscale`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from srlib import hub, infer
from srlib.imresize import imresize
from srlib.models import build_model


def small_edsr(scale: int = 4) -> nn.Module:
    """EDSR with 2 blocks x 16 features: its receptive field is about 8 LR pixels in each direction."""
    return build_model("edsr_baseline", num_feat=16, num_block=2, scale=scale).eval()


class SymmetricConvUp(nn.Module):
    """A conv whose kernels are symmetric under flips and transposes, then nearest x2: exactly equivariant."""

    scale = 2

    def __init__(self):
        super().__init__()
        k = torch.rand(3, 3, 3, 3)
        k = k + k.flip(-1)
        k = k + k.flip(-2)
        k = k + k.transpose(-1, -2)
        self.weight = nn.Parameter(k / k.sum(dim=(1, 2, 3), keepdim=True))

    def forward(self, x):
        return F.interpolate(F.conv2d(x, self.weight, padding=1), scale_factor=2, mode="nearest")


# --- tiling -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(37, 53), (64, 64)])
def test_tiled_equals_untiled_within_float_noise(size):
    model = small_edsr()
    x = torch.rand(3, *size)
    whole = infer.upscale(model, x, precision="fp32")  # "auto" would be bf16 untiled, fp32 tiled
    tiled = infer.upscale(model, x, tile=16, tile_pad=16)
    assert tiled.shape == whole.shape == (3, 4 * size[0], 4 * size[1])
    # Measured: 1.2e-7 (float32 rounding). With crop blending the difference is exactly what a
    # receptive field wider than the padding leaves; 16 px covers this model's ~8 px.
    assert float((tiled - whole).abs().max()) < 1e-5


def test_too_little_padding_shows_and_feather_is_close():
    model = small_edsr()
    x = torch.rand(3, 48, 48)
    whole = infer.upscale(model, x, precision="fp32")  # as the tiled runs ("auto" tiles in fp32)
    no_pad = float((infer.upscale(model, x, tile=16, tile_pad=0) - whole).abs().max())
    feather = float((infer.upscale(model, x, tile=16, tile_pad=8, blend="feather") - whole).abs().max())
    assert no_pad > 1e-3  # the measurement can see a seam (measured 0.145)
    # ramps hide it, but not to float noise (BENCHMARKS.md: crop is exact). Measured 0.008; feathering over
    # too little padding (tile_pad=2) gives 0.035
    assert feather < min(0.02, no_pad / 10)


def test_tiled_bicubic_is_exact_and_x2_rrdbnet_pads_odd_sizes():
    x = torch.rand(1, 3, 30, 41)
    bicubic = build_model("bicubic")
    assert torch.allclose(infer.upscale(bicubic, x, tile=8, tile_pad=4), imresize(x, 4).clamp(0, 1), atol=1e-6)
    rrdb = build_model("rrdbnet", num_block=1, num_feat=8, num_grow_ch=4, scale=2).eval()
    whole = infer.upscale(rrdb, x, precision="fp32")  # 41 is odd: padded to 42 for the pixel-unshuffle, cropped after
    assert whole.shape == (1, 3, 60, 82)
    assert float((infer.upscale(rrdb, x, tile=9, tile_pad=10, precision="fp32") - whole).abs().max()) < 1e-5


# --- image kinds --------------------------------------------------------------------------------------


def test_numpy_kinds_come_back_as_they_went_in():
    model = build_model("bicubic")
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (12, 10), dtype=np.uint8)
    out = infer.upscale(model, gray)
    assert out.shape == (48, 40) and out.dtype == np.uint8
    expected = imresize(gray.astype(np.float32) / 255, 4).clip(0, 1)
    assert np.abs(out / 255.0 - expected).max() <= 0.5 / 255 + 1e-6

    rgba16 = rng.integers(0, 65536, (10, 12, 4), dtype=np.uint16)
    out = infer.upscale(model, rgba16)
    assert out.shape == (40, 48, 4) and out.dtype == np.uint16
    assert np.any(out % 257 != 0)  # true 16-bit values, not 8-bit ones scaled up
    alpha = imresize(rgba16[..., 3:].astype(np.float32) / 65535, 4).clip(0, 1)
    assert np.abs(out[..., 3:] / 65535.0 - alpha).max() < 1e-4

    rgb = rng.random((9, 7, 3), dtype=np.float32)
    out = infer.upscale(model, rgb)
    assert out.shape == (36, 28, 3) and out.dtype == np.float32


def test_grayscale_goes_through_an_rgb_model_and_alpha_can_use_the_model():
    model = small_edsr()
    gray = torch.rand(1, 1, 12, 12)
    out = infer.upscale(model, gray)
    rgb = infer.upscale(model, gray.expand(-1, 3, -1, -1))
    assert out.shape == (1, 1, 48, 48)
    # grey goes through as three equal channels and comes back as their mean (measured: identical)
    assert torch.allclose(out, rgb.mean(dim=1, keepdim=True), rtol=0, atol=1e-6)
    rgba = torch.rand(4, 12, 12)
    out = infer.upscale(model, rgba, alpha="model")
    alpha_alone = infer.upscale(model, rgba[3:])
    assert out.shape == (4, 48, 48) and torch.allclose(out[3:], alpha_alone, atol=1e-6)


def test_torch_uint8_batch_keeps_dtype():
    x = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    out = infer.upscale(build_model("bicubic"), x)
    assert out.dtype == torch.uint8 and out.shape == (2, 3, 32, 32)


# --- self-ensemble ------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [build_model("bicubic"), SymmetricConvUp()], ids=["bicubic", "symmetric-conv"])
def test_ensemble_of_an_equivariant_model_changes_nothing(model):
    x = torch.rand(1, 3, 14, 19)  # not square: the transposes change the shape on the way
    plain = infer.upscale(model, x)
    assert torch.allclose(infer.upscale(model, x, ensemble=True), plain, atol=1e-6)


def test_ensemble_output_is_equivariant_for_any_model():
    model = small_edsr(scale=2)
    x = torch.rand(1, 3, 16, 12)
    ens = infer.upscale(model, x, ensemble=True)
    assert not torch.allclose(ens, infer.upscale(model, x), atol=1e-4)  # this model is not equivariant
    assert torch.allclose(infer.upscale(model, x.flip(-1), ensemble=True), ens.flip(-1), atol=1e-5)
    assert torch.allclose(infer.upscale(model, x.transpose(-1, -2), ensemble=True), ens.transpose(-1, -2), atol=1e-5)


# --- device, precision, scale -------------------------------------------------------------------------


def test_fp16_on_cpu_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA"):
        infer.upscale(small_edsr(), torch.rand(3, 8, 8), device="cpu", precision="fp16")
    with pytest.raises(ValueError, match="fast path"):
        infer.upscale(small_edsr(), torch.rand(3, 8, 8), device="cpu", precision="bf16", fast=False)


def test_auto_precision_follows_the_cpu(monkeypatch):
    from srlib.models import fast

    monkeypatch.setattr(fast, "cpu_has_native_bf16", lambda: True)
    assert infer.resolve_precision("auto", "cpu") == "bf16"
    assert infer.resolve_precision("auto", "cpu", tiled=True) == "fp32"  # bf16 tiles show seams
    assert infer.resolve_precision("bf16", "cpu", tiled=True) == "bf16"  # asked for: kept
    monkeypatch.setattr(fast, "cpu_has_native_bf16", lambda: False)
    assert infer.resolve_precision("auto", "cpu") == "fp32"
    assert infer.resolve_precision("fp32", "cpu") == "fp32"


def test_auto_precision_tiled_equals_fp32_tiled(monkeypatch):
    from srlib.models import fast

    monkeypatch.setattr(fast, "cpu_has_native_bf16", lambda: True)
    model, x = small_edsr(), torch.rand(3, 24, 24)
    auto = infer.upscale(model, x, tile=8, precision="auto")
    torch.testing.assert_close(auto, infer.upscale(model, x, tile=8, precision="fp32"), rtol=0, atol=0)
    assert not torch.equal(infer.upscale(model, x, precision="auto"), infer.upscale(model, x, precision="fp32"))


def _trained_like(model: torch.nn.Module) -> torch.nn.Module:
    """Random weights scaled so activations stay O(1) through the stack, as in trained models."""
    torch.manual_seed(0)
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, torch.nn.Conv2d):
                layer.weight.normal_(0, 0.5 / (layer.in_channels * 9) ** 0.5)
    return model.eval()


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("rrdbnet", dict(num_block=2, num_feat=16, num_grow_ch=8)),
        ("edsr", dict(num_block=2, num_feat=16, res_scale=1.0)),
        ("msrresnet", dict(num_block=2, num_feat=16)),
        ("srresnet", dict(num_block=2, num_feat=16)),
    ],
)
def test_bf16_on_cpu_runs_and_stays_close_to_fp32(name, overrides):
    """bf16 changes the output by well under one 8-bit level on average, and never by more than a few.

    On the real models the measured cost is 53-60 dB against fp32 (BENCHMARKS.md, "bf16 inference").
    """
    model = _trained_like(build_model(name, scale=4, **overrides))
    x = torch.rand(1, 3, 24, 24)
    ref = infer.upscale(model, x, precision="fp32")
    out = infer.upscale(model, x, precision="bf16")
    assert out.dtype == torch.float32 and out.shape == ref.shape
    levels = (out - ref).abs() * 255
    assert float(levels.max()) < 4
    psnr = 10 * torch.log10(1 / (out - ref).pow(2).mean())
    assert psnr > 45
    assert not torch.equal(out, ref)  # bf16 really ran
    # the weights were not touched: fp32 again gives the same output bit for bit
    assert torch.equal(infer.upscale(model, x, precision="fp32"), ref)


COURSE = ["edsr_x4_course", "msrresnet_x4_course", "srgan_x4_course", "rrdb_psnr_x4_course", "esrgan_x4_course"]


@pytest.mark.parametrize("course", COURSE)
def test_bf16_on_course_checkpoints_and_a_real_photo(course, benchmarks_dir):
    """Trained weights on a real LR image (butterfly, 48x48 LR): bf16 within 56 dB and 2 levels of fp32.

    Measured: 57.9-64.2 dB, 1 level at most. Plain autocast (first and last convs and RRDB's residual
    stream in bf16 too) gives 52.6-58.5 dB and up to 3 levels, and fails this on three of the five.
    """
    from srlib.io import read_image

    hr = read_image(benchmarks_dir / "Set5" / "HR" / "butterfly.png")[:192, :192]
    lr = imresize(torch.from_numpy(hr).permute(2, 0, 1)[None], scale=0.25).clamp(0, 1)
    model = hub.resolve_model(course)
    ref = (infer.upscale(model, lr, precision="fp32") * 255).round()
    out = (infer.upscale(model, lr, precision="bf16") * 255).round()
    assert float((out - ref).abs().max()) <= 2
    assert 10 * torch.log10(255**2 / (out - ref).pow(2).mean()) > 56


def test_bad_arguments_and_scale_mismatch():
    model = small_edsr()
    with pytest.raises(ValueError, match="precision"):
        infer.upscale(model, torch.rand(3, 8, 8), precision="int8")
    with pytest.raises(ValueError, match="x4, not x2"):
        infer.upscale(model, torch.rand(3, 8, 8), scale=2)
    with pytest.raises(ValueError, match="channels"):
        infer.upscale(model, np.zeros((8, 8, 5), np.float32))


def test_training_mode_restored_and_channels_last_runs():
    model = small_edsr().train()
    out = infer.upscale(model, torch.rand(3, 8, 8), channels_last=True)
    assert model.training and out.shape == (3, 32, 32)


def test_scale_is_measured_when_the_model_has_none():
    model = SymmetricConvUp()
    del SymmetricConvUp.scale  # the class attribute; restored below
    try:
        assert infer.upscale(model, torch.rand(3, 5, 6)).shape == (3, 10, 12)
    finally:
        SymmetricConvUp.scale = 2


def test_default_tile_pad_is_seamless_on_a_course_rrdb(benchmarks_dir):
    """The course RRDBNet at tile 32 with the default pad: within one 8-bit level of untiled (fp32), on a
    strip of baboon's x4 LR wide enough that the first tile's window is cut. benchmarks/tile_pad.py measures
    every model (this one needs 8 px; with tile_pad 0 this strip differs by 99 levels)."""
    from srlib.io import read_image

    hr = read_image(benchmarks_dir / "Set14" / "HR" / "baboon.png")
    lr = imresize(torch.from_numpy(hr).permute(2, 0, 1)[None], scale=0.25).clamp(0, 1)  # (1, 3, 120, 125)
    model = hub.resolve_model("rrdb_psnr_x4_course")
    pad = infer.default_tile_pad(model)
    strip = lr[..., 52:68, : 32 + pad + 8]  # one row of tiles; tile 0 reads 32 + pad columns, then a cut
    assert strip.shape[-1] == 32 + pad + 8, "the strip must be wider than a tile and its padding"
    whole = (infer.upscale(model, strip, precision="fp32") * 255).round()
    tiled = (infer.upscale(model, strip, tile=32, precision="fp32") * 255).round()
    assert float((tiled - whole).abs().max()) <= 1


def test_a_pad_stored_with_the_weights_overrides_the_family_pad(tmp_path):
    model = build_model("rrdbnet", num_feat=8, num_block=1, num_grow_ch=4)
    plain = hub.save_weights(model, tmp_path / "plain.safetensors")
    measured = hub.save_weights(model, tmp_path / "measured.safetensors", metadata={hub.TILE_PAD_KEY: 8})
    assert infer.default_tile_pad(hub.resolve_model(plain)) == infer.TILE_PADS["RRDBNet"]
    assert infer.default_tile_pad(hub.resolve_model(measured)) == 8
    x = torch.rand(1, 3, 40, 40)
    loaded = hub.resolve_model(measured)
    default = infer.upscale(loaded, x, tile=16, precision="fp32")
    torch.testing.assert_close(default, infer.upscale(loaded, x, tile=16, tile_pad=8, precision="fp32"), rtol=0, atol=0)


def test_course_checkpoints_carry_their_measured_tile_pad():
    from srlib.course import COURSE_ORDER, TILE_PAD

    for name in COURSE_ORDER:
        assert infer.default_tile_pad(hub.resolve_model(name)) == TILE_PAD == 8, name
