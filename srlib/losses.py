"""Losses: pixel, VGG19 perceptual, and the GAN losses of SRGAN and ESRGAN.

Every image loss takes (sr, hr) float tensors in [0, 1], shape (B, 3, H, W). GAN losses take the
discriminator's logits (B, 1); the sigmoid lives here, never in the discriminator.
"""

from __future__ import annotations

import copy
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from srlib.models.common import gaussian_blur
from srlib.models.rrdbnet import RRDBNet

# ---------------------------------------------------------------------------------------------- pixel


def l1_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(sr, hr)


def mse_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(sr, hr)


def charbonnier_loss(sr: torch.Tensor, hr: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """A smooth L1: sqrt((sr - hr)^2 + eps^2), differentiable at zero (Lai et al., LapSRN)."""
    return torch.sqrt((sr - hr) ** 2 + eps**2).mean()


PIXEL_LOSSES = {"l1": l1_loss, "mse": mse_loss, "charbonnier": charbonnier_loss}


class LowPassPixelLoss(nn.Module):
    """A pixel loss on Gaussian-blurred images only: ``loss(blur(sr), blur(hr))`` (Fritsche et al. 2019).

    In a GAN fine-tune the pixel term then pins colours, brightness and shapes but no longer punishes detail
    finer than about 2.5 sigma pixels for being out of phase with the HR's, which is all a hallucinated
    texture can be; that detail is left to the adversarial term (best with a discriminator that sees only
    the high-passed image, ``high_pass`` of ``srlib.models.discriminators``).
    """

    def __init__(self, pixel_loss, sigma: float):
        super().__init__()
        self.pixel_loss, self.sigma = pixel_loss, sigma

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        return self.pixel_loss(gaussian_blur(sr, self.sigma), gaussian_blur(hr, self.sigma))


def distillation_loss(sr: torch.Tensor, teacher: torch.Tensor, high_pass: float = 0.0) -> torch.Tensor:
    """L1 between the student's and the teacher's outputs on the same LR, (B, 3, H, W) each -> scalar.

    high_pass > 0 compares only ``x - blur(x, high_pass)``: the teacher's texture, while the pixel term keeps
    the colours and shapes of the HR (a teacher's colour shift is not learnt).
    """
    if high_pass > 0:
        sr, teacher = sr - gaussian_blur(sr, high_pass), teacher - gaussian_blur(teacher, high_pass)
    return F.l1_loss(sr, teacher)


# ----------------------------------------------------------------------------------------- perceptual

VGG19_BLOCKS = (2, 2, 4, 4, 4)  # convolutions per stage in VGG19


def vgg19_layer_names() -> list[str]:
    """Names of ``torchvision.models.vgg19().features`` in order: conv1_1, relu1_1, ..., pool5."""
    names = []
    for stage, convs in enumerate(VGG19_BLOCKS, start=1):
        for i in range(1, convs + 1):
            names += [f"conv{stage}_{i}", f"relu{stage}_{i}"]
        names.append(f"pool{stage}")
    return names


VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"  # torchvision IMAGENET1K_V1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg19_weights_path() -> Path:
    """Where the ImageNet VGG19 file is looked for: ``$SRLIB_VGG19_WEIGHTS``, else the torch hub cache."""
    if os.environ.get("SRLIB_VGG19_WEIGHTS"):
        return Path(os.environ["SRLIB_VGG19_WEIGHTS"])
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(VGG19_URL).name


def load_vgg19_state_dict(path: str | os.PathLike | None = None, download: bool = True) -> dict:
    """torchvision's ImageNet VGG19 weights from ``path``, the hub cache, or (online) the official URL."""
    target = Path(path) if path else vgg19_weights_path()
    if not target.is_file() and download and path is None:
        try:
            torch.hub.load_state_dict_from_url(VGG19_URL, progress=True, check_hash=True)
        except OSError as error:  # offline: URLError and socket errors are OSErrors
            raise FileNotFoundError(
                f"ImageNet VGG19 weights are not available offline ({error.__class__.__name__}). "
                f"Download {VGG19_URL} on a connected machine and put it at {target} "
                "(or point SRLIB_VGG19_WEIGHTS at it)."
            ) from error
    if not target.is_file():
        raise FileNotFoundError(f"VGG19 weights not found at {target}; download {VGG19_URL} to that path")
    return torch.load(target, map_location="cpu", weights_only=True)


def vgg19_weights_available() -> bool:
    return vgg19_weights_path().is_file()


class VGGFeatureExtractor(nn.Module):
    """VGG19 features at named layers; ``conv5_4`` is before its ReLU, ``relu5_4`` after it.

    ``weights``: "imagenet" (default; see ``load_vgg19_state_dict``), a file path, or "random" for
    structure tests only (warns: random features make the perceptual loss meaningless).
    Input: RGB in [0, 1]; ImageNet normalisation happens inside.
    """

    def __init__(self, layers: list[str], weights: str = "imagenet", normalize_input: bool = True):
        super().__init__()
        from torchvision.models import vgg19

        names = vgg19_layer_names()
        unknown = [name for name in layers if name not in names]
        if unknown:
            raise ValueError(f"unknown VGG19 layers {unknown}; valid names look like conv5_4, relu2_2, pool3")
        self.layers = list(layers)
        self.weights = weights
        net = vgg19(weights=None)
        if weights == "random":
            warnings.warn("VGGFeatureExtractor with random weights: for structure tests only", stacklevel=2)
        else:
            net.load_state_dict(load_vgg19_state_dict(None if weights == "imagenet" else weights))
        last = max(names.index(name) for name in layers)
        # Out-of-place ReLUs: an in-place one would overwrite the pre-activation conv outputs we return.
        modules = [nn.ReLU() if isinstance(m, nn.ReLU) else m for m in net.features[: last + 1]]
        self.features = nn.ModuleDict({names[i]: module for i, module in enumerate(modules)})
        self.normalize_input = normalize_input
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):  # a frozen feature extractor stays in eval mode
        return super().train(False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.normalize_input:
            x = (x - self.mean) / self.std
        out = {}
        for name, module in self.features.items():
            x = module(x)
            if name in self.layers:
                out[name] = x
        return out


class PerceptualLoss(nn.Module):
    """Distance between VGG19 features of SR and HR: sum over layers of weight * criterion."""

    def __init__(self, layer_weights: dict[str, float], criterion: str = "l1", weights: str = "imagenet"):
        super().__init__()
        if criterion not in ("l1", "mse"):
            raise ValueError(f"criterion must be 'l1' or 'mse', not {criterion!r}")
        self.layer_weights = dict(layer_weights)
        self.criterion = F.l1_loss if criterion == "l1" else F.mse_loss
        self.vgg = VGGFeatureExtractor(list(layer_weights), weights=weights)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        sr_features = self.vgg(sr)
        with torch.no_grad():
            hr_features = self.vgg(hr)
        return sum(w * self.criterion(sr_features[k], hr_features[k]) for k, w in self.layer_weights.items())


class DiscriminatorFeatureLoss(nn.Module):
    """Feature matching (Salimans et al. 2016, pix2pixHD): mean over D's conv stages of L1(D_k(sr), D_k(hr)).

    A perceptual term that needs no pretrained network: the features are the discriminator's own, so they
    change as it learns what tells HR from SR. ``discriminator`` is a ``srlib.models`` discriminator; its
    ``stages(x)`` gives the activations compared (after every LeakyReLU of the patch classifiers; the trunk of
    the U-Net), on the same high-passed input it scores. HR features are detached targets; SR features pass the
    gradient on to G (D is frozen in the G step). sr, hr: (B, 3, H, W) -> scalar.
    """

    def __init__(self, discriminator: nn.Module):
        super().__init__()
        self._discriminator = [discriminator]  # a list: not a submodule, so D's weights are not saved twice

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        # one pass over both halves: a spectral-norm D re-estimates its weights' norm on every call in training
        # mode, and two calls would compare SR and HR through slightly different weights
        stages = self._discriminator[0].stages(torch.cat([sr, hr]))
        n = sr.shape[0]
        return torch.stack([F.l1_loss(f[:n].float(), f[n:].detach().float()) for f in stages]).mean()


class SRNetFeatureLoss(nn.Module):
    """A perceptual term on the trunk features of a pretrained, GAN-trained RRDBNet instead of ImageNet VGG19.

    ``net`` is an ``RRDBNet`` (e.g. RealSR DF2K from the zoo, trained with a VGG19 perceptual term and a GAN on
    DF2K); its ``conv_first`` and first ``blocks`` RRDBs are kept, frozen, and applied to SR and HR at HR size.
    Those layers were learned to describe local structure and texture of natural images well enough to
    regenerate them, which is what a perceptual distance needs, and they are the only such network that
    installs offline here. The distance is the mean over the kept stages of the L1 between SR and HR features
    (ESRGAN's criterion). sr, hr: (B, 3, H, W) in [0, 1] -> scalar.
    """

    def __init__(self, net: nn.Module, blocks: int = 1):
        super().__init__()
        if not isinstance(net, RRDBNet) or not 0 <= blocks <= len(net.body):
            raise ValueError(f"SRNetFeatureLoss needs an RRDBNet of {blocks}+ blocks, got {type(net).__name__}")
        self.conv_first = copy.deepcopy(net.conv_first)
        self.body = nn.Sequential(*[copy.deepcopy(block) for block in list(net.body)[:blocks]])
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):  # a frozen feature extractor stays in eval mode
        return super().train(False)

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = [self.conv_first(x)]  # (B, 64, H, W)
        for block in self.body:
            out.append(block(out[-1]))  # (B, 64, H, W)
        return out

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        n = sr.shape[0]
        stages = self.stages(torch.cat([sr, hr]))  # one pass over both halves
        return torch.stack([F.l1_loss(f[:n].float(), f[n:].detach().float()) for f in stages]).mean()


class GradientVarianceLoss(nn.Module):
    """Gradient variance loss (Abrahamyan et al. 2022): how much detail each small patch holds, SR against HR.

    Both images go to luma (BT.601 weights), then to Sobel gradients along x and y; each gradient map is cut
    into ``patch`` x ``patch`` squares and the variance of every square taken; the loss is the mean squared
    difference of those variances. It asks for as much texture per patch as the HR has, wherever it sits
    inside the patch: unlike a pixel or feature distance it does not punish detail for being out of phase,
    and unlike the adversarial term it needs no network. sr, hr: (B, 3, H, W), H and W multiples of
    ``patch`` -> scalar.
    """

    def __init__(self, patch: int = 8):
        super().__init__()
        self.patch = patch
        sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
        self.register_buffer("kernels", torch.stack([sobel, sobel.T])[:, None], persistent=False)  # (2, 1, 3, 3)
        self.register_buffer("luma", torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1), persistent=False)

    def patch_variances(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 2, H / patch, W / patch): the variance of each patch of the x and y gradients."""
        grey = (x * self.luma.to(x.dtype)).sum(1, keepdim=True)
        grads = F.conv2d(F.pad(grey, (1, 1, 1, 1), mode="replicate"), self.kernels.to(x.dtype))  # (B, 2, H, W)
        b, c, h, w = grads.shape
        p = self.patch
        if h % p or w % p:
            raise ValueError(f"GradientVarianceLoss needs sides divisible by {p}, got {h}x{w}")
        patches = grads.reshape(b, c, h // p, p, w // p, p)
        return patches.var(dim=(3, 5))

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self.patch_variances(hr)
        return F.mse_loss(self.patch_variances(sr), target)


def local_variance(x: torch.Tensor, window: int = 7) -> torch.Tensor:
    """Variance of ``x`` (B, 1, H, W) over the ``window`` x ``window`` square around each pixel (reflect padding)."""
    pad = window // 2
    padded = F.pad(x, (pad,) * 4, mode="reflect")
    mean = F.avg_pool2d(padded, window, stride=1)
    return (F.avg_pool2d(padded**2, window, stride=1) - mean**2).clamp_min(0)


@torch.no_grad()
def artifact_map(sr: torch.Tensor, hr: torch.Tensor, sr_ema: torch.Tensor, window: int = 7) -> torch.Tensor:
    """LDL's map of likely GAN artefacts (Liang et al. 2022, "Details or Artifacts"), (B, 1, H, W), no gradient.

    The residual ``r = sum_c |hr - sr|`` of a hallucinated texture varies smoothly; an artefact (a worm, a
    speckle, a grid) makes it jump, so each pixel is weighted by the local variance of ``r`` in a 7x7 window,
    times the patch's overall residual variance to the power 1/5. Pixels where the generator already does
    better than its EMA copy (``|hr - sr| < |hr - sr_ema|``) get weight 0: there the detail is stable, and the
    paper's finding is that artefacts are what flips between training steps while real detail stays.
    """
    residual = (hr - sr).abs().sum(1, keepdim=True)
    residual_ema = (hr - sr_ema).abs().sum(1, keepdim=True)
    patch_weight = residual.var(dim=(1, 2, 3), keepdim=True) ** (1 / 5)
    weight = patch_weight * local_variance(residual, window)
    return torch.where(residual < residual_ema, torch.zeros_like(weight), weight)


def artifact_loss(sr: torch.Tensor, hr: torch.Tensor, sr_ema: torch.Tensor) -> torch.Tensor:
    """LDL's artefact term: L1 between ``map * sr`` and ``map * hr``, the map from ``artifact_map``.

    sr (with gradient), hr, sr_ema (the EMA generator's output, no gradient): (B, 3, H, W) -> scalar.
    """
    weight = artifact_map(sr.detach(), hr, sr_ema)
    return F.l1_loss(weight * sr, weight * hr)


def esrgan_perceptual(weights: str = "imagenet") -> PerceptualLoss:
    """ESRGAN: conv5_4 *before* its ReLU (denser features, fewer zeros), L1."""
    return PerceptualLoss({"conv5_4": 1.0}, criterion="l1", weights=weights)


def srgan_vgg54(weights: str = "imagenet") -> PerceptualLoss:
    """SRGAN's VGG54: relu5_4, after the activation, MSE."""
    return PerceptualLoss({"relu5_4": 1.0}, criterion="mse", weights=weights)


# ------------------------------------------------------------------------------------------------ GAN


def _bce(logits: torch.Tensor, target_is_real: bool) -> torch.Tensor:
    target = torch.ones_like(logits) if target_is_real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def gan_loss_d(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Standard discriminator loss: -E[log D(x_r)] - E[log(1 - D(x_f))]."""
    return _bce(real_logits, True) + _bce(fake_logits, False)


def gan_loss_g(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss used by SRGAN: -E[log D(G(z))]."""
    return _bce(fake_logits, True)


def ragan_loss_d(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Relativistic average discriminator loss (ESRGAN eq. 1).

    D_Ra(a, b) = sigmoid(C(a) - E[C(b)]):  "is a more realistic than b on average?"
    L_D^Ra = -E[log D_Ra(x_r, x_f)] - E[log(1 - D_Ra(x_f, x_r))]
    (BasicSR halves each term; here it is written as in the paper.)
    """
    real_vs_fake = real_logits - fake_logits.mean()
    fake_vs_real = fake_logits - real_logits.mean()
    return _bce(real_vs_fake, True) + _bce(fake_vs_real, False)


def ragan_loss_g(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's side, symmetric (ESRGAN eq. 2): the gradient flows through both terms.

    L_G^Ra = -E[log(1 - D_Ra(x_r, x_f))] - E[log D_Ra(x_f, x_r)]
    """
    real_vs_fake = real_logits - fake_logits.mean()
    fake_vs_real = fake_logits - real_logits.mean()
    return _bce(real_vs_fake, False) + _bce(fake_vs_real, True)


# ------------------------------------------------------------------------------ generator objectives


@dataclass(frozen=True)
class ESRGANWeights:
    """L_G = perceptual * L_percep + adversarial * L_G^Ra + pixel * L1 (ESRGAN section 3.3)."""

    pixel: float = 1e-2
    perceptual: float = 1.0
    adversarial: float = 5e-3


@dataclass(frozen=True)
class SRGANWeights:
    """L_G = content + 1e-3 * adversarial (SRGAN eq. 3).

    The content loss is ``pixel`` * MSE (the paper's SRGAN-MSE, the default) plus ``perceptual`` * VGG54
    when a perceptual module is given (SRGAN-VGG54 sets pixel=0).
    """

    pixel: float = 1.0
    perceptual: float = 1.0
    adversarial: float = 1e-3


def _weighted_total(terms: dict[str, torch.Tensor], weights) -> torch.Tensor:
    """sum of weight * term, in the order of ``terms`` (pixel, perceptual, adversarial)."""
    return sum(getattr(weights, name) * value for name, value in terms.items())


def esrgan_generator_loss(
    sr: torch.Tensor,
    hr: torch.Tensor,
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    perceptual: nn.Module | None,
    weights: ESRGANWeights = ESRGANWeights(),
    pixel_loss=l1_loss,
) -> dict[str, torch.Tensor]:
    """ESRGAN's generator objective: its terms and their weighted sum under ``"total"``.

    sr, hr: (B, 3, H, W) in [0, 1]; real_logits = C(hr), fake_logits = C(sr), (B, 1) raw scores.
    ``perceptual`` None drops that term (no VGG19 available). ``srlib.train`` trains with exactly this.
    """
    terms = {"pixel": pixel_loss(sr, hr)}  # L1: keeps colours and brightness
    if perceptual is not None:
        terms["perceptual"] = perceptual(sr, hr)  # VGG19 conv5_4 before ReLU, L1
    terms["adversarial"] = ragan_loss_g(real_logits, fake_logits)  # L_G^Ra, both directions
    terms["total"] = _weighted_total(terms, weights)
    return terms


def srgan_generator_loss(
    sr: torch.Tensor,
    hr: torch.Tensor,
    fake_logits: torch.Tensor,
    perceptual: nn.Module | None = None,
    weights: SRGANWeights = SRGANWeights(),
    pixel_loss=mse_loss,
) -> dict[str, torch.Tensor]:
    """SRGAN's perceptual loss: content (pixel MSE, plus VGG54 when ``perceptual`` is given) + 1e-3 adversarial.

    sr, hr: (B, 3, H, W) in [0, 1]; fake_logits = D(sr) before the sigmoid, (B, 1). Returns the terms and
    their weighted sum under ``"total"``. ``srlib.train`` trains with exactly this.
    """
    terms = {"pixel": pixel_loss(sr, hr)}
    if perceptual is not None:
        terms["perceptual"] = perceptual(sr, hr)  # VGG54: relu5_4 features, MSE
    terms["adversarial"] = gan_loss_g(fake_logits)  # -log D(G(lr)), non-saturating
    terms["total"] = _weighted_total(terms, weights)
    return terms


@torch.no_grad()
def relu_zero_fractions(image: torch.Tensor, weights: str = "imagenet") -> dict[str, tuple[float, float]]:
    """For each VGG19 conv layer: fraction of zeros before its ReLU and after it, on ``image`` (1, 3, H, W).

    ESRGAN's argument for pre-activation features: after ReLU most deep activations are zero, so a loss on
    them carries little information about brightness and texture.
    """
    names = [name for name in vgg19_layer_names() if name.startswith(("conv", "relu"))]
    features = VGGFeatureExtractor(names, weights=weights)(image)
    fractions = {}
    for name in names:
        if name.startswith("conv"):
            after = features[name.replace("conv", "relu")]
            fractions[name] = ((features[name] == 0).float().mean().item(), (after == 0).float().mean().item())
    return fractions
