"""Tiling rows: the LR of a DIV2K-size image through ``srlib.infer.upscale`` with tiles and untiled, one subprocess
per run: time, GFLOP/s against the conv ceiling, overhead and difference against untiled, peak memory."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from srlib.bench.ceilings import conv_ceiling, row_ceiling_sizes
from srlib.bench.models import model_flops
from srlib.bench.timing import MALLOC_ENV, bench_device, run_child, sync


def job_tiling(job: dict) -> dict:
    """A model x4 on the LR of a DIV2K-size image through ``srlib.infer.upscale`` (fast path), untiled or with
    tiles (``pad`` None: the model's default), at the run's precision.

    ``gflop`` is the model's work on the LR image itself (what the padded tiles recompute is overhead).
    """
    from srlib.infer import default_tile_pad, upscale
    from srlib.models import build_model

    h, w = job["hr"]
    precision = job.get("precision", "fp32")
    flops = model_flops(job["name"], job["overrides"], (h // 4, w // 4))
    model = build_model(job["name"], scale=4, **job["overrides"]).eval()
    lr = torch.rand(1, 3, h // 4, w // 4)
    ceiling_before = conv_ceiling(job["conv_sizes"], family=precision)
    pad = default_tile_pad(model) if job["pad"] is None else job["pad"]
    start = time.perf_counter()
    out = upscale(model, lr, scale=4, tile=job["tile"], tile_pad=pad, device=bench_device(), precision=precision)
    sync()
    seconds = time.perf_counter() - start
    if tuple(out.shape[-2:]) != (h, w):
        raise RuntimeError(f"expected a {h}x{w} output, got {tuple(out.shape)}")
    np.save(job["out"], out[0, :, :64, :64].float().numpy())  # a corner for the tiled-vs-untiled diff
    ceiling = max(ceiling_before, conv_ceiling(job["conv_sizes"], family=precision))
    gflops = flops / seconds / 1e9
    return dict(seconds=seconds, gflop=flops / 1e9, gflops=gflops, ceiling=ceiling, ratio=gflops / ceiling)


def _tiled_area(hr: tuple[int, int], tile: int | None, pad: int) -> float:
    """LR pixels computed with tiles (each tile plus its in-image padding) over the image's LR pixels."""
    if tile is None:
        return 1.0

    def covered(n: int) -> int:
        return sum(min(s + tile + pad, n) - max(s - pad, 0) for s in range(0, n, tile))

    h, w = hr[0] // 4, hr[1] // 4
    return covered(h) * covered(w) / (h * w)


def bench_tiling(cfg: dict, tmp: Path) -> list[dict]:
    """Each run in its own process (peak RSS is the run's); tiled runs compared with the same model untiled."""
    from srlib.infer import default_tile_pad
    from srlib.models import build_model

    spec = cfg["tiling"]
    rows, untiled = [], {}  # (model, precision) -> (output corner, seconds)
    for name, overrides, tile, pad, *rest in spec["runs"]:
        precision = rest[0] if rest else "fp32"
        if pad is None and tile is not None:
            with torch.device("meta"):
                pad = default_tile_pad(build_model(name, scale=4, **overrides))
        out = tmp / f"tile_{name}_{tile}_{pad}_{precision}.npy"
        job = dict(
            job="srlib.bench.tiling:job_tiling",
            name=name,
            overrides=overrides,
            hr=spec["hr"],
            tile=tile,
            pad=pad or 0,
            precision=precision,
            out=str(out),
            conv_sizes=row_ceiling_sizes(cfg),
        )
        label = "untiled" if tile is None else f"{tile} pad {pad}"
        row = dict(model=name, precision=precision, tile=label, **run_child(job, MALLOC_ENV))
        row["area_overhead"] = _tiled_area(spec["hr"], tile, pad or 0) - 1  # extra LR pixels the tiles compute
        if "error" not in row:
            corner = np.load(out)
            if tile is None:
                untiled[name, precision] = (corner, row["seconds"])
            if (name, precision) in untiled:
                ref, base = untiled[name, precision]
                row["overhead"] = row["seconds"] / base - 1
                row["max_diff"] = float(np.abs(corner - ref).max())
        rows.append(row)
    return rows
