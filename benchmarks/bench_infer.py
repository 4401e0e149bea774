"""Inference benchmarks for BENCHMARKS.md, section "Inference".

    .venv/bin/python benchmarks/bench_infer.py big      # 2040x1404 through RRDBNet x4 (23 blocks), tiled, CPU
    .venv/bin/python benchmarks/bench_infer.py seams    # tiled vs untiled max difference, tiling overhead

``big`` runs in its own process so that the peak resident memory (``ru_maxrss``) belongs to this run only;
random weights are fine for timing (the work does not depend on the values). ``seams`` measures on a
real image (a Set5 crop, or a packaged photograph) with a pretrained model when one is cached
(``--model``), else random weights, and says which it used.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import torch

from srlib import infer
from srlib.models import build_model, optimize_for_inference
from srlib.utils import machine_summary


def _cpu_seconds() -> float:
    """User + system CPU time of this process: on a shared machine, wall time / threads is not the cost."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def bench_big(args) -> dict:
    torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    model = build_model("rrdbnet", num_block=args.blocks)
    if args.fast:
        model = optimize_for_inference(model)
    image = np.random.default_rng(0).random((height, width, 3), dtype=np.float32)
    rss_before = _peak_rss_mib()
    load_before = os.getloadavg()[0]
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    out = infer.upscale(model, image, tile=args.tile, tile_pad=args.tile_pad, progress=True)
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu_start
    return dict(
        bench="big", size=f"{width}x{height}", out_shape=list(out.shape), blocks=args.blocks, fast=args.fast,
        tile=args.tile, tile_pad=args.tile_pad, seconds=round(seconds, 1), cpu_seconds=round(cpu, 1),
        peak_rss_mib=round(_peak_rss_mib()),
        rss_before_run_mib=round(rss_before), load_avg_before=load_before, load_avg_after=os.getloadavg()[0],
        machine=machine_summary(),
    )  # fmt: skip


def _test_image(size: int) -> tuple[np.ndarray, str]:
    """A ``size`` x ``size`` crop of a real photograph: Set5 baby if present, else scikit-image's coffee."""
    from pathlib import Path

    from srlib.io import read_image

    baby = Path(__file__).resolve().parents[2] / "shared/data/benchmarks/Set5/HR/baby.png"
    if baby.is_file():
        img, name = read_image(baby), "Set5 baby.png"
    else:
        import skimage.data

        img, name = skimage.data.coffee().astype(np.float32) / 255, "skimage coffee"
    top, left = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
    return np.ascontiguousarray(img[top : top + size, left : left + size]), f"{name}, centre {size}x{size}"


def bench_seams(args) -> dict:
    torch.set_num_threads(args.threads)
    from srlib import hub

    if args.model and (args.model == "bicubic" or hub.is_cached(args.model) or os.path.isfile(args.model)):
        model, weights = hub.resolve_model(args.model), hub.describe_model(args.model)
    else:
        model, weights = build_model("rrdbnet"), "RRDBNet 23 blocks, random weights"
    image, source = _test_image(args.size)
    start = time.perf_counter()
    whole = infer.upscale(model, image)
    untiled_s = time.perf_counter() - start
    rows = []
    for blend in ("crop", "feather"):
        for pad in args.pads:
            start = time.perf_counter()
            tiled = infer.upscale(model, image, tile=args.tile, tile_pad=pad, blend=blend)
            seconds = time.perf_counter() - start
            rows.append(dict(blend=blend, tile=args.tile, tile_pad=pad, max_abs_diff=float(np.abs(tiled - whole).max()),
                             max_diff_8bit_levels=float(np.abs(tiled - whole).max() * 255),
                             seconds=round(seconds, 2), overhead=round(seconds / untiled_s - 1, 3)))  # fmt: skip
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return dict(bench="seams", image=source, weights=weights, untiled_seconds=round(untiled_s, 2), rows=rows,
                machine=machine_summary())  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="bench", required=True)
    big = sub.add_parser("big", help="2040x1404 through RRDBNet x4 on the CPU, tiled")
    big.add_argument("--size", default="2040x1404", help="WIDTHxHEIGHT of the input")
    big.add_argument("--tile", type=int, default=256)
    big.add_argument("--tile-pad", type=int, default=16)
    big.add_argument("--blocks", type=int, default=23)
    big.add_argument("--threads", type=int, default=2)
    big.add_argument("--fast", action="store_true", help="srlib.models.optimize_for_inference (channels_last, fused)")
    big.set_defaults(func=bench_big)
    seams = sub.add_parser("seams", help="tiled vs untiled difference and tiling overhead")
    seams.add_argument("--model", default="realsr-df2k", help="zoo name (used if cached), checkpoint or bicubic")
    seams.add_argument("--size", type=int, default=128)
    seams.add_argument("--tile", type=int, default=64)
    seams.add_argument("--pads", type=int, nargs="+", default=[4, 8, 16, 32])
    seams.add_argument("--threads", type=int, default=2)
    seams.set_defaults(func=bench_seams)
    args = parser.parse_args(argv)
    print(json.dumps(args.func(args), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
