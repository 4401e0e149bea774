"""RRDBNet, the ESRGAN generator (Wang et al., ECCVW 2018).

Input and output: float RGB in [0, 1], shape (B, 3, H, W) -> (B, 3, scale*H, scale*W).
Parameter names follow BasicSR / Real-ESRGAN, so their checkpoints load without mapping.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srlib.models.common import check_scale, scaled_kaiming_init

RESIDUAL_SCALE = 0.2  # residual scaling 0.2 keeps deep RRDB stacks (69 dense blocks) stable without BN


class ResidualDenseBlock(nn.Module):
    """Five 3x3 convs, each seeing all earlier features (dense), LeakyReLU 0.2, scaled residual."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_grow_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        scaled_kaiming_init(self, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))  # (B, G, H, W)
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))  # (B, F, H, W), no activation
        return x + RESIDUAL_SCALE * x5


class RRDB(nn.Module):
    """Residual-in-Residual Dense Block: three dense blocks inside one more scaled residual."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + RESIDUAL_SCALE * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBNet(nn.Module):
    """23 RRDBs x 64 features by default, then nearest-neighbour x2 upsample + conv, twice.

    x2 and x1 reuse the x4 body: the input is pixel-unshuffled to a quarter (x2) or a sixteenth (x1) of
    its area first, as in Real-ESRGAN. With ``pixel_unshuffle=False`` x2 and x3 upsample once instead
    (nearest x2 or x3, then ``conv_up1``; there is no ``conv_up2``), as KAIR's RRDB networks do.
    """

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = 32,
        scale: int = 4,
        pixel_unshuffle: bool = True,
    ):
        super().__init__()
        check_scale("RRDBNet", scale, (1, 2, 4) if pixel_unshuffle else (2, 3, 4))
        self.scale = scale
        self.unshuffle = {4: 1, 2: 2, 1: 4}[scale] if pixel_unshuffle else 1  # factor that makes the body x4
        self.upsample_factors = (2, 2) if pixel_unshuffle or scale == 4 else (scale,)  # nearest-neighbour stages
        self.conv_first = nn.Conv2d(num_in_ch * self.unshuffle**2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1) if len(self.upsample_factors) == 2 else None
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle > 1:
            _, _, h, w = x.shape
            if h % self.unshuffle or w % self.unshuffle:
                raise ValueError(f"RRDBNet x{self.scale} needs H and W divisible by {self.unshuffle}, got {h}x{w}")
            x = F.pixel_unshuffle(x, self.unshuffle)  # (B, 3*u*u, H/u, W/u)
        feat = self.conv_first(x)  # (B, F, h, w)
        feat = feat + self.conv_body(self.body(feat))  # trunk with its long skip
        up = self.upsample_factors
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=up[0], mode="nearest")))  # (B, F, 2h, 2w)
        if self.conv_up2 is not None:
            feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))  # (B, F, 4h, 4w)
        return self.conv_last(self.lrelu(self.conv_hr(feat)))
