"""Discriminators that score HR patches (the sigmoid lives in the loss).

SRGANDiscriminator: Ledig et al. 2017, 96x96 input. VGGStyleDiscriminator: ESRGAN, 128x128 input.
Input: float RGB in [0, 1], shape (B, 3, S, S) -> logits (B, 1), one per patch.
UNetDiscriminator: Real-ESRGAN's (Wang et al. 2021) U-Net with spectral norm, any size divisible by 8
-> logits (B, 1, S, S), one per pixel: it tells the generator *where* a patch looks fake, a much denser
signal than one score per patch.

``norm`` (both): "batch" as published; "spectral" or "none" drop BatchNorm. The published discriminators
score real and fake batches in separate calls, so their BatchNorm normalises each batch by its own
statistics and cannot see a colour cast shared by a whole fake batch: with no ImageNet perceptual term to
anchor the colours, a GAN fine-tune then drifts in colour (measured in issue #14's ablations).

``shift_jitter=k`` (both): in training, each sample is rolled by a random (dy, dx) in [0, k) before the convs,
so the discriminator's stride grid never lines up with the generator's sub-pixel (PixelShuffle) grid the
same way twice. Without it the adversarial gradient can reward a fixed period-4 pattern, which is the
checkerboard a GAN fine-tune paints over flat regions (issue #14's ablations measure it).

``high_pass=sigma`` (all): the discriminator sees only ``x - gaussian_blur(x, sigma)``, the detail finer than
about 2.5 sigma pixels, as in the frequency separation of Fritsche et al. 2019. It then cannot reward a
change of colour or brightness, which stays the pixel loss's alone; it judges texture and edges only.

``input_gain=g`` (U-Net): the input is multiplied by ``g`` before the first conv. Spectral norm bounds how far
each layer moves its output per unit of input, and a high-passed image is small (its values spread over a few
hundredths), so a spectral-norm critic of it barely moves its logits and learns slowly: telling the course
RRDB's SR patches from HR, the U-Net reached 76 % accuracy after 400 steps at gain 1 and 96 % at gain 10
(`benchmarks/discriminator_probe.py`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srlib.models.common import gaussian_blur

NORMS = ("batch", "spectral", "none")


def _conv_block(in_ch: int, out_ch: int, kernel: int, stride: int, bn: bool = True, norm: str = "batch") -> list:
    """conv (+ norm) + LeakyReLU; ``bn`` False keeps the published layer without BatchNorm (the first one)."""
    if norm not in NORMS:
        raise ValueError(f"norm={norm!r}: choose one of {', '.join(NORMS)}")
    bn = bn and norm == "batch"
    conv = nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2 if stride == 1 else 1, bias=not bn)
    layers: list[nn.Module] = [nn.utils.parametrizations.spectral_norm(conv) if norm == "spectral" else conv]
    if bn:
        layers.append(nn.BatchNorm2d(out_ch))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return layers


class _PatchClassifier(nn.Module):
    """Shared shape: conv features halve the patch ``num_halvings`` times, then a two-layer classifier."""

    def __init__(
        self,
        features: nn.Sequential,
        out_feat: int,
        num_halvings: int,
        input_size: int,
        hidden: int,
        adaptive_pool: bool,
        shift_jitter: int = 0,
        high_pass: float = 0.0,
    ):
        super().__init__()
        self.input_size = input_size
        self.adaptive_pool = adaptive_pool
        self.shift_jitter = shift_jitter
        self.high_pass = high_pass
        side = input_size // 2**num_halvings
        self.features = features
        self.pool = nn.AdaptiveAvgPool2d(side) if adaptive_pool else nn.Identity()
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(out_feat * side * side, hidden),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.adaptive_pool and tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            raise ValueError(
                f"{type(self).__name__} expects {self.input_size}x{self.input_size} patches, got "
                f"{x.shape[-2]}x{x.shape[-1]}; crop to that size or build it with adaptive_pool=True"
            )
        x = prepare_input(x, self.training, self.shift_jitter, self.high_pass)
        return self.classifier(self.pool(self.features(x)))  # (B, 1) logits

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The activation after every LeakyReLU of ``features``, for feature matching. The input is prepared
        as in ``forward`` but never shifted, so an SR and an HR patch in one batch stay aligned."""
        x = prepare_input(x, False, 0, self.high_pass)
        out = []
        for layer in self.features:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                out.append(x)
        return out


def gaussian_high_pass(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``x`` minus its Gaussian blur (``srlib.models.common.gaussian_blur``), (B, C, H, W) -> same shape."""
    return x - gaussian_blur(x, sigma)


def prepare_input(
    x: torch.Tensor, training: bool, shift_jitter: int, high_pass: float, input_gain: float = 1.0
) -> torch.Tensor:
    """What every discriminator does to its input first: the random shift (training only), the high-pass, the gain."""
    if training and shift_jitter > 1:
        x = random_roll(x, shift_jitter)
    if high_pass > 0:
        x = gaussian_high_pass(x, high_pass)
    return x * input_gain if input_gain != 1 else x


def random_roll(x: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Each sample of (B, C, H, W) rolled (wrapping around) by its own random (dy, dx) in [0, max_shift)."""
    dy = torch.randint(0, max_shift, (x.shape[0],)).tolist()
    dx = torch.randint(0, max_shift, (x.shape[0],)).tolist()
    return torch.stack([torch.roll(s, (a, b), dims=(1, 2)) for s, a, b in zip(x, dy, dx, strict=True)])


class SRGANDiscriminator(_PatchClassifier):
    """Eight 3x3 convs (64 -> 512 features, stride 2 every other layer, BN from the second), dense 1024."""

    def __init__(
        self,
        num_in_ch: int = 3,
        num_feat: int = 64,
        input_size: int = 96,
        adaptive_pool: bool = False,
        shift_jitter: int = 0,
        norm: str = "batch",
        high_pass: float = 0.0,
    ):
        widths = [
            num_feat,
            num_feat,
            2 * num_feat,
            2 * num_feat,
            4 * num_feat,
            4 * num_feat,
            8 * num_feat,
            8 * num_feat,
        ]
        layers = _conv_block(num_in_ch, widths[0], 3, 1, bn=False, norm=norm)
        for i in range(1, 8):
            layers += _conv_block(widths[i - 1], widths[i], 3, stride=2 if i % 2 else 1, norm=norm)
        super().__init__(
            nn.Sequential(*layers), widths[-1], 4, input_size, 1024, adaptive_pool, shift_jitter, high_pass
        )


class VGGStyleDiscriminator(_PatchClassifier):
    """ESRGAN's discriminator: five stages of (3x3 conv, 4x4 stride-2 conv), 64 -> 512 features, dense 100."""

    def __init__(
        self,
        num_in_ch: int = 3,
        num_feat: int = 64,
        input_size: int = 128,
        adaptive_pool: bool = False,
        shift_jitter: int = 0,
        norm: str = "batch",
        high_pass: float = 0.0,
    ):
        widths = [num_feat, 2 * num_feat, 4 * num_feat, 8 * num_feat, 8 * num_feat]
        layers: list[nn.Module] = []
        in_ch = num_in_ch
        for stage, width in enumerate(widths):
            layers += _conv_block(in_ch, width, 3, 1, bn=stage > 0, norm=norm)
            layers += _conv_block(width, width, 4, 2, norm=norm)
            in_ch = width
        super().__init__(nn.Sequential(*layers), widths[-1], 5, input_size, 100, adaptive_pool, shift_jitter, high_pass)


class UNetDiscriminator(nn.Module):
    """Real-ESRGAN's U-Net discriminator: three stride-2 stages down, three bilinear stages up with skips.

    Every conv but the first and the last is spectral-normalised (``norm="spectral"``; "none" drops it):
    the per-pixel critic is then smooth enough to train beside a generator that starts from a PSNR model.
    (B, 3, S, S), S a multiple of 8 -> (B, 1, S, S) logits.
    """

    def __init__(
        self,
        num_in_ch: int = 3,
        num_feat: int = 64,
        norm: str = "spectral",
        shift_jitter: int = 0,
        high_pass: float = 0.0,
        input_gain: float = 1.0,
    ):
        super().__init__()
        if norm not in ("spectral", "none"):
            raise ValueError(f"UNetDiscriminator norm={norm!r}: choose 'spectral' or 'none'")
        self.shift_jitter, self.high_pass, self.input_gain = shift_jitter, high_pass, input_gain
        self.input_size = 128  # any multiple of 8 works; this is the side FLOP counts (srlib models) assume

        def conv(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1) -> nn.Module:
            layer = nn.Conv2d(in_ch, out_ch, kernel, stride, 1, bias=False)
            return nn.utils.parametrizations.spectral_norm(layer) if norm == "spectral" else layer

        f = num_feat
        self.conv0 = nn.Conv2d(num_in_ch, f, 3, 1, 1)
        self.down = nn.ModuleList([conv(f, 2 * f, 4, 2), conv(2 * f, 4 * f, 4, 2), conv(4 * f, 8 * f, 4, 2)])
        self.up = nn.ModuleList([conv(8 * f, 4 * f), conv(4 * f, 2 * f), conv(2 * f, f)])
        self.head = nn.Sequential(
            conv(f, f), nn.LeakyReLU(0.2), conv(f, f), nn.LeakyReLU(0.2), nn.Conv2d(f, 1, 3, 1, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 8 or x.shape[-2] % 8:
            raise ValueError(f"UNetDiscriminator needs sides divisible by 8, got {x.shape[-2]}x{x.shape[-1]}")
        x = prepare_input(x, self.training, self.shift_jitter, self.high_pass, self.input_gain)
        return self.head(self._trunk(x)[-1])  # (B, 1, S, S)

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The seven trunk activations (down and up), for feature matching; the input is prepared as in
        ``forward`` but never shifted, so an SR and an HR patch in one batch stay aligned."""
        return self._trunk(prepare_input(x, False, 0, self.high_pass, self.input_gain))

    def _trunk(self, x: torch.Tensor) -> list[torch.Tensor]:
        skips = [F.leaky_relu(self.conv0(x), 0.2)]  # (B, f, S, S)
        for layer in self.down:  # (B, 2f, S/2, S/2), (B, 4f, S/4, S/4), (B, 8f, S/8, S/8)
            skips.append(F.leaky_relu(layer(skips[-1]), 0.2))
        out, x = list(skips), skips.pop()
        for layer in self.up:  # back to (B, f, S, S), adding the skip of the same size
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = F.leaky_relu(layer(x), 0.2) + skips.pop()
            out.append(x)
        return out
