"""Tiled against untiled RRDBNet x4 on one 512x512 LR image: time, largest difference, peak RSS.

Run: .venv/bin/python benchmarks/tiled_vs_untiled.py   (about 2 minutes on 2 cores)
"""

import resource
import time

import numpy as np
import torch

from srlib import infer, models

torch.manual_seed(0)
model = models.build_model("rrdbnet").eval()
rng = np.random.default_rng(0)
img = rng.random((512, 512, 3)).astype(np.float32)
infer.upscale(model, img[:32, :32])  # warm-up
t = time.perf_counter()
full = infer.upscale(model, img)
t_full = time.perf_counter() - t
t = time.perf_counter()
tiled = infer.upscale(model, img, tile=256, tile_pad=16)
t_tiled = time.perf_counter() - t
print(
    f"untiled {t_full:.1f} s, tiled 256/16 {t_tiled:.1f} s, overhead {100 * (t_tiled / t_full - 1):.1f} %, max diff {np.abs(full - tiled).max():.3g}"
)
print("peak RSS MiB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
