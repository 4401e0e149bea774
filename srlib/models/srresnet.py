"""SRResNet, the SRGAN generator (Ledig et al., CVPR 2017), and BasicSR's MSRResNet variant.

Input and output: float RGB in [0, 1], shape (B, 3, H, W) -> (B, 3, scale*H, scale*W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srlib.models.common import PixelShuffleUpsample, ResidualBlockNoBN, check_scale, scaled_kaiming_init


class ResidualBlockBN(nn.Module):
    """SRGAN's residual block: conv-BN-PReLU-conv-BN plus the identity."""

    def __init__(self, num_feat: int = 64):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(num_feat, num_feat, 3, 1, 1),
            nn.BatchNorm2d(num_feat),
            nn.PReLU(num_feat),
            nn.Conv2d(num_feat, num_feat, 3, 1, 1),
            nn.BatchNorm2d(num_feat),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """9x9 head, residual blocks with BN, a global skip, x2 PixelShuffle+PReLU stages, 9x9 tail."""

    def __init__(
        self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 16, scale: int = 4
    ):
        super().__init__()
        check_scale("SRResNet", scale, (2, 4))
        self.scale = scale
        self.head = nn.Sequential(nn.Conv2d(num_in_ch, num_feat, 9, 1, 4), nn.PReLU(num_feat))
        self.body = nn.Sequential(*[ResidualBlockBN(num_feat) for _ in range(num_block)])
        self.conv_after_body = nn.Sequential(nn.Conv2d(num_feat, num_feat, 3, 1, 1), nn.BatchNorm2d(num_feat))
        self.upsample = PixelShuffleUpsample(scale, num_feat, act=nn.PReLU(num_feat))
        self.tail = nn.Conv2d(num_feat, num_out_ch, 9, 1, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.head(x)  # (B, F, H, W)
        feat = feat + self.conv_after_body(self.body(feat))  # global skip
        return self.tail(self.upsample(feat))  # (B, 3, sH, sW)


class MSRResNet(nn.Module):
    """BasicSR's "modified SRResNet": no BN, 3x3 convs, LeakyReLU 0.1, plus a bilinear skip of the input.

    Parameter names follow BasicSR (``conv_first, body.i.conv1/2, upconv1/2, conv_hr, conv_last``).
    """

    def __init__(
        self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 16, scale: int = 4
    ):
        super().__init__()
        check_scale("MSRResNet", scale, (2, 3, 4))
        self.scale = scale
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[ResidualBlockNoBN(num_feat) for _ in range(num_block)])
        up = 9 if scale == 3 else 4
        self.upconv1 = nn.Conv2d(num_feat, num_feat * up, 3, 1, 1)
        self.upconv2 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1) if scale == 4 else None
        self.pixel_shuffle = nn.PixelShuffle(3 if scale == 3 else 2)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.1, inplace=True)
        scaled_kaiming_init(self, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.lrelu(self.conv_first(x))
        feat = self.body(feat)
        feat = self.lrelu(self.pixel_shuffle(self.upconv1(feat)))
        if self.upconv2 is not None:
            feat = self.lrelu(self.pixel_shuffle(self.upconv2(feat)))
        out = self.conv_last(self.lrelu(self.conv_hr(feat)))
        return out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
