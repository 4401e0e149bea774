"""Blocks shared by the model families: weight init, the EDSR residual block, sub-pixel upsampling, Gaussian blur."""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn


@torch.no_grad()
def scaled_kaiming_init(module: nn.Module, scale: float = 1.0) -> None:
    """Kaiming-normal init, then shrink the weights by ``scale``.

    Deep residual stacks without BN (EDSR, RRDB) train more stably when each residual branch starts
    small: ESRGAN uses ``scale = 0.1``.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight)
            layer.weight.mul_(scale)
            if layer.bias is not None:
                layer.bias.zero_()


class ResidualBlockNoBN(nn.Module):
    """EDSR's residual block: conv-ReLU-conv, no BN, output = x + res_scale * branch(x)."""

    def __init__(self, num_feat: int = 64, res_scale: float = 1.0):
        super().__init__()
        self.res_scale = res_scale
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)  # registered between the convs so diagrams list the true order
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.conv2(self.relu(self.conv1(x)))


class PixelShuffleUpsample(nn.Sequential):
    """Sub-pixel upsampling (Shi et al. 2016): x2 stages for 2^n, one x3 stage for 3.

    Layer indices match BasicSR's ``Upsample`` (conv at 0, 2, ...), so its checkpoints load as they are.
    """

    def __init__(self, scale: int, num_feat: int, act: nn.Module | None = None):
        layers: list[nn.Module] = []
        if scale in (2, 4, 8):
            for _ in range(int(math.log2(scale))):
                layers += [nn.Conv2d(num_feat, 4 * num_feat, 3, 1, 1), nn.PixelShuffle(2)]
                if act is not None:  # a fresh copy per stage: SRGAN has one PReLU per upsampling block
                    layers.append(copy.deepcopy(act))
        elif scale == 3:
            layers += [nn.Conv2d(num_feat, 9 * num_feat, 3, 1, 1), nn.PixelShuffle(3)]
        else:
            raise ValueError(f"sub-pixel upsampling supports scale 2, 3, 4 or 8, not {scale}")
        super().__init__(*layers)


def check_scale(model_name: str, scale: int, supported: tuple[int, ...]) -> None:
    """Raise a clear error for a scale the architecture cannot produce."""
    if scale not in supported:
        raise ValueError(f"{model_name} supports scale {' / '.join(map(str, supported))}, not {scale}")


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of each channel, reflect padding, kernel radius ceil(3 sigma).

    (B, C, H, W) -> same shape. Frequency separation uses it on both sides: a discriminator that sees only
    ``x - blur(x)`` and a pixel loss on ``blur(sr)`` against ``blur(hr)`` (Fritsche et al. 2019).
    """
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32, device=x.device)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = (kernel / kernel.sum()).to(x.dtype)
    c = x.shape[1]
    out = F.pad(x, (radius,) * 4, mode="reflect")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)  # along rows
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)  # along columns
