"""Tiled against untiled RRDBNet x4 on one 512x512 LR image: time, largest difference, peak RSS.

Run: .venv/bin/python benchmarks/tiled_vs_untiled.py   (about 2 minutes on 2 cores)
"""

import resource
import time

import numpy as np
import torch

from srlib import infer, models


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


torch.manual_seed(0)
model = models.build_model("rrdbnet").eval()
image = np.random.default_rng(0).random((512, 512, 3)).astype(np.float32)
infer.upscale(model, image[:32, :32])  # warm-up
full, t_full = timed(lambda: infer.upscale(model, image))
tiled, t_tiled = timed(lambda: infer.upscale(model, image, tile=256, tile_pad=16))
print(f"untiled {t_full:.1f} s, tiled 256/16 {t_tiled:.1f} s, overhead {100 * (t_tiled / t_full - 1):.1f} %")
print(f"largest difference {np.abs(full - tiled).max():.3g}")
print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
