"""Export a course run: its best weights (float16) to ``srlib/course_weights/NAME.safetensors`` and a model card.

    python -m srlib.course export edsr_course edsr_x4_course --out runs/course

The card holds the exact config, the data, steps, wall time, machine, and Set5 / Set14 / BSD100 Y-PSNR /
SSIM of the exported (float16) weights, measured with srlib's metrics on MATLAB-bicubic LR.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import yaml

from srlib.train.checkpoint import save_generator
from srlib.train.config import PRESETS, run_name, to_dict
from srlib.train.log import plot_curves, read_log
from srlib.utils import course_weights_dir, cpu_model

BENCHMARKS = ("Set5", "Set14", "BSD100")
# benchmarks/tile_pad.py: every course checkpoint (EDSR, MSRResNet, RRDB 3 blocks, their GAN fine-tunes) is tiled
# within one level of untiled at tiles 32-64 from a pad of 8 LR pixels; the RRDBNet family's default is 72
TILE_PAD = 8
WEIGHTS_DIR = course_weights_dir()


def machine(threads: int = 0) -> str:
    return f"{cpu_model()}, {threads or torch.get_num_threads()} torch thread(s) per run, torch {torch.__version__}"


METRICS = ("psnr", "ssim", "niqe", "colour_shift", "periodic_energy")


def evaluate_sets(model, scale: int, sets=BENCHMARKS) -> dict[str, dict[str, float]]:
    """Per benchmark: mean Y-PSNR / SSIM (crop = scale), official NIQE and the artefact measures (colour shift,
    periodic energy) on its MATLAB-bicubic LR, by ``srlib.evaluate``."""
    from srlib.evaluate import evaluate

    out = {}
    for name in sets:
        result = evaluate(
            model,
            data=name,
            scale=scale,
            device="cpu",
            lpips=False,
            progress=False,
            niqe_model="official",
            artefacts=True,
        )
        mean = result["mean"]
        out[name] = {"psnr": mean["psnr_y"], "ssim": mean["ssim_y"], **{k: mean[k] for k in METRICS[2:]}}
    return out


def _card(name: str, preset: str, run_dir: Path, weights: Path, scores: dict, bicubic: dict) -> str:
    cfg = PRESETS[preset]
    summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").is_file() else {}
    meta = json.loads((run_dir / "best_meta.json").read_text()) if (run_dir / "best_meta.json").is_file() else {}
    rows = read_log(run_dir / "log.csv")
    last = rows[-1] if rows else {}
    wall = summary.get("wall_s") or float(last.get("elapsed_s") or 0)
    perceptual = meta.get("perceptual", "nopercep")
    gan_note, init = "", cfg.init_from or "random"
    if cfg.mode != "psnr" and "random" in perceptual:
        gan_note = (
            f"\n**Perceptual term: `{perceptual}`.** ImageNet VGG19 weights were not available offline where this "
            "was trained, so the perceptual loss used a *random-weight* VGG19 (features without ImageNet "
            "meaning) instead of the paper's; the adversarial and pixel terms are as published. Treat this as a "
            "short GAN fine-tune for teaching, not a reproduction of the paper's perceptual quality.\n"
        )
    elif cfg.mode != "psnr":
        paper = "SRGAN-MSE (the SRGAN paper's variant without VGG)" if cfg.mode == "srgan" else "ESRGAN without its VGG"
        adversarial = "relativistic average adversarial" if cfg.mode == "esrgan" else "adversarial"
        gan_note = (
            f"\n**Perceptual term: `{perceptual}` (none).** ImageNet VGG19 weights were not available offline "
            f"where this was trained, so there is no VGG term ({paper}): the generator loss is "
            f"{cfg.pixel_weight:g} times the pixel {cfg.pixel_loss.upper()} plus {cfg.adversarial_weight:g} times "
            f"the {adversarial} loss. Treat this as a short GAN fine-tune for teaching, not the paper's model.\n"
        )
    if cfg.mode != "psnr":
        d = cfg.discriminator_kwargs
        gan_note += (
            f"\nDiscriminator: `{cfg.discriminator}` {json.dumps(d)}"
            + (" (spectral norm instead of BatchNorm)" if d.get("norm") == "spectral" else "")
            + (f", input shifted by a random 0-{d['shift_jitter'] - 1} px per sample" if d.get("shift_jitter") else "")
            + (f"; the saved generator is its EMA (decay {cfg.ema_decay:g})" if cfg.ema_decay else "")
            + '. Why: BENCHMARKS.md, "GAN recipes".\n'
        )
    if cfg.teacher:
        gan_note += (
            f"\n**Distilled from `{cfg.teacher}`.** Besides the terms above, the generator is pulled "
            f"({cfg.teacher_weight:g} times an L1 term) towards that pretrained model's output on the same LR"
            + (
                f", high-passed (sigma {cfg.teacher_high_pass:g} px), while the pixel term compares only the "
                f"low-passed images (sigma {cfg.pixel_low_pass:g} px): the texture comes from the teacher, the "
                "colours and shapes from the HR"
                if cfg.teacher_high_pass
                else ""
            )
            + '. The teacher was trained on other data with its own GAN recipe. Why: BENCHMARKS.md, "GAN recipes, '
            'round 3".\n'
        )
    if cfg.init_from in PRESETS:
        init = f"the best weights of the `{cfg.init_from}` run (the checkpoint exported from that run)"
    lines = [
        f"# {name} ({run_name(cfg, perceptual if cfg.mode != 'psnr' else None)})",
        "",
        f"Trained by `srlib.train` with preset `{preset}` (`scripts/train_course_checkpoints.sh "
        f"{preset.removesuffix('_course')}` reproduces it). A small course model, x4, MATLAB-bicubic degradation.",
        gan_note,
        "| set | Y-PSNR (dB) | SSIM | NIQE | colour shift | periodic energy | bicubic Y-PSNR / SSIM / NIQE |",
        "|---|---|---|---|---|---|---|",
    ]
    for set_name, m in scores.items():
        b = bicubic[set_name]
        lines.append(
            f"| {set_name} | {m['psnr']:.2f} | {m['ssim']:.4f} | {m.get('niqe', float('nan')):.2f} | "
            f"{m.get('colour_shift', float('nan')):.2f} | {m.get('periodic_energy', float('nan')):.4f} | "
            f"{b['psnr']:.2f} / {b['ssim']:.4f} / {b.get('niqe', float('nan')):.2f} |"
        )
    lines += [
        "",
        "Measured on the exported float16 weights by `srlib.evaluate` (Y channel, BT.601, crop 4, SR quantised "
        "to 8 bits, LR by MATLAB-bicubic `srlib.imresize` from the modcropped HR). NIQE: the published MATLAB "
        "model (lower is more natural); colour shift: mean |SR - HR| of 16x16 block means in 8-bit levels; "
        "periodic energy: share of the SR - HR residual spectrum on the x4 grid frequencies (`srlib.artefacts`).",
        "",
        f"- weights: `srlib/course_weights/{weights.name}` (float16 safetensors, "
        f"{weights.stat().st_size / 1e6:.2f} MB); load with `srlib.weights.load_model(path)`",
        f"- architecture: `{cfg.model}` {json.dumps(cfg.model_kwargs)}, scale {cfg.scale}",
        f"- data: {' + '.join(cfg.train_sets)} HR images (../shared/data/train; disjoint from the benchmarks), "
        f"random {cfg.patch_size}x{cfg.patch_size} HR patches, flips/rotations, LR by MATLAB bicubic on the fly",
        (
            f"- monitor set: {cfg.val_set} (validation every {cfg.val_every} steps chose the kept weights, so the "
            f"{cfg.val_set} number is slightly optimistic)"
            if cfg.mode == "psnr"
            else f"- monitor set: {cfg.val_set} (validation every {cfg.val_every} steps, for the curves only; "
            "the exported weights are the final step's" + (", of the EMA)" if cfg.ema_decay else ")")
        ),
        f"- steps: kept weights from step {meta.get('step', '?')} of {summary.get('step', last.get('step', '?'))} "
        f"run (config total {cfg.total_steps}), batch {cfg.batch_size}",
        f"- wall time: {wall / 60:.1f} min on {machine(cfg.threads)}; the CPU was shared with other jobs, so "
        f"throughput ({float(last.get('patches_per_s') or 0):.1f} HR patches/s at the end) is not a benchmark",
        f"- init: {init}",
        *(
            [
                f"- the run was paused at step {summary['step']} of {cfg.total_steps} (time budget); "
                f"`srlib train {preset} --out runs/course --resume` continues it exactly"
            ]
            if summary.get("stopped_early")
            else []
        ),
        "",
        "Config (`srlib train CONFIG.yaml`):",
        "",
        "```yaml",
        yaml.safe_dump(to_dict(cfg), sort_keys=False).strip(),
        "```",
        "",
        f"Curves: `{name}_curves.png` beside this card.",
    ]
    return "\n".join(lines) + "\n"


def _run_dir(cfg, out_root: str) -> Path:
    pattern = run_name(cfg, "*") if cfg.mode != "psnr" else run_name(cfg)  # GAN names end in the VGG label
    candidates = sorted(Path(out_root).glob(pattern))
    if not candidates:
        raise FileNotFoundError(f"no run named {pattern} under {out_root} (train it first)")
    return candidates[-1]


def export(
    preset: str,
    name: str,
    out_root: str = "runs/course",
    weights_dir: Path = WEIGHTS_DIR,
    card_only: bool = False,
    tile_pad: int | None = TILE_PAD,
) -> Path:
    """Export the run of ``preset`` under ``out_root`` as ``weights_dir/name.*``; ``card_only`` rewrites the
    card from the scores measured before (no evaluation). ``tile_pad`` goes into the weights' metadata
    (``srlib.hub.TILE_PAD_KEY``), so tiled upscaling reads that much context; None leaves the family's pad."""
    from safetensors import safe_open

    from srlib.hub import TILE_PAD_KEY, load_model
    from srlib.models import build_model

    cfg = PRESETS[preset]
    run_dir = _run_dir(cfg, out_root)
    card = weights_dir / f"{name}.md"
    bicubic_cache = Path(out_root) / f"bicubic_x{cfg.scale}_niqe.json"  # the same for every card: measured once
    if card_only:
        scores = json.loads((weights_dir / f"{name}.json").read_text())
        bicubic = json.loads(bicubic_cache.read_text())
        card.write_text(_card(name, preset, run_dir, weights_dir / f"{name}.safetensors", scores, bicubic))
        return card
    # PSNR runs export their best validation weights; GAN runs their final ones (the best-PSNR step of a
    # GAN fine-tune is simply its least GAN-like one)
    source = run_dir / ("best.safetensors" if cfg.mode == "psnr" else "final.safetensors")
    with safe_open(str(source), "pt") as f:
        meta = dict(f.metadata() or {})
    keep = {k: meta[k] for k in ("step", "perceptual", "val_psnr") if k in meta}
    (run_dir / "best_meta.json").write_text(json.dumps(keep))
    weights_dir.mkdir(parents=True, exist_ok=True)
    weights = save_generator(
        load_model(source),
        weights_dir / f"{name}.safetensors",
        {k: meta[k] for k in ("run", "step", "perceptual", "config") if k in meta}
        | ({TILE_PAD_KEY: str(tile_pad)} if tile_pad is not None else {}),
        half=True,
    )
    scores = evaluate_sets(load_model(weights), cfg.scale)  # the float16 weights, as committed
    if bicubic_cache.is_file():
        bicubic = json.loads(bicubic_cache.read_text())
    else:
        bicubic = evaluate_sets(build_model("bicubic", scale=cfg.scale), cfg.scale)
        bicubic_cache.write_text(json.dumps(bicubic))
    card.write_text(_card(name, preset, run_dir, weights, scores, bicubic))
    fig = plot_curves(run_dir / "log.csv", title=f"{name}: {run_dir.name} (srlib.train, shared CPU)")
    fig.savefig(weights_dir / f"{name}_curves.png", dpi=80)
    (weights_dir / f"{name}.json").write_text(json.dumps(scores, indent=1))
    print(card.read_text())
    return card


COURSE_ORDER = ("edsr_x4_course", "msrresnet_x4_course", "srgan_x4_course", "rrdb_psnr_x4_course", "esrgan_x4_course")


def table(weights_dir: Path = WEIGHTS_DIR, bicubic_json: Path | None = None) -> str:
    """Markdown: Y-PSNR / SSIM per benchmark and BSD100's NIQE and artefact measures, from the cards' JSON files."""
    rows = []
    if bicubic_json is not None and bicubic_json.is_file():
        rows.append(("bicubic", json.loads(bicubic_json.read_text())))
    rows += [(name, json.loads((weights_dir / f"{name}.json").read_text())) for name in COURSE_ORDER]
    lines = [
        "| model | Set5 | Set14 | BSD100 | BSD100 NIQE | colour shift | periodic energy |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, scores in rows:
        cells = [f"{scores[s]['psnr']:.2f} / {scores[s]['ssim']:.4f}" for s in BENCHMARKS]
        bsd = scores["BSD100"]
        extra = [f"{bsd[k]:.2f}" if k in bsd else "-" for k in ("niqe", "colour_shift")]
        extra.append(f"{bsd['periodic_energy']:.4f}" if "periodic_energy" in bsd else "-")
        lines.append(f"| {name} | {' | '.join(cells + extra)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m srlib.course")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("export", help="export a course run's best weights and write its model card")
    p.add_argument("preset", choices=[k for k in PRESETS if k.endswith("_course")])
    p.add_argument("name", help="file stem under srlib/course_weights/, e.g. edsr_x4_course")
    p.add_argument("--out", default="runs/course", help="the runs' root folder")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--card-only", action="store_true", help="rewrite the card from the scores measured before")
    p.add_argument(
        "--tile-pad", type=int, default=TILE_PAD, help=f"tiling context stored with the weights ({TILE_PAD})"
    )
    t = sub.add_parser("table", help="markdown table of every course card's scores (README, BENCHMARKS)")
    t.add_argument("--out", default="runs/course", help="the runs' root folder (for bicubic's measured scores)")
    args = parser.parse_args(argv)
    if args.command == "table":
        print(table(bicubic_json=Path(args.out) / "bicubic_x4_niqe.json"))
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    export(args.preset, args.name, args.out, card_only=args.card_only, tile_pad=args.tile_pad)
    return 0


if __name__ == "__main__":
    sys.exit(main())
