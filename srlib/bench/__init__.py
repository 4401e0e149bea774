"""The benchmark table: this machine's ceilings, then every hot path measured against them.

``srlib bench`` (``make bench``) prints one table per section and appends it, with the machine, the
versions, the load, the date and the command, to the run log at the end of BENCHMARKS.md:

- ``ceilings``: float32 matmul GFLOP/s and a 64->64 3x3 convolution's GFLOP/s (NCHW and channels_last,
  the best is the ceiling), as RRDBNet's trunk computes it;
- ``models``: each family at x4 on a 128x128 LR input, batch 1: wall time, GFLOP/s from
  ``srlib.models.count_flops``, ratio to the conv ceiling measured in the same process just before and
  after, peak resident memory. Each row runs in a fresh subprocess so ``ru_maxrss`` is its own;
- ``tiling``: the LR of a 2040x1404 DIV2K image (510x351) through each family at x4 with tiles
  (``srlib.infer.upscale``), and RRDBNet also untiled: time, GFLOP/s and ratio to the conv ceiling, time
  overhead against untiled, peak memory;
- ``train``: one training step per preset (``srlib.train`` presets, ``Step``): HR patches per second;
- ``metrics``: PSNR+SSIM on Y over DIV2K-size pairs, srlib against scikit-image on the same Y images;
- ``data``: patches per second from ``srlib.data.SRDataset`` with 2 workers (bicubic, second order).

Timings are wall-clock, the best of ``repeat`` runs after one warm-up. ``--quick`` shrinks every size so
the whole command takes seconds (the tests use it); its numbers mean nothing. ``--device cuda`` runs the
same sections on a GPU (timed to the end of the kernels, peak GPU memory added, TF32 settings recorded);
that path is written for the GPU table but has not run on a GPU yet.

One module per concern, imports running one way (timing <- ceilings <- models <- tiling, timing <- pipeline,
cli on top):

- ``timing``: the bench device, ``best_time``, peak memory, rows run in a fresh subprocess;
- ``ceilings``: matmul and 3x3 conv GFLOP/s per number format, the theoretical peak (``ceilings`` section);
- ``models``: model inference rows and training-step rows (``models``, ``train``);
- ``tiling``: tiled against untiled ``upscale`` on a DIV2K-size image (``tiling``);
- ``pipeline``: srlib's metrics against scikit-image, the data loader (``metrics``, ``data``);
- ``sizes``: the sizes of every section, full and quick;
- ``report``: markdown tables and the BENCHMARKS.md run log;
- ``cli``: :func:`run` (the sections in order) and ``srlib bench``.

Everything public is importable from here: ``srlib.bench.run``, ``from srlib.bench import markdown_table``.
"""

from srlib.bench.ceilings import (
    CONV_FORMATS,
    bench_ceilings,
    conv_ceiling,
    conv_gflops,
    matmul_gflops,
    theoretical_peak,
)
from srlib.bench.cli import SECTIONS, add_cli, run
from srlib.bench.models import bench_models, bench_train
from srlib.bench.pipeline import bench_data, bench_metrics
from srlib.bench.report import RUN_LOG, append_run, markdown_table, run_log_entry
from srlib.bench.sizes import SIZES
from srlib.bench.tiling import bench_tiling
from srlib.bench.timing import bench_device, best_time, peak_rss_mb

__all__ = [
    "SECTIONS",
    "SIZES",
    "CONV_FORMATS",
    "RUN_LOG",
    "run",
    "add_cli",
    "bench_ceilings",
    "bench_models",
    "bench_tiling",
    "bench_train",
    "bench_metrics",
    "bench_data",
    "matmul_gflops",
    "conv_gflops",
    "conv_ceiling",
    "theoretical_peak",
    "bench_device",
    "best_time",
    "peak_rss_mb",
    "markdown_table",
    "append_run",
    "run_log_entry",
]
