"""EDSR: Enhanced Deep Residual Networks for Single Image SR (Lim et al., CVPRW 2017).

Input and output: float RGB in [0, 1], shape (B, 3, H, W) -> (B, 3, scale*H, scale*W).
"""

from __future__ import annotations

import torch
from torch import nn

from srlib.models.common import PixelShuffleUpsample, ResidualBlockNoBN, check_scale

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)  # mean colour of DIV2K train, removed before the head


class EDSR(nn.Module):
    """Residual blocks without BN, a global skip, and a sub-pixel upsampler.

    The official models compute on [0, 255] with the DIV2K mean removed; ``img_range=255`` reproduces
    that from [0, 1] input, so EDSR-PyTorch weights load without rescaling.
    """

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_block: int = 16,
        scale: int = 4,
        res_scale: float = 1.0,  # 0.1 in the 32x256 model: wide stacks diverge without it
        img_range: float = 255.0,
        rgb_mean: tuple[float, ...] = DIV2K_RGB_MEAN,
    ):
        super().__init__()
        check_scale("EDSR", scale, (2, 3, 4))
        self.scale = scale
        self.img_range = img_range
        self.register_buffer("mean", torch.tensor(rgb_mean).view(1, -1, 1, 1), persistent=False)

        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[ResidualBlockNoBN(num_feat, res_scale) for _ in range(num_block)])
        self.conv_after_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.upsample = PixelShuffleUpsample(scale, num_feat)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) * self.img_range  # (B, 3, H, W), zero-mean on [0, 255]
        feat = self.conv_first(x)  # (B, F, H, W)
        feat = feat + self.conv_after_body(self.body(feat))  # global skip
        out = self.conv_last(self.upsample(feat))  # (B, 3, sH, sW)
        return out / self.img_range + self.mean
