"""Shapes, parameter counts and presets of every model family."""

import pytest
import torch

from srlib import models
from srlib.models import build_model, count_flops, count_parameters

# Published or reference parameter counts at x4 (REFERENCE.md sections 3 and 6).
PUBLISHED_PARAMS_X4 = {
    "edsr": 43_089_923,
    "edsr_baseline": 1_517_571,
    "rrdbnet": 16_697_987,
    "msrresnet": 1_517_571,
}

# Small versions of each generator so the shape tests run in milliseconds.
SMALL = {
    "edsr_baseline": dict(num_feat=8, num_block=2),
    "srresnet": dict(num_feat=8, num_block=2),
    "msrresnet": dict(num_feat=8, num_block=2),
    "rrdbnet": dict(num_feat=8, num_block=1, num_grow_ch=4),
    "bicubic": {},
}
SUPPORTED_SCALES = {
    "edsr_baseline": (2, 3, 4),
    "srresnet": (2, 4),
    "msrresnet": (2, 3, 4),
    "rrdbnet": (1, 2, 4),
    "bicubic": (2, 3, 4),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS_X4))
def test_parameter_counts_match_published(name):
    with torch.device("meta"):
        model = build_model(name, scale=4)
    assert count_parameters(model) == PUBLISHED_PARAMS_X4[name]


def test_edsr_paper_preset_uses_residual_scaling():
    model = build_model("edsr")
    assert model.body[0].res_scale == 0.1 and len(model.body) == 32


@pytest.mark.parametrize("name", ["edsr_baseline", "srresnet", "msrresnet", "rrdbnet"])
@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_output_shape_or_clear_error(name, scale):
    if scale not in SUPPORTED_SCALES[name]:
        with pytest.raises(ValueError, match=f"not {scale}"):
            build_model(name, scale=scale, **SMALL[name])
        return
    model = build_model(name, scale=scale, **SMALL[name]).eval()
    x = torch.rand(2, 3, 12, 16)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 3, 12 * scale, 16 * scale)
    assert torch.isfinite(y).all()


def test_rrdbnet_x2_pixel_unshuffle_needs_even_input():
    model = build_model("rrdbnet", scale=2, **SMALL["rrdbnet"])
    assert model.conv_first.in_channels == 12  # 3 channels x 2 x 2 after pixel-unshuffle
    with pytest.raises(ValueError, match="divisible by 2"):
        model(torch.rand(1, 3, 7, 8))


@pytest.mark.parametrize("scale", [2, 3])
def test_rrdbnet_one_upsampling_stage(scale):
    """pixel_unshuffle=False: KAIR's x2 / x3 RRDBNet, one nearest-neighbour stage and no conv_up2."""
    model = build_model("rrdbnet", scale=scale, pixel_unshuffle=False, **SMALL["rrdbnet"])
    assert model.conv_first.in_channels == 3 and model.conv_up2 is None
    assert "conv_up2.weight" not in model.state_dict()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 7, 5)).shape == (1, 3, 7 * scale, 5 * scale)
    with pytest.raises(ValueError, match="not 1"):
        build_model("rrdbnet", scale=1, pixel_unshuffle=False)


def test_rrdbnet_uses_basicsr_parameter_names():
    names = set(build_model("rrdbnet", num_block=2).state_dict())
    for key in [
        "conv_first.weight",
        "body.1.rdb3.conv5.bias",
        "conv_body.weight",
        "conv_up1.weight",
        "conv_up2.weight",
        "conv_hr.weight",
        "conv_last.bias",
    ]:
        assert key in names


def test_edsr_mean_shift_is_a_non_persistent_buffer():
    model = build_model("edsr_baseline")
    assert "mean" not in model.state_dict()
    assert dict(model.named_buffers())["mean"].shape == (1, 3, 1, 1)


def _centre_tap(conv: torch.nn.Conv2d, source_channel) -> None:
    """conv output channel o copies input channel source_channel(o) (3x3 kernel with only its centre set)."""
    torch.nn.init.zeros_(conv.weight)
    torch.nn.init.zeros_(conv.bias)
    with torch.no_grad():
        for o in range(conv.out_channels):
            conv.weight[o, source_channel(o), 1, 1] = 1.0


@pytest.mark.parametrize("img_range", [255.0, 1.0])
def test_edsr_identity_weights_give_nearest_upsampling(img_range):
    """Head, upsampler and tail set to copy channels, residual branches zeroed: the network is nearest x4
    of its input exactly when the mean shift and the [0, 1] -> [0, img_range] scaling are undone on the way out."""
    model = build_model("edsr_baseline", num_feat=8, num_block=1, img_range=img_range)
    for p in model.parameters():
        torch.nn.init.zeros_(p)
    _centre_tap(model.conv_first, lambda o: min(o, 2))  # features 0-2 carry R, G, B
    for conv in (model.upsample[0], model.upsample[2]):
        _centre_tap(conv, lambda o: o // 4)  # channel 4c + k -> sub-pixel k of channel c after PixelShuffle(2)
    _centre_tap(model.conv_last, lambda o: o)
    x = torch.rand(1, 3, 5, 6)
    with torch.no_grad():
        y = model(x)
    expected = torch.nn.functional.interpolate(x, scale_factor=4, mode="nearest")
    torch.testing.assert_close(y, expected, atol=1e-5, rtol=0)


def test_edsr_body_works_on_the_0_255_scale():
    """A bias of 51 in the last conv is 51 of 255 levels: the output is the mean colour plus 0.2."""
    model = build_model("edsr_baseline", num_feat=8, num_block=1)
    for p in model.parameters():
        torch.nn.init.zeros_(p)
    torch.nn.init.constant_(model.conv_last.bias, 51.0)
    with torch.no_grad():
        y = model(torch.rand(1, 3, 4, 4))
    torch.testing.assert_close(y, (model.mean + 0.2).expand_as(y), atol=1e-6, rtol=0)


@pytest.mark.parametrize("name,size", [("srgan_discriminator", 96), ("vgg_discriminator", 128)])
def test_discriminators_give_one_logit_and_refuse_other_sizes(name, size):
    model = build_model(name, num_feat=8)
    assert model(torch.rand(2, 3, size, size)).shape == (2, 1)
    with pytest.raises(ValueError, match=f"{size}x{size}"):
        model(torch.rand(2, 3, size + 32, size + 32))
    adaptive = build_model(name, num_feat=8, adaptive_pool=True)
    assert adaptive(torch.rand(2, 3, size + 32, size + 32)).shape == (2, 1)


def test_random_roll_rolls_each_sample_by_its_own_shift():
    from srlib.models.discriminators import random_roll

    x = torch.rand(6, 3, 8, 10)
    torch.manual_seed(3)
    y = random_roll(x, 4)
    torch.manual_seed(3)
    dy, dx = torch.randint(0, 4, (6,)), torch.randint(0, 4, (6,))
    for i in range(6):
        torch.testing.assert_close(y[i], torch.roll(x[i], (int(dy[i]), int(dx[i])), dims=(1, 2)), rtol=0, atol=0)
    assert len({(int(a), int(b)) for a, b in zip(dy, dx, strict=True)}) > 1  # shifts differ between samples


@pytest.mark.parametrize("name,size", [("srgan_discriminator", 96), ("vgg_discriminator", 128)])
def test_discriminator_shift_jitter_acts_in_training_only(name, size):
    torch.manual_seed(0)
    model = build_model(name, num_feat=8, shift_jitter=4)
    x = torch.rand(4, 3, size, size)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()  # train-mode BN on the same batch is deterministic: only the jitter can change the logits
    outputs = {tuple(model(x).flatten().tolist()) for _ in range(3)}
    assert len(outputs) > 1


@pytest.mark.parametrize("name,size", [("srgan_discriminator", 96), ("vgg_discriminator", 128)])
def test_discriminator_norm_choices(name, size):
    def count(model, kind):
        return sum(isinstance(m, kind) for m in model.modules())

    assert count(build_model(name, num_feat=8), torch.nn.BatchNorm2d) > 0
    for norm in ("spectral", "none"):
        model = build_model(name, num_feat=8, norm=norm)
        assert count(model, torch.nn.BatchNorm2d) == 0 and model(torch.rand(2, 3, size, size)).shape == (2, 1)
    assert "_SpectralNorm" in str(build_model(name, num_feat=8, norm="spectral").features[0].parametrizations)
    with pytest.raises(ValueError, match="norm='layer'"):
        build_model(name, num_feat=8, norm="layer")


def test_unet_discriminator_scores_every_pixel_and_refuses_odd_sizes():
    model = build_model("unet_discriminator", num_feat=8)
    assert model(torch.rand(2, 3, 48, 64)).shape == (2, 1, 48, 64)
    assert sum("_SpectralNorm" in str(getattr(m, "parametrizations", "")) for m in model.modules()) == 8
    assert not any(
        "parametrizations" in name for name, _ in build_model("unet_discriminator", norm="none").named_modules()
    )
    with pytest.raises(ValueError, match="divisible by 8"):
        model(torch.rand(1, 3, 36, 64))
    with pytest.raises(ValueError, match="norm='batch'"):
        build_model("unet_discriminator", norm="batch")


def test_unet_discriminator_scores_depend_on_the_neighbourhood_only_locally():
    """A change at one pixel moves far-away logits less than nearby ones: it is a per-pixel critic."""
    torch.manual_seed(0)
    model = build_model("unet_discriminator", num_feat=8, norm="none").eval()
    x = torch.rand(1, 3, 64, 64)
    y = x.clone()
    y[..., 8, 8] += 0.5
    change = (model(y) - model(x)).abs()[0, 0]
    assert change[:16, :16].max() > 10 * change[48:, 48:].max()


def test_unet_input_gain_scales_what_the_first_conv_sees():
    torch.manual_seed(0)
    plain = build_model("unet_discriminator", num_feat=8, high_pass=1.0).eval()
    gained = build_model("unet_discriminator", num_feat=8, high_pass=1.0, input_gain=10.0).eval()
    gained.load_state_dict(plain.state_dict())
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(gained(x), plain(10 * x), rtol=1e-4, atol=1e-5)  # the high-pass is linear


def test_gaussian_high_pass_removes_flat_colour_and_keeps_detail():
    from srlib.models.discriminators import gaussian_high_pass

    flat = torch.full((2, 3, 32, 32), 0.3)
    torch.testing.assert_close(gaussian_high_pass(flat, 1.5), torch.zeros_like(flat), atol=1e-6, rtol=0)
    stripes = (torch.arange(32) % 2).float().expand(1, 3, 32, 32)  # period 2: far above the cut-off
    out = gaussian_high_pass(stripes, 1.5)
    assert out.abs().mean() > 0.45  # nearly all of the +-0.5 oscillation passes
    ramp = torch.linspace(0, 1, 32).expand(1, 3, 32, 32)  # smooth: almost nothing passes (inside the border)
    assert gaussian_high_pass(ramp, 1.5)[..., 6:-6, 6:-6].abs().max() < 1e-5


@pytest.mark.parametrize(
    "name,size", [("srgan_discriminator", 96), ("vgg_discriminator", 128), ("unet_discriminator", 64)]
)
def test_high_pass_discriminators_cannot_see_a_colour_cast(name, size):
    torch.manual_seed(0)
    model = build_model(name, num_feat=8, high_pass=1.5, **({} if name == "unet_discriminator" else {"norm": "none"}))
    x = torch.rand(2, 3, size, size).clamp(0.1, 0.9)
    model.eval()
    tint = (model(x + 0.05) - model(x)).abs().max()  # a uniform tint is invisible (rounding only)...
    texture = (model(x * 1.5) - model(x)).abs().max()  # ...stronger texture is not
    assert tint < 1e-6 and texture > 1e3 * tint


def test_count_flops_of_a_single_conv_is_closed_form():
    conv = torch.nn.Conv2d(3, 5, 3, padding=1)
    assert count_flops(conv, (4, 6)) == 2 * (3 * 3 * 3) * 5 * 4 * 6


def test_rrdbnet_flops_per_lr_pixel():
    # 2 FLOPs per weight at LR resolution for the trunk; the x2/x4 convs run on 4x/16x the pixels.
    with torch.device("meta"):
        model = build_model("rrdbnet")
    per_pixel = models.flops_per_lr_pixel(model)
    trunk = 2 * sum(
        m.weight.numel()
        for n, m in model.named_modules()
        if isinstance(m, torch.nn.Conv2d) and n.startswith(("conv_first", "body", "conv_body"))
    )
    hr = 2 * 64 * 64 * 9
    assert per_pixel == pytest.approx(trunk + 4 * hr + 16 * (hr + hr) + 16 * 2 * 64 * 3 * 9, rel=1e-9)


def test_unknown_model_lists_the_choices():
    with pytest.raises(ValueError, match="rrdbnet"):
        build_model("rrdb")


def test_aliases():
    assert type(build_model("esrgan", num_block=1)).__name__ == "RRDBNet"
    assert type(build_model("srgan", num_block=1)).__name__ == "SRResNet"


def test_models_cli_prints_published_counts(capsys):
    from srlib.cli import main

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "16,697,987" in out and "43,089,923" in out and "1,517,571" in out
