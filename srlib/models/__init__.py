"""The model families and their named architectures (``ARCHITECTURES``).

``build_model("rrdbnet")`` gives the ESRGAN generator with the paper's settings;
``build_model("rrdbnet", num_block=6, scale=2)`` overrides any constructor argument.
"""

from __future__ import annotations

import torch
from torch import nn

from srlib.models.bicubic import BicubicUpscaler
from srlib.models.discriminators import SRGANDiscriminator, UNetDiscriminator, VGGStyleDiscriminator
from srlib.models.edsr import EDSR
from srlib.models.fast import optimize_for_inference
from srlib.models.rrdbnet import RRDB, ResidualDenseBlock, RRDBNet
from srlib.models.srresnet import MSRResNet, SRResNet

# name -> (class, paper defaults, one-line description). Training presets are another thing: srlib.train.PRESETS.
ARCHITECTURES: dict[str, tuple[type[nn.Module], dict, str]] = {
    "bicubic": (BicubicUpscaler, {}, "MATLAB-style bicubic interpolation (the baseline)"),
    "edsr": (EDSR, dict(num_feat=256, num_block=32, res_scale=0.1), "EDSR, paper model (Lim et al. 2017)"),
    "edsr_baseline": (EDSR, dict(num_feat=64, num_block=16), "EDSR baseline, 16 blocks x 64"),
    "srresnet": (SRResNet, {}, "SRResNet, the SRGAN generator (Ledig et al. 2017)"),
    "msrresnet": (MSRResNet, {}, "BasicSR's modified SRResNet (no BN)"),
    "rrdbnet": (RRDBNet, {}, "RRDBNet, the ESRGAN generator (Wang et al. 2018), 23 blocks"),
    "rrdbnet_6b": (RRDBNet, dict(num_block=6), "RRDBNet with 6 blocks (Real-ESRGAN anime size)"),
    "srgan_discriminator": (SRGANDiscriminator, {}, "SRGAN discriminator, 96x96 HR patches"),
    "vgg_discriminator": (VGGStyleDiscriminator, {}, "ESRGAN VGG-style discriminator, 128x128 HR patches"),
    "unet_discriminator": (UNetDiscriminator, {}, "Real-ESRGAN U-Net discriminator (spectral norm), per-pixel"),
}
ALIASES = {"esrgan": "rrdbnet", "srgan": "srresnet"}
DISCRIMINATORS = {"srgan_discriminator", "vgg_discriminator", "unet_discriminator"}


def build_model(name: str, **overrides) -> nn.Module:
    """Build an architecture by name (or alias), with any constructor argument overridden."""
    key = ALIASES.get(name, name)
    if key not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(sorted(ARCHITECTURES) + sorted(ALIASES))}")
    cls, defaults, _ = ARCHITECTURES[key]
    return cls(**{**defaults, **overrides})


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_flops(model: nn.Module, input_size: tuple[int, int] = (32, 32), num_in_ch: int = 3) -> int:
    """Floating-point operations (2 per multiply-add) of convolutions and dense layers for one input.

    Activations, additions and resampling are left out: they are a few percent of the total.
    """
    total = 0

    def conv_hook(layer, inputs, output):
        nonlocal total
        macs_per_output = layer.weight[0].numel()  # (in_ch / groups) * kh * kw
        total += 2 * macs_per_output * output.numel()

    def linear_hook(layer, inputs, output):
        nonlocal total
        total += 2 * layer.in_features * output.numel()

    hooks = []
    for layer in model.modules():
        if isinstance(layer, nn.Conv2d):
            hooks.append(layer.register_forward_hook(conv_hook))
        elif isinstance(layer, nn.Linear):
            hooks.append(layer.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    device = next(model.parameters(), torch.empty(0)).device  # "meta" works too: shapes without arithmetic
    try:
        model(torch.zeros(1, num_in_ch, *input_size, device=device))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return total


def flops_per_lr_pixel(model: nn.Module, lr_size: int = 8) -> float:
    """Generator FLOPs divided by the number of LR input pixels (independent of image size)."""
    return count_flops(model, (lr_size, lr_size)) / lr_size**2


def model_table(scale: int = 4) -> list[dict]:
    """One row per architecture: name, class, parameters and FLOPs per LR pixel (or per patch for critics)."""
    rows = []
    for name, (cls, _, description) in ARCHITECTURES.items():
        with torch.device("meta"):  # counting needs shapes only: no memory, no initialisation time
            model = build_model(name) if name in DISCRIMINATORS else build_model(name, scale=scale)
        if name in DISCRIMINATORS:
            size = model.input_size
            flops, unit = count_flops(model, (size, size)), f"per {size}x{size} patch"
        else:
            flops, unit = flops_per_lr_pixel(model), "per LR pixel"
        rows.append(
            dict(
                name=name,
                arch=cls.__name__,
                params=count_parameters(model),
                gflops=flops / 1e9,
                flops_unit=unit,
                description=description,
            )
        )
    return rows


def _cli_models(args) -> int:
    rows = model_table(args.scale)
    print(f"{'model':<21}{'architecture':<23}{'parameters':>13}{'GFLOPs':>11}  unit")
    for row in rows:
        print(f"{row['name']:<21}{row['arch']:<23}{row['params']:>13,}{row['gflops']:>11.4f}  {row['flops_unit']}")
    return 0


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser("models", help="list the models with parameter counts and FLOPs")
    parser.add_argument("--scale", type=int, default=4, help="upscaling factor (default 4)")
    parser.set_defaults(func=_cli_models)


__all__ = [
    "ARCHITECTURES",
    "ALIASES",
    "build_model",
    "count_parameters",
    "count_flops",
    "flops_per_lr_pixel",
    "model_table",
    "optimize_for_inference",
    "BicubicUpscaler",
    "EDSR",
    "SRResNet",
    "MSRResNet",
    "RRDBNet",
    "RRDB",
    "ResidualDenseBlock",
    "SRGANDiscriminator",
    "VGGStyleDiscriminator",
    "UNetDiscriminator",
]
