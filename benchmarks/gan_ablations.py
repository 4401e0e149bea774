"""GAN recipe ablations for the course models (issue #14): short fine-tunes from a PSNR model, scored on Set14.

    python benchmarks/gan_ablations.py --steps 300 [--only S0_paper E1_noperc ...] [--out runs/ablations]
        [--init-srgan PATH] [--init-esrgan PATH]

Each variant is a course GAN preset (``srgan_course`` / ``esrgan_course``) with the overrides below, trained for
``--steps`` steps from the given PSNR weights (default: the course checkpoints), then measured on Set14 (MATLAB
bicubic x4 LR, Y channel, crop 4) by ``srlib.evaluate``: Y-PSNR, official NIQE, colour shift and periodic energy
of its final weights. One JSON line per variant goes to ``OUT/results.jsonl``; the table is printed at the end.
A variant whose run folder holds ``final.safetensors`` is measured again, not retrained.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from srlib.evaluate import evaluate
from srlib.hub import load_model
from srlib.train import train
from srlib.train.config import PRESETS, replace
from srlib.utils import course_weights_dir, markdown_table

# The paper discriminators (BatchNorm) as the presets had them before these ablations.
SRGAN_D = {"num_feat": 32}
ESRGAN_D = {"num_feat": 32, "input_size": 64, "adaptive_pool": True}
PAPER_SRGAN = {"perceptual": "none", "adversarial_weight": 1e-3, "discriminator_kwargs": SRGAN_D}
PAPER_ESRGAN = {
    "perceptual": "conv54",
    "pixel_weight": 1e-2,
    "adversarial_weight": 5e-3,
    "discriminator_kwargs": ESRGAN_D,
}
NOPERC = {"perceptual": "none", "pixel_weight": 1.0}
UNET_D = {"num_feat": 32, "shift_jitter": 4}
SRFEAT = {"perceptual": "srfeat", "perceptual_net": "realsr-df2k", "perceptual_blocks": 1, "perceptual_weight": 1.0}
UNET = {"discriminator": "unet_discriminator", "discriminator_kwargs": UNET_D}


def _d(base: dict, **changes) -> dict:
    kind = {"discriminator": "unet_discriminator"} if base is UNET_D else {}
    return {**kind, "discriminator_kwargs": {**base, **changes}}


# round 2's building blocks: the adversarial weight Real-ESRGAN uses with its U-Net (0.1), no VGG term
S2 = {**PAPER_SRGAN, "adversarial_weight": 0.1}
E2 = {**PAPER_ESRGAN, **NOPERC, "adversarial_weight": 0.1}
EMA = {"ema_decay": 0.999}
LOWPASS = {"pixel_low_pass": 1.0}
GRADVAR = {"perceptual": "gradvar", "perceptual_weight": 1.0}
HP1 = _d(UNET_D, high_pass=1.0)
GAIN10 = _d(UNET_D, high_pass=1.0, input_gain=10.0)
# round 3: distillation of RealSR DF2K's texture (its high-passed output on the same LR), HR's low frequencies
KD = {"teacher": "realsr-df2k", "teacher_weight": 1.0, "teacher_high_pass": 1.0, **LOWPASS}


VARIANTS: dict[str, tuple[str, dict]] = {
    # SRGAN-MSE (no VGG): MSRResNet 32x8 from the PSNR model
    "S0_paper": ("srgan_course", PAPER_SRGAN),
    "S1_ema0.999": ("srgan_course", {**PAPER_SRGAN, "ema_decay": 0.999}),
    "S4_jitter": ("srgan_course", {**PAPER_SRGAN, **_d(SRGAN_D, shift_jitter=4)}),
    "S5_jitter_sn": ("srgan_course", {**PAPER_SRGAN, **_d(SRGAN_D, shift_jitter=4, norm="spectral")}),
    "S7_jitter_adv5e-3": ("srgan_course", {**PAPER_SRGAN, "adversarial_weight": 5e-3, **_d(SRGAN_D, shift_jitter=4)}),
    "S8_jitter_sn_adv1e-2": (
        "srgan_course",
        {**PAPER_SRGAN, "adversarial_weight": 1e-2, **_d(SRGAN_D, shift_jitter=4, norm="spectral")},
    ),
    "S9_jitter_sn_adv1e-2_lrd4e-4": (
        "srgan_course",
        {**PAPER_SRGAN, "adversarial_weight": 1e-2, "lr_d": 4e-4, **_d(SRGAN_D, shift_jitter=4, norm="spectral")},
    ),
    "S10_dfeat_jitter_sn_adv1e-2": (
        "srgan_course",
        {
            **PAPER_SRGAN,
            "perceptual": "dfeat",
            "perceptual_weight": 1.0,
            "adversarial_weight": 1e-2,
            **_d(SRGAN_D, shift_jitter=4, norm="spectral"),
        },
    ),
    # ESRGAN: RRDB 32x3 from the PSNR model
    "E0_paper_randomvgg": ("esrgan_course", {**PAPER_ESRGAN, "perceptual_weights": "random"}),
    "E1_noperc": ("esrgan_course", {**PAPER_ESRGAN, **NOPERC}),
    "E4_noperc_sn": ("esrgan_course", {**PAPER_ESRGAN, **NOPERC, **_d(ESRGAN_D, norm="spectral")}),
    "E5_noperc_sn_jitter": (
        "esrgan_course",
        {**PAPER_ESRGAN, **NOPERC, **_d(ESRGAN_D, norm="spectral", shift_jitter=4)},
    ),
    "E6_noperc_nonorm": ("esrgan_course", {**PAPER_ESRGAN, **NOPERC, **_d(ESRGAN_D, norm="none")}),
    "E7_noperc_sn_adv2e-2": (
        "esrgan_course",
        {**PAPER_ESRGAN, **NOPERC, "adversarial_weight": 2e-2, **_d(ESRGAN_D, norm="spectral")},
    ),
    "E8_noperc_sn_adv5e-2": (
        "esrgan_course",
        {**PAPER_ESRGAN, **NOPERC, "adversarial_weight": 5e-2, **_d(ESRGAN_D, norm="spectral")},
    ),
    "E9_noperc_sn_adv2e-2_lrd4e-4": (
        "esrgan_course",
        {**PAPER_ESRGAN, **NOPERC, "adversarial_weight": 2e-2, "lr_d": 4e-4, **_d(ESRGAN_D, norm="spectral")},
    ),
    "E10_dfeat_sn_adv2e-2": (
        "esrgan_course",
        {**PAPER_ESRGAN, **NOPERC, "perceptual": "dfeat", "adversarial_weight": 2e-2, **_d(ESRGAN_D, norm="spectral")},
    ),
    # Round 2 (2026-12-06): the U-Net discriminator (per-pixel logits, spectral norm), on the high-passed image,
    # with an input gain, and the terms that stand in for VGG19. S: SRGAN-MSE from MSRResNet; E: from the RRDB.
    "S11_unet_adv0.1": ("srgan_course", {**S2, **UNET}),
    "S12_unet_hp1.5_adv0.1": ("srgan_course", {**S2, **_d(UNET_D, high_pass=1.5)}),
    "S13_unet_hp1_lowpass1_gradvar1_adv0.1_ema": ("srgan_course", {**S2, **EMA, **LOWPASS, **GRADVAR, **HP1}),
    "S14_unet_hp1_gain10_adv0.1_ema": ("srgan_course", {**S2, **EMA, **GAIN10}),
    "S15_kd_hp1_lowpass1_vggsn_adv0.01_ema": ("srgan_course", {**EMA, **KD}),
    "E11_unet_adv0.1": ("esrgan_course", {**E2, **UNET}),
    "E12_unet_hp1.5_adv0.1": ("esrgan_course", {**E2, **_d(UNET_D, high_pass=1.5)}),
    "E13_unet_hp1.5_adv0.3": ("esrgan_course", {**E2, "adversarial_weight": 0.3, **_d(UNET_D, high_pass=1.5)}),
    "E14_unet_hp1_adv0.1": ("esrgan_course", {**E2, **HP1}),
    "E15_vggsn_hp1.5_adv0.1": ("esrgan_course", {**E2, **_d(ESRGAN_D, norm="spectral", shift_jitter=4, high_pass=1.5)}),
    "E16_unet_hp3_adv0.1": ("esrgan_course", {**E2, **_d(UNET_D, high_pass=3.0)}),
    "E17_unet_hp1.5_lowpass1.5_adv0.1": ("esrgan_course", {**E2, "pixel_low_pass": 1.5, **_d(UNET_D, high_pass=1.5)}),
    "E18_unet_hp1.5_lowpass1.5_adv0.03": (
        "esrgan_course",
        {**E2, "adversarial_weight": 0.03, "pixel_low_pass": 1.5, **_d(UNET_D, high_pass=1.5)},
    ),
    "E19_unet_hp1_adv0.1_ema": ("esrgan_course", {**E2, **EMA, **HP1}),
    "E20_unet_hp1_lowpass1_adv0.1_ema": ("esrgan_course", {**E2, **EMA, **LOWPASS, **HP1}),
    "E21_unet_hp1_lowpass1_gradvar1_adv0.1_ema": ("esrgan_course", {**E2, **EMA, **LOWPASS, **GRADVAR, **HP1}),
    "E22_unet_hp1_gain10_adv0.1_ema": ("esrgan_course", {**E2, **EMA, **GAIN10}),
    "E23_unet_hp1_gain10_lowpass1_adv0.1_ema": ("esrgan_course", {**E2, **EMA, **LOWPASS, **GAIN10}),
    "E24_unet_hp1_gain10_adv0.1_ldl": ("esrgan_course", {**E2, **EMA, **GAIN10, "artifact_weight": 1.0}),
    "E25_unet_hp1_gain10_adv0.05_ldl": (
        "esrgan_course",
        {**E2, **EMA, **GAIN10, "adversarial_weight": 0.05, "artifact_weight": 1.0},
    ),
    "E26_unet_hp1_gain10_gradvar1_adv0.1_ema": ("esrgan_course", {**E2, **EMA, **GRADVAR, **GAIN10}),
    "E27_unet_hp1_gain10_adv0.1_ldl100": ("esrgan_course", {**E2, **EMA, **GAIN10, "artifact_weight": 100.0}),
    "E28_unet_hp1_gain10_dfeat1_adv0.1_ema": (
        "esrgan_course",
        {**E2, **EMA, **GAIN10, "perceptual": "dfeat", "perceptual_weight": 1.0},
    ),
    "E31_unet_hp1_gain10_adv0.02_ema": ("esrgan_course", {**E2, **EMA, **GAIN10, "adversarial_weight": 0.02}),
    "E32_unet_hp1_gain3_adv0.1_ema": ("esrgan_course", {**E2, **EMA, **_d(UNET_D, high_pass=1.0, input_gain=3.0)}),
    "E29_srfeat1_unet_hp1_gain10_adv0.1_ema": ("esrgan_course", {**E2, **EMA, **SRFEAT, **GAIN10}),
    "K1_kd_hp1_lowpass1_vggsn_adv0.1_ema": ("esrgan_course", {**E2, **EMA, **KD}),
    "K2_kd_hp1_lowpass1_unet_hp1_gain10_adv0.1_ema": ("esrgan_course", {**E2, **EMA, **KD, **GAIN10}),
    "K3_kd_hp1_lowpass1_noadv_ema": ("esrgan_course", {**E2, **EMA, **KD, "adversarial_weight": 0.0}),
    "K4_kd10_hp1_lowpass1_noadv_ema": (
        "esrgan_course",
        {**E2, **EMA, **KD, "teacher_weight": 10.0, "adversarial_weight": 0.0},
    ),
    "K6_kd10_hp1_lowpass1_vggsn_adv0.01_ema": (
        "esrgan_course",
        {**E2, **EMA, **KD, "teacher_weight": 10.0, "adversarial_weight": 0.01},
    ),
    "K7_kd10_hp1_lowpass1_vggsn_adv0.003_ema": (
        "esrgan_course",
        {**E2, **EMA, **KD, "teacher_weight": 10.0, "adversarial_weight": 0.003},
    ),
    "K8_kd10_hp1_lowpass1x5_vggsn_adv0.01_ema": (
        "esrgan_course",
        {**E2, **EMA, **KD, "teacher_weight": 10.0, "adversarial_weight": 0.01, "pixel_weight": 5.0},
    ),
    "K9_kd10_hp1_lowpass1x5_vggsn_adv0.005_ema": (
        "esrgan_course",
        {**E2, **EMA, **KD, "teacher_weight": 10.0, "adversarial_weight": 0.005, "pixel_weight": 5.0},
    ),
    "K5_kd5_hp1_lowpass1_unet_hp1_gain10_adv0.1_ema": (
        "esrgan_course",
        {**E2, **EMA, **KD, **GAIN10, "teacher_weight": 5.0},
    ),
    "E30_srfeat1x10_pix0.1_unet_hp1_gain10_adv0.1_ema": (
        "esrgan_course",
        {**E2, **EMA, **SRFEAT, **GAIN10, "pixel_weight": 0.1, "perceptual_weight": 10.0},
    ),
}
METRICS = ("psnr_y", "niqe", "colour_shift", "periodic_energy")


def score(weights: str | Path) -> dict[str, float]:
    """Set14 Y-PSNR, official NIQE, colour shift and periodic energy of a weights file."""
    result = evaluate(load_model(weights), data="Set14", lpips=False, progress=False, niqe_model="official",
                      artefacts=True)  # fmt: skip
    return {k: result["mean"][k] for k in METRICS}


def run_variant(name: str, steps: int, init: dict[str, str], out: Path) -> dict:
    preset, changes = VARIANTS[name]
    cfg = replace(
        PRESETS[preset], total_steps=steps, val_every=steps, ckpt_every=steps, init_from=init[preset], **changes
    )
    run_dir = out / f"{name}_{steps}"
    start = time.time()
    if not (run_dir / "final.safetensors").is_file():
        train(cfg, run_dir=run_dir, progress=False)
    wall = time.time() - start
    return dict(name=name, steps=steps, init=init[preset], wall_s=round(wall), **score(run_dir / "final.safetensors"))


def measure_init(path: str) -> dict:
    return dict(name=f"(start) {Path(path).name}", steps=0, init=path, wall_s=0, **score(path))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if value < 0.1 else f"{value:.2f}"
    return str(value)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--only", nargs="*", default=None, help=f"variants (default: all): {', '.join(VARIANTS)}")
    parser.add_argument("--out", type=Path, default=Path("runs/ablations"))
    parser.add_argument("--init-srgan", default=str(course_weights_dir() / "msrresnet_x4_course.safetensors"))
    parser.add_argument("--init-esrgan", default=str(course_weights_dir() / "rrdb_psnr_x4_course.safetensors"))
    args = parser.parse_args(argv)
    init = {"srgan_course": args.init_srgan, "esrgan_course": args.init_esrgan}
    args.out.mkdir(parents=True, exist_ok=True)
    rows = [measure_init(path) for path in init.values()]
    for name in args.only or list(VARIANTS):
        row = run_variant(name, args.steps, init, args.out)
        with open(args.out / "results.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        rows.append(row)
    print(markdown_table(rows, _cell))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
