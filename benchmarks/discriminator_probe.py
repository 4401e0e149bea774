"""How fast does each discriminator learn to tell a PSNR model's SR patches from HR? The generator stays frozen.

    .venv/bin/python benchmarks/discriminator_probe.py [--steps 400] [--only unet_hp1_gain10 ...]

A GAN fine-tune can only be as good as its critic: a discriminator that stays at chance gives the generator
gradients that are noise, and over a long run the generator drifts into whatever that noise rewards (worms,
speckles, a grid). This probe trains each variant alone, on the course presets' data (T91 + BSD200, 64 px HR
patches, batch 4, MATLAB-bicubic x4 LR), against the SR of ``rrdb_psnr_x4_course``, with the standard GAN loss
and Adam (lr 1e-4, betas 0.9 / 0.99) under bf16 autocast, and prints the mean loss and accuracy (real scored
above 0, SR below 0, per logit) over each 100 steps. One seed, one thread.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader

import srlib
from srlib import losses as L
from srlib.hub import resolve_model
from srlib.models import build_model
from srlib.train.build import build_datasets
from srlib.train.config import PRESETS, replace
from srlib.utils import markdown_table

VGG_SN = dict(num_feat=32, input_size=64, adaptive_pool=True, norm="spectral")
VARIANTS = {
    "unet_sn": ("unet_discriminator", dict(num_feat=32)),
    "unet_sn_lr1e-3": ("unet_discriminator", dict(num_feat=32)),  # the learning rate is set below
    "unet_none": ("unet_discriminator", dict(num_feat=32, norm="none")),
    "unet_sn_hp1": ("unet_discriminator", dict(num_feat=32, high_pass=1.0)),
    "unet_sn_hp1_gain10": ("unet_discriminator", dict(num_feat=32, high_pass=1.0, input_gain=10.0)),
    "vgg_sn": ("vgg_discriminator", VGG_SN),
}
LEARNING_RATES = {"unet_sn_lr1e-3": 1e-3}


def probe(name: str, steps: int, every: int = 100) -> list[dict]:
    srlib.setup(0, plots=False)
    train_set, _ = build_datasets(replace(PRESETS["esrgan_course"], patch_size=64, batch_size=4))
    generator = resolve_model("rrdb_psnr_x4_course").eval()
    kind, kwargs = VARIANTS[name]
    critic = build_model(kind, **kwargs)
    opt = torch.optim.Adam(critic.parameters(), lr=LEARNING_RATES.get(name, 1e-4), betas=(0.9, 0.99))
    loader = DataLoader(train_set, batch_size=4, shuffle=True, drop_last=True)
    rows, losses, accuracies, batches, start = [], [], [], iter(loader), time.process_time()
    for step in range(1, steps + 1):
        batch = next(batches, None)
        if batch is None:
            batches = iter(loader)
            batch = next(batches)
        with torch.no_grad():
            sr = generator(batch["lr"]).clamp(0, 1)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            real, fake = critic(batch["hr"]).float(), critic(sr).float()
        loss = L.gan_loss_d(real, fake)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        accuracies.append(((real > 0).float().mean() + (fake < 0).float().mean()).item() / 2)
        if step % every == 0:
            rows.append(dict(variant=name, steps=step, loss=sum(losses[-every:]) / every,
                             accuracy=sum(accuracies[-every:]) / every, cpu_s=time.process_time() - start))  # fmt: skip
            print(f"{name} step {step}: loss {rows[-1]['loss']:.3f}, accuracy {rows[-1]['accuracy']:.3f}", flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--only", nargs="*", default=None, help=f"variants (default: all): {', '.join(VARIANTS)}")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = [row for name in args.only or list(VARIANTS) for row in probe(name, args.steps)]
    print(markdown_table(rows, lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
