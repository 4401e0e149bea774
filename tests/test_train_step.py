"""Step.gan_step trains the papers' objectives: one step, checked against a float64 transcription.

The reference below uses torch arithmetic only (no srlib.losses), written from the formulas:
  ESRGAN  L_D = -E[log D_Ra(x_r, x_f)] - E[log(1 - D_Ra(x_f, x_r))],  D_Ra(a, b) = sigmoid(C(a) - E[C(b)])
          L_G = L_percep + 5e-3 * L_G^Ra + 1e-2 * L1,  L_G^Ra = -E[log(1 - D_Ra(x_r, x_f))] - E[log D_Ra(x_f, x_r)]
  SRGAN   L_D = -E[log D(x_r)] - E[log(1 - D(x_f))],  L_G = content + 1e-3 * -E[log D(x_f)]
A changed sign, weight or real/fake pairing anywhere in the training step changes a loss or a gradient.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import srlib.train as T
from srlib import losses as L
from srlib.models import build_model
from srlib.train.build import build_parts
from srlib.train.step import Step

# float32 step vs float64 reference, relative (seen: losses <= 1e-6, gradients <= 2e-5 with the BatchNorm of D);
# a broken term moves them by 1e-2 or more
TOL_LOSS, TOL_GRAD = 1e-5, 1e-4


class ToyFeatures(nn.Module):
    """Stands in for VGG19 (too slow here): a frozen random conv; distance L1 (ESRGAN) or MSE (SRGAN)."""

    def __init__(self, criterion: str):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1).requires_grad_(False)
        self.criterion = F.l1_loss if criterion == "l1" else F.mse_loss

    def forward(self, sr, hr):
        return self.criterion(self.conv(sr), self.conv(hr))


# variant: (config changes, perceptual stand-in criterion or None)
VARIANTS = {
    # ESRGAN as in esrgan_paper: conv5_4 L1 perceptual + 5e-3 RaGAN + 1e-2 L1
    "esrgan": (dict(mode="esrgan", pixel_loss="l1", pixel_weight=1e-2, perceptual_weight=1.0,
                    adversarial_weight=5e-3), "l1"),
    # SRGAN-MSE as in srgan_course: pixel MSE content + 1e-3 adversarial
    "srgan_mse": (dict(mode="srgan", pixel_loss="mse", pixel_weight=1.0, adversarial_weight=1e-3), None),
    # SRGAN-VGG54 as in srgan_paper: 0.006 * VGG54 MSE (the paper's 1/12.75 feature rescaling) + 1e-3 adversarial
    "srgan_vgg54": (dict(mode="srgan", pixel_loss="mse", pixel_weight=0.0, perceptual_weight=0.006,
                         adversarial_weight=1e-3), "mse"),
}  # fmt: skip


def make_step(variant: str):
    changes, criterion = VARIANTS[variant]
    esrgan = changes["mode"] == "esrgan"
    cfg = T.TrainConfig(
        model="rrdbnet" if esrgan else "srresnet",
        model_kwargs=dict(num_feat=4, num_block=1, num_grow_ch=4) if esrgan else dict(num_feat=4, num_block=1),
        discriminator="vgg_discriminator" if esrgan else "srgan_discriminator",
        discriminator_kwargs=dict(num_feat=4, input_size=32, **({"adaptive_pool": True} if esrgan else {})),
        patch_size=32,
        perceptual="conv54" if criterion else "none",
        **changes,
    )
    torch.manual_seed(0)
    G = build_model(cfg.model, scale=4, **cfg.model_kwargs)
    D = build_model(cfg.discriminator, **cfg.discriminator_kwargs)
    perceptual = ToyFeatures(criterion) if criterion else None
    opt_g, opt_d = torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3)
    return Step(cfg, G, D, opt_g, opt_d, perceptual, torch.device("cpu"), 1)


def d_ra(a, b):  # "is a more realistic than the average b?"
    return torch.sigmoid(a - b.mean())


def reference(variant: str, G0, D0, D1, perceptual, lr, hr, flip_adversarial: bool = False) -> dict:
    """Float64 losses and gradients of one GAN step: D's loss with (G0, D0), G's with (G0, D1)."""
    G0, D0, D1 = (copy.deepcopy(m).double() for m in (G0, D0, D1))
    lr, hr = lr.double(), hr.double()

    # D step: D0 scores HR and the (fixed) SR of G0
    sr = G0(lr).detach()
    real, fake = D0(hr), D0(sr)
    if variant == "esrgan":
        loss_d = -torch.log(d_ra(real, fake)).mean() - torch.log(1 - d_ra(fake, real)).mean()
    else:
        loss_d = -torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean()
    grad_d = torch.autograd.grad(loss_d, list(D0.parameters()))

    # G step: the updated D1 scores HR and G0's SR; gradients reach G0 through sr only
    sr = G0(lr)
    real, fake = D1(hr).detach(), D1(sr)
    terms = {}
    if perceptual is not None:
        w, b = perceptual.conv.weight.double(), perceptual.conv.bias.double()
        diff = F.conv2d(sr, w, b, padding=1) - F.conv2d(hr, w, b, padding=1)
        terms["perceptual"] = diff.abs().mean() if variant == "esrgan" else (diff**2).mean()
    if variant == "esrgan":
        terms["pixel"] = (sr - hr).abs().mean()
        terms["adversarial"] = -torch.log(1 - d_ra(real, fake)).mean() - torch.log(d_ra(fake, real)).mean()
        loss_g = terms["perceptual"] + 5e-3 * terms["adversarial"] + 1e-2 * terms["pixel"]
    else:
        terms["pixel"] = ((sr - hr) ** 2).mean()
        terms["adversarial"] = -torch.log(torch.sigmoid(fake)).mean()
        content = 0.006 * terms["perceptual"] if variant == "srgan_vgg54" else terms["pixel"]
        loss_g = content + 1e-3 * terms["adversarial"]
    if flip_adversarial:  # the same with the adversarial sign flipped: shows the check can tell them apart
        loss_g = loss_g - 2 * (5e-3 if variant == "esrgan" else 1e-3) * terms["adversarial"]
    grad_g = torch.autograd.grad(loss_g, list(G0.parameters()))
    return dict(loss_d=loss_d, grad_d=grad_d, loss=loss_g, grad_g=grad_g, **terms)


def relative_error(grads, reference_grads) -> float:
    got = torch.cat([g.flatten().double() for g in grads])
    want = torch.cat([g.flatten() for g in reference_grads])
    return float((got - want).norm() / want.norm())


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_gan_step_trains_the_paper_objective(variant):
    step = make_step(variant)
    G0, D0 = copy.deepcopy(step.G), copy.deepcopy(step.D)
    g = torch.Generator().manual_seed(1)
    hr = torch.rand(3, 3, 32, 32, generator=g)
    lr = F.avg_pool2d(hr, 4)

    out = step(lr, hr)  # what the loop calls: the GAN step in these modes
    D1 = copy.deepcopy(step.D)  # after its update: the discriminator the G step used
    ref = reference(variant, G0, D0, D1, step.perceptual, lr, hr)

    for name in ("loss_d", "loss", "pixel", "adversarial") + (("perceptual",) if step.perceptual else ()):
        assert out[name] == pytest.approx(ref[name].item(), rel=TOL_LOSS), name
    assert set(out) - {"loss", "loss_d", "d_real", "d_fake"} == {"pixel", "adversarial"} | (
        {"perceptual"} if step.perceptual else set()
    )
    # the gradients the optimisers stepped with (.grad survives opt.step): D's from the D step, G's from the G step
    assert relative_error([p.grad for p in step.D.parameters()], ref["grad_d"]) < TOL_GRAD
    assert relative_error([p.grad for p in step.G.parameters()], ref["grad_g"]) < TOL_GRAD

    # the check is sharp enough for this seed: the flipped adversarial sign, or the D loss used for G,
    # differ from the reference by far more than the tolerance
    flipped = reference(variant, G0, D0, D1, step.perceptual, lr, hr, flip_adversarial=True)
    assert relative_error(flipped["grad_g"], ref["grad_g"]) > 100 * TOL_GRAD
    if variant == "esrgan":  # L_G^Ra - L_D^Ra = 2 (E[C(x_r)] - E[C(x_f)]): D must not score both alike
        assert abs(ref["adversarial"].item() - ref["loss_d"].item()) > 100 * TOL_LOSS


def test_srgan_without_vgg_falls_back_to_the_pixel_mse_content():
    """srgan_paper has pixel_weight 0 (content = VGG54); without VGG19 the content is SRGAN-MSE's pixel MSE."""
    step = make_step("srgan_mse")
    fallback = Step(T.replace(step.cfg, pixel_weight=0.0), step.G, step.D, step.opt_g, step.opt_d, None,
                    torch.device("cpu"), 1)  # fmt: skip
    assert (fallback.weights.pixel, fallback.weights.adversarial) == (1.0, 1e-3)


def test_the_loop_builds_this_step_from_its_models_optimisers_and_config():
    """train() updates through ``build_parts(cfg).update``: the Step above, wired to the run's own objects."""
    cfg = make_step("srgan_mse").cfg
    parts = build_parts(cfg, torch.device("cpu"))
    step = parts.update
    assert isinstance(step, Step) and step.cfg is cfg and step.perceptual is None
    assert (step.G, step.D, step.opt_g, step.opt_d) == (parts.G, parts.D, parts.opt_g, parts.opt_d)
    for model, optimizer in ((parts.G, parts.opt_g), (parts.D, parts.opt_d)):
        params = optimizer.param_groups[0]["params"]
        assert len(params) == len(list(model.parameters())) and all(
            a is b for a, b in zip(params, model.parameters(), strict=True)
        )
    assert step.weights == make_step("srgan_mse").weights


def test_ldl_artifact_term_is_added_to_the_generator_loss_with_its_weight():
    """With artifact_weight, the G loss is the paper objective plus weight * artifact_loss(sr, hr, EMA(lr))."""
    base = make_step("esrgan")
    cfg = T.replace(base.cfg, ema_decay=0.999, artifact_weight=3.0)
    ema = copy.deepcopy(base.G).requires_grad_(False)
    with torch.no_grad():  # an EMA that differs from G, so the map is not empty
        for p in ema.parameters():
            p.add_(0.05 * torch.randn_like(p))
    step = Step(cfg, base.G, base.D, base.opt_g, base.opt_d, base.perceptual, torch.device("cpu"), 1, ema)
    torch.manual_seed(1)
    lr, hr = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        expected_artifact = float(L.artifact_loss(step.G(lr), hr, ema(lr)))
    out = step(lr, hr)
    assert out["artifact"] == pytest.approx(expected_artifact, rel=1e-5) and out["artifact"] > 0
    others = out["pixel"] * 1e-2 + out["perceptual"] + out["adversarial"] * 5e-3
    assert out["loss"] == pytest.approx(others + 3.0 * out["artifact"], rel=1e-5)
