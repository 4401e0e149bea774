"""One training update: the PSNR step, the GAN step (D step, then G step), and the EMA of the generator.

``Step(cfg, G, D, opt_g, opt_d, perceptual, device, world)`` holds what an update needs; ``step(lr, hr)`` runs
the update of ``cfg.mode`` on one batch and returns its losses as floats. The GAN step computes every loss with
the tested objectives of ``srlib.losses`` (``tests/test_train_step.py`` checks one step against a float64
transcription of the papers' formulas).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from srlib import losses as L
from srlib.train.config import resolve_amp


class Step:
    """What one update needs: models, optimisers, loss modules, precision. Built once by ``train``.

    ``step(lr_img, hr_img, teacher_img=None)`` is ``psnr_step`` in mode "psnr" and ``gan_step`` in the GAN
    modes; ``teacher_img`` (a teacher's output on ``lr_img``, when ``cfg.teacher`` is set) adds the
    distillation term ``cfg.teacher_weight * L.distillation_loss`` to the generator's objective.
    """

    def __init__(self, cfg, G, D, opt_g, opt_d, perceptual, device, world, ema=None):
        self.cfg, self.G, self.D, self.opt_g, self.opt_d, self.ema = cfg, G, D, opt_g, opt_d, ema
        self.perceptual, self.world = perceptual, world
        self.pixel_loss = L.PIXEL_LOSSES[cfg.pixel_loss]
        if cfg.pixel_low_pass:  # frequency separation: the pixel term sees the blurred images only
            self.pixel_loss = L.LowPassPixelLoss(self.pixel_loss, cfg.pixel_low_pass)
        # autocast for the forward passes and losses; weights, gradients and Adam state stay fp32
        self.amp, self.amp_note = resolve_amp(cfg.amp, device)
        dtype = torch.bfloat16 if self.amp == "bf16" else torch.float16
        self.autocast = lambda: torch.autocast(device.type, dtype=dtype, enabled=self.amp != "none")
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp == "fp16")  # bf16 needs no scaling
        # The generator objective's weights (the presets hold the papers' values; see srlib.losses).
        weights = dict(pixel=cfg.pixel_weight, perceptual=cfg.perceptual_weight, adversarial=cfg.adversarial_weight)
        if cfg.mode == "srgan" and perceptual is None and cfg.pixel_weight == 0:
            weights["pixel"] = 1.0  # no VGG54: SRGAN's content loss is then the pixel MSE (SRGAN-MSE)
        self.weights = L.ESRGANWeights(**weights) if cfg.mode == "esrgan" else L.SRGANWeights(**weights)

    def __call__(self, lr_img: torch.Tensor, hr_img: torch.Tensor, teacher_img=None) -> dict[str, float]:
        if self.cfg.teacher and teacher_img is None:
            raise ValueError("this run distils (cfg.teacher): each batch needs the teacher's output")
        step = self.psnr_step if self.cfg.mode == "psnr" else self.gan_step
        return step(lr_img, hr_img, teacher_img)

    def distillation(self, sr: torch.Tensor, teacher_img) -> torch.Tensor | None:
        """The unweighted distillation term, or None when the run has no teacher."""
        if teacher_img is None:
            return None
        return L.distillation_loss(sr, teacher_img, self.cfg.teacher_high_pass)

    def psnr_step(self, lr_img: torch.Tensor, hr_img: torch.Tensor, teacher_img=None) -> dict[str, float]:
        """PSNR-oriented: minimise the pixel loss (L1 for EDSR and RRDB, MSE for SRResNet)."""
        with self.autocast():
            sr = self.G(lr_img)  # (B, 3, sH, sW)
            pixel = self.pixel_loss(sr.float(), hr_img)
            teacher = self.distillation(sr.float(), teacher_img)
            loss = pixel if teacher is None else pixel + self.cfg.teacher_weight * teacher
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt_g)
        self.scaler.update()
        out = {"loss": loss.item(), "pixel": pixel.item()}
        return out if teacher is None else {**out, "teacher": teacher.item()}

    def generator_loss(self, sr, hr, fake_logits, real_logits=None) -> dict[str, torch.Tensor]:
        """The generator objective of ``cfg.mode``, by the tested functions of ``srlib.losses``.

        sr, hr: (B, 3, H, W); fake_logits = D(sr), real_logits = D(hr) (ESRGAN only), (B, 1) raw scores.
        Returns each term (pixel, perceptual when there is one, adversarial) and their weighted "total".
        """
        if self.cfg.mode == "esrgan":
            return L.esrgan_generator_loss(
                sr, hr, real_logits, fake_logits, self.perceptual, self.weights, self.pixel_loss
            )
        return L.srgan_generator_loss(sr, hr, fake_logits, self.perceptual, self.weights, self.pixel_loss)

    def gan_step(self, lr_img: torch.Tensor, hr_img: torch.Tensor, teacher_img=None) -> dict[str, float]:
        """One SRGAN / ESRGAN update: the discriminator step, then the generator step."""
        G, D = self.G, self.D
        relativistic = self.cfg.mode == "esrgan"
        with self.autocast():
            sr = G(lr_img)  # (B, 3, sH, sW), the generator's guess

        # ---- D step: teach D to tell HR patches from SR ones. sr is detached: this step leaves G alone.
        with self.autocast():
            real_logits = D(hr_img)  # (B, 1), raw scores C(x); the sigmoid lives in the loss
            fake_logits = D(sr.detach())
            if relativistic:
                # ESRGAN eq. 1: D_Ra(a, b) = sigmoid(C(a) - mean C(b)), "is a more realistic than the
                # average b?"  L_D = -E[log D_Ra(hr, sr)] - E[log(1 - D_Ra(sr, hr))]
                loss_d = L.ragan_loss_d(real_logits.float(), fake_logits.float())
            else:
                # SRGAN: L_D = -E[log D(hr)] - E[log(1 - D(sr))]
                loss_d = L.gan_loss_d(real_logits.float(), fake_logits.float())
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler.scale(loss_d).backward()
        _average_gradients(D, self.world)
        self.scaler.step(self.opt_d)

        # ---- G step: D is frozen; G is pushed towards HR (pixel, perceptual) and towards fooling D.
        D.requires_grad_(False)
        with self.autocast():
            fake_logits = D(sr).float()  # not detached: the adversarial gradient reaches G through sr
            if relativistic:
                # ESRGAN eq. 2, both directions, so G also learns from how the real images score:
                # L_G^Ra = -E[log(1 - D_Ra(hr, sr))] - E[log D_Ra(sr, hr)]
                real_logits = D(hr_img).float().detach()
            # ESRGAN: L_G = 1 * perceptual (conv5_4, L1) + 5e-3 * L_G^Ra + 1e-2 * L1
            # SRGAN:  L_G = content (pixel MSE, or VGG54) + 1e-3 * -E[log D(G(lr))]
            terms = self.generator_loss(sr.float(), hr_img, fake_logits, real_logits)
            loss_g = terms.pop("total")
            if self.cfg.artifact_weight:  # LDL: penalise where G flips away from its EMA copy
                with torch.no_grad():
                    sr_ema = self.ema(lr_img).float()
                terms["artifact"] = L.artifact_loss(sr.float(), hr_img, sr_ema)
                loss_g = loss_g + self.cfg.artifact_weight * terms["artifact"]
            if teacher_img is not None:
                terms["teacher"] = self.distillation(sr.float(), teacher_img)
                loss_g = loss_g + self.cfg.teacher_weight * terms["teacher"]
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler.scale(loss_g).backward()
        self.scaler.step(self.opt_g)
        self.scaler.update()
        D.requires_grad_(True)

        out = {name: value.item() for name, value in terms.items()}
        out.update(
            loss=loss_g.item(),
            loss_d=loss_d.item(),
            d_real=torch.sigmoid(real_logits).mean().item(),
            d_fake=torch.sigmoid(fake_logits).mean().item(),
        )
        return out


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema = decay * ema + (1 - decay) * model; buffers (BN statistics) are copied."""
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p.detach(), 1 - decay)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)


def _average_gradients(model: nn.Module, world: int) -> None:
    """The discriminator is not wrapped in DDP (it runs twice before one backward); average by hand."""
    if world > 1:
        for p in model.parameters():
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= world
