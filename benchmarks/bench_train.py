"""Training throughput (HR patches per second) of each srlib.train preset's update step.

    .venv/bin/python benchmarks/bench_train.py [--threads 1] [--presets edsr_quick ...] [--steps 3]

Synthetic batches (random LR/HR of the preset's patch size), so data loading is not counted; the model,
losses and optimisers are the preset's, with the VGG fallback the preset would use offline (quick GAN presets
drop the perceptual term; paper presets get a random-weight VGG19, which costs the same as the ImageNet one).
Paper presets run with a smaller batch on a CPU (``--paper-batch``); patches/s is per patch either way.
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

import srlib.train as T
from srlib.models import build_model
from srlib.train.step import Step
from srlib.utils import machine_summary


def bench(name: str, steps: int, batch: int | None, device: torch.device) -> dict:
    cfg = T.PRESETS[name]
    if batch:
        cfg = T.replace(cfg, batch_size=batch)
    if cfg.perceptual_fallback == "error":
        cfg = T.replace(cfg, perceptual_fallback="random")  # no ImageNet VGG19 offline: same network, same cost
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        perceptual, _ = T.build_perceptual(cfg)
    G = build_model(cfg.model, scale=cfg.scale, **cfg.model_kwargs).to(device)
    D = build_model(cfg.discriminator, **cfg.discriminator_kwargs).to(device) if cfg.mode != "psnr" else None
    if D is not None and getattr(D, "input_size", cfg.patch_size) != cfg.patch_size and not D.adaptive_pool:
        raise ValueError(f"{name}: discriminator input {D.input_size} != patch {cfg.patch_size}")
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=cfg.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr) if D is not None else None
    step = Step(cfg, G, D, opt_g, opt_d, perceptual.to(device) if perceptual is not None else None, device, 1)
    update = step.psnr_step if cfg.mode == "psnr" else step.gan_step
    p = cfg.patch_size
    lr_img = torch.rand(cfg.batch_size, 3, p // cfg.scale, p // cfg.scale, device=device)
    hr_img = torch.rand(cfg.batch_size, 3, p, p, device=device)
    update(lr_img, hr_img)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        update(lr_img, hr_img)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    return dict(preset=name, batch=cfg.batch_size, patch=p, s_per_step=seconds, patches_per_s=cfg.batch_size / seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--paper-batch", type=int, default=1, help="batch for *_paper presets on a CPU")
    parser.add_argument("--presets", nargs="*", default=list(T.PRESETS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"# {machine_summary()}; steps on {device}")
    print("| preset | batch | HR patch | s/step | HR patches/s |")
    print("|---|---|---|---|---|")
    for name in args.presets:
        batch = args.paper_batch if name.endswith("_paper") and device.type == "cpu" else None
        row = bench(name, 1 if batch else args.steps, batch, device)
        print(
            f"| {name} | {row['batch']} | {row['patch']} | {row['s_per_step']:.3f} | {row['patches_per_s']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
