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
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from srlib import utils

SECTIONS = ("ceilings", "models", "tiling", "train", "metrics", "data")
RUN_LOG = "### Run log (appended by `srlib bench`)"
DIV2K_HR = (1404, 2040)  # (H, W) of a typical DIV2K image; its x4 LR is 351x510

# Sizes per mode. Full: what the issue asks for. Quick: seconds, for the tests.
SIZES = {
    "full": dict(
        matmul=2048,
        conv_sizes=(128, 256),
        lr=128,
        repeat=3,
        models=[
            ("edsr_baseline", {}, "eager"),
            ("edsr_baseline", {}, "fast"),
            ("edsr", {}, "fast"),
            ("srresnet", {}, "eager"),
            ("srresnet", {}, "fast"),
            ("msrresnet", {}, "eager"),
            ("msrresnet", {}, "fast"),
            ("rrdbnet", {}, "eager"),
            ("rrdbnet", {}, "channels_last"),
            ("rrdbnet", {}, "fast"),
            ("rrdbnet", {}, "fast+malloc"),
            ("edsr_baseline", {}, "fast-bf16"),
            ("srresnet", {}, "fast-bf16"),
            ("msrresnet", {}, "fast-bf16"),
            ("rrdbnet", {}, "fast-bf16"),
            ("rrdbnet", {}, "upscale-fp32"),
            ("rrdbnet", {}, "upscale-bf16"),
        ],
        tiling=dict(
            hr=DIV2K_HR,
            runs=[  # (model, overrides, tile, pad[, precision]); untiled is the reference for the same model
                ("rrdbnet", {}, None, 0),
                ("rrdbnet", {}, 256, 16),
                ("rrdbnet", {}, 256, None),  # the default pad
                ("rrdbnet", {}, None, 0, "bf16"),
                ("rrdbnet", {}, 256, None, "bf16"),
                ("edsr", {}, 256, 16),
                ("edsr_baseline", {}, 256, 16),
                ("srresnet", {}, 256, 16),
                ("msrresnet", {}, 256, 16),
            ],
        ),
        train_presets=[
            "edsr_quick",
            "srresnet_quick",
            "srgan_quick",
            "rrdb_psnr_quick",
            "esrgan_quick",
            "edsr_course",
            "srresnet_course",
            "srgan_course",
            "rrdb_psnr_course",
            "esrgan_course",
            "edsr_baseline_paper",
            "srresnet_paper",
            "srgan_paper",
            "rrdb_psnr_paper",
            "esrgan_paper",
        ],
        metric_pairs=100,
        metric_hr=DIV2K_HR,
        data_patches=2048,  # >= 100 batches: the 4 batches the workers prefetch are noise
    ),
    "quick": dict(
        matmul=256,
        conv_sizes=(32,),
        lr=16,
        repeat=1,
        models=[
            ("rrdbnet", dict(num_block=1, num_feat=16, num_grow_ch=8), "eager"),
            ("rrdbnet", dict(num_block=1, num_feat=16, num_grow_ch=8), "fast"),
            ("rrdbnet", dict(num_block=1, num_feat=16, num_grow_ch=8), "upscale-bf16"),
        ],
        tiling=dict(
            hr=(64, 96),
            runs=[
                ("rrdbnet", dict(num_block=1, num_feat=16, num_grow_ch=8), None, 0),
                ("rrdbnet", dict(num_block=1, num_feat=16, num_grow_ch=8), 16, 4),
                ("rrdbnet", dict(num_block=1, num_feat=16, num_grow_ch=8), None, 0, "bf16"),
                ("rrdbnet", dict(num_block=1, num_feat=16, num_grow_ch=8), 16, None, "bf16"),
            ],
        ),
        train_presets=["rrdb_psnr_quick"],
        metric_pairs=2,
        metric_hr=(64, 64),
        data_patches=8,
    ),
}
MALLOC_ENV = {  # glibc: keep freed large blocks for reuse instead of unmapping them (no page faults)
    "MALLOC_MMAP_THRESHOLD_": str(2**31 - 1),
    "MALLOC_TRIM_THRESHOLD_": str(2**31 - 1),
}


# ---------------------------------------------------------------------------------------------------
# timing and machine facts


def bench_device() -> torch.device:
    """Where the model, training and metric rows run: ``SRLIB_BENCH_DEVICE`` (``--device``), default CPU.

    An environment variable rather than an argument so the subprocess rows inherit it.
    """
    return torch.device(os.environ.get("SRLIB_BENCH_DEVICE", "cpu"))


def sync() -> None:
    """Wait for queued GPU work, so that a clock read after it measures the work (no-op on the CPU)."""
    if bench_device().type == "cuda":
        torch.cuda.synchronize()


def best_time(fn, repeat: int = 3, warmup: int = 1) -> float:
    """Best seconds of ``repeat`` calls after ``warmup`` calls (the least disturbed run).

    Wall clock, or with ``SRLIB_BENCH_CLOCK=cpu`` (``--clock cpu``) this process's CPU time: on a shared,
    loaded machine that leaves out the time other processes held the cores, but it only equals the
    compute time with one thread (``--threads 1``; idle OpenMP threads spin and count). On a GPU each
    call is timed to the end of its kernels.
    """
    clock = time.process_time if os.environ.get("SRLIB_BENCH_CLOCK") == "cpu" else time.perf_counter
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeat):
        start = clock()
        fn()
        sync()
        times.append(clock() - start)
    return min(times)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports KB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def machine_info() -> dict:
    import psutil

    return dict(
        cpu=utils.cpu_model(),
        cores=os.cpu_count(),
        threads=torch.get_num_threads(),
        memory_gb=round(psutil.virtual_memory().total / 2**30, 1),
        load=" ".join(f"{x:.2f}" for x in os.getloadavg()),
        python=platform.python_version(),
        torch=torch.__version__,
        numpy=np.__version__,
        mkldnn=torch.backends.mkldnn.is_available(),
        mkl=torch.backends.mkl.is_available(),
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        cuda=torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        device=str(bench_device()),
        # what cuDNN convs and cuBLAS matmuls may use for float32 (TF32 changes the ceilings several-fold)
        tf32=f"conv {torch.backends.cudnn.allow_tf32}, matmul {torch.backends.cuda.matmul.allow_tf32}",
    )


# ---------------------------------------------------------------------------------------------------
# ceilings


@torch.inference_mode()
def matmul_gflops(n: int, repeat: int = 3) -> float:
    a, b = torch.randn(n, n, device=bench_device()), torch.randn(n, n, device=bench_device())
    return 2 * n**3 / best_time(lambda: a @ b, repeat) / 1e9


# The number formats a 3x3 conv is measured in. "bf16 autocast" is fp32 tensors under torch.autocast, "bf16"
# tensors stored in bf16, "int8" a quantized conv (uint8 activations, int8 per-channel weights, oneDNN/x86).
CONV_FORMATS = ("fp32", "bf16 autocast", "bf16", "fp16", "int8")
FORMAT_FAMILY = {"fp32": "fp32", "bf16 autocast": "bf16", "bf16": "bf16", "fp16": "fp16", "int8": "int8"}


def _int8_conv(channels: int, device: torch.device):
    """A quantized 3x3 conv and a quantizer for its input, on the x86/oneDNN engine (VNNI, AMX-INT8)."""
    import warnings

    import torch.ao.nn.quantized as nnq

    if device.type != "cpu":
        raise RuntimeError("int8 convs are measured on the CPU only")
    engines = torch.backends.quantized.supported_engines
    torch.backends.quantized.engine = next(e for e in ("x86", "onednn", "fbgemm") if e in engines)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch deprecates the eager quantized tensors; they still run
        conv = nnq.Conv2d(channels, channels, 3, padding=1)
        weight = torch.randn(channels, channels, 3, 3) * 0.05
        scales, zeros = torch.full((channels,), 1e-3), torch.zeros(channels, dtype=torch.long)
        conv.set_weight_bias(torch.quantize_per_channel(weight, scales, zeros, 0, torch.qint8), torch.zeros(channels))
    return conv, lambda x: torch.quantize_per_tensor(x.clamp(0, 1), 1 / 255, 0, torch.quint8)


@torch.inference_mode()
def conv_gflops(size: int, channels_last: bool, channels: int = 64, repeat: int = 5, fmt: str = "fp32") -> float:
    """A ``channels -> channels`` 3x3 conv on a (1, C, size, size) input, like RRDBNet's trunk, in ``fmt``."""
    device = bench_device()
    layout = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.rand(1, channels, size, size, device=device).contiguous(memory_format=layout)
    flops = 2 * channels * channels * 9 * size * size
    if fmt == "int8":
        conv, quantize = _int8_conv(channels, device)
        qx = quantize(x)
        return flops / best_time(lambda: conv(qx), repeat) / 1e9
    conv = torch.nn.Conv2d(channels, channels, 3, 1, 1).eval().to(device).to(memory_format=layout)
    if fmt == "bf16 autocast":
        with torch.autocast(device.type, dtype=torch.bfloat16):
            return flops / best_time(lambda: conv(x), repeat) / 1e9
    if fmt in ("bf16", "fp16"):
        dtype = torch.bfloat16 if fmt == "bf16" else torch.float16
        conv, x = conv.to(dtype), x.to(dtype)
    return flops / best_time(lambda: conv(x), repeat) / 1e9


def conv_ceiling(sizes=(128,), repeat: int = 5, family: str = "fp32") -> float:
    """The best GFLOP/s of the 3x3 conv over the sizes, both memory formats and the formats of ``family``."""
    formats = [f for f in CONV_FORMATS if FORMAT_FAMILY[f] == family]
    return max(conv_gflops(s, cl, repeat=repeat, fmt=f) for s in sizes for cl in (False, True) for f in formats)


def theoretical_peak() -> list[dict]:
    """Peak GFLOP/s per format from the cores torch uses, the clock /proc/cpuinfo reports and the FLOPs per cycle
    per core of the few microarchitectures srlib knows; empty when the CPU is not one of them.

    Zen 4 (AMD family 0x19, models 0x10-0x1f and 0x60-0xaf): two 256-bit FMA pipes, 32 fp32 FLOP/cycle; its
    AVX512-BF16 dot products do twice that, AVX512-VNNI int8 four times. Intel cores with AMX: two 512-bit
    FMA ports (64 fp32 FLOP/cycle) and AMX tiles at 1024 bf16 FLOP / 2048 int8 ops per cycle (Intel's figures).
    Under a hypervisor the clock read is often the base clock, so a measured rate may exceed this peak.
    """
    fields = utils.cpuinfo()
    flags = set(fields.get("flags", "").split())
    try:
        mhz, family, model = float(fields["cpu MHz"]), int(fields["cpu family"]), int(fields["model"])
    except (KeyError, ValueError):
        return []
    zen4 = family == 0x19 and (0x10 <= model <= 0x1F or 0x60 <= model <= 0xAF)
    if fields.get("vendor_id") == "AuthenticAMD" and zen4:
        per_cycle = {"fp32": 32, "bf16": 64, "int8": 128}
        arch = "Zen 4"
    elif fields.get("vendor_id") == "GenuineIntel" and "amx_bf16" in flags:
        per_cycle = {"fp32": 64, "bf16": 1024, "int8": 2048}
        arch = "Intel with AMX"
    else:
        return []
    cores = min(os.cpu_count() or 1, torch.get_num_threads())  # the cores the measured rows may use
    return [
        dict(
            what=f"peak {fmt} ({arch}: {cores} cores x {mhz / 1000:.2f} GHz x {flops} FLOP/cycle)",
            gflops=cores * mhz / 1000 * flops,
        )  # fmt: skip
        for fmt, flops in per_cycle.items()
    ]


def bench_ceilings(cfg: dict) -> list[dict]:
    rows = [dict(what=f"matmul {cfg['matmul']}^3 fp32", gflops=matmul_gflops(cfg["matmul"], cfg["repeat"] + 2))]
    fp32 = {}
    for size in cfg["conv_sizes"]:
        for fmt in CONV_FORMATS:
            for cl in (False, True):
                layout = "channels_last" if cl else "NCHW"
                row = dict(what=f"conv3x3 64->64 {size}x{size} {fmt} {layout}")
                try:
                    row["gflops"] = conv_gflops(size, cl, fmt=fmt, repeat=2 if fmt == "fp16" else 5)
                except (RuntimeError, StopIteration) as error:
                    row["error"] = str(error).splitlines()[0][:100]
                if fmt == "fp32":
                    fp32[cl] = row.get("gflops", float("nan"))
                elif "gflops" in row:
                    row["vs_fp32"] = row["gflops"] / fp32[cl]
                rows.append(row)
    if bench_device().type == "cpu":
        rows += theoretical_peak()
    return rows


# ---------------------------------------------------------------------------------------------------
# subprocess rows (fresh process: peak memory is the row's own)


def _run_child(job: dict, env: dict | None = None) -> dict:
    code = "import sys, srlib.bench as b; b._child(sys.argv[1])"
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(job)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return dict(error=tail[0][:200])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _child(job_json: str) -> None:
    job = json.loads(job_json)
    if job.get("threads"):
        torch.set_num_threads(job["threads"])
    result = dict(rss_start_mb=peak_rss_mb())
    result.update(_JOBS[job["kind"]](job))
    result["peak_rss_mb"] = peak_rss_mb()
    if bench_device().type == "cuda":
        result["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(result))


def _flops(name: str, overrides: dict, lr_size: tuple[int, int], scale: int = 4) -> int:
    """The model's FLOPs on one LR image, counted on the meta device: no memory, no arithmetic (a real
    forward here would put an untiled run's memory into the tiled rows' peak RSS)."""
    from srlib.models import build_model, count_flops

    with torch.device("meta"):
        return count_flops(build_model(name, scale=scale, **overrides), tuple(lr_size))


def _variant_precision(variant: str) -> str:
    """The number format of a model row's variant: "fast-bf16", "upscale-bf16" ... run in bf16."""
    return "bf16" if variant.endswith("bf16") else "fp32"


def _prepare_model(name: str, overrides: dict, variant: str):
    """The model for a row and whether its input goes channels_last. Variants: eager, channels_last, fast
    (fused fp32), fast+malloc, fast-bf16 (``srlib.models.fast`` in bf16), upscale-fp32 / upscale-bf16
    (the whole user path, ``srlib.infer.upscale``, untiled)."""
    from srlib.infer import upscale
    from srlib.models import build_model
    from srlib.models.fast import optimize_for_inference

    model = build_model(name, scale=4, **overrides).eval().to(bench_device())
    if variant == "channels_last":
        return model.to(memory_format=torch.channels_last), True
    if variant.startswith("upscale"):
        precision = _variant_precision(variant)
        return (lambda x: upscale(model, x, scale=4, precision=precision, device=bench_device())), False
    if variant.startswith("fast"):
        return optimize_for_inference(model, _variant_precision(variant)), True
    return model, False


def _job_model(job: dict) -> dict:
    """One model at x4 on an LR square: time, GFLOP/s, ratio to the conv ceiling of the row's number format
    (fp32 or bf16) measured in the same process just before and after."""
    size = job["lr"]
    flops = _flops(job["name"], job["overrides"], (size, size))
    model, channels_last = _prepare_model(job["name"], job["overrides"], job["variant"])
    family = _variant_precision(job["variant"])
    x = torch.rand(1, 3, size, size, device=bench_device())
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    ceiling_before = conv_ceiling(job["conv_sizes"], family=family)
    with torch.inference_mode():
        seconds = best_time(lambda: model(x), job["repeat"])
    ceiling_after = conv_ceiling(job["conv_sizes"], family=family)
    ceiling = max(ceiling_before, ceiling_after)
    gflops = flops / seconds / 1e9
    return dict(
        format=family, seconds=seconds, gflop=flops / 1e9, gflops=gflops, ceiling=ceiling, ratio=gflops / ceiling
    )


def _job_tiling(job: dict) -> dict:
    """A model x4 on the LR of a DIV2K-size image through ``srlib.infer.upscale`` (fast path), untiled or with
    tiles (``pad`` None: the model's default), at the run's precision.

    ``gflop`` is the model's work on the LR image itself (what the padded tiles recompute is overhead).
    """
    from srlib.infer import default_tile_pad, upscale
    from srlib.models import build_model

    h, w = job["hr"]
    precision = job.get("precision", "fp32")
    flops = _flops(job["name"], job["overrides"], (h // 4, w // 4))
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


_JOBS = {"model": _job_model, "tiling": _job_tiling}


def _row_ceiling_sizes(cfg: dict) -> list[int]:
    """The conv sizes each row re-measures its ceiling at: the model's own LR size on the CPU; on a GPU a
    128x128 conv is launch-bound, so the section's larger ceiling sizes."""
    return [cfg["lr"]] if bench_device().type == "cpu" else list(cfg["conv_sizes"])


def bench_models(cfg: dict) -> list[dict]:
    rows = []
    for name, overrides, variant in cfg["models"]:
        job = dict(
            kind="model",
            name=name,
            overrides=overrides,
            variant=variant,
            lr=cfg["lr"],
            repeat=cfg["repeat"],
            conv_sizes=_row_ceiling_sizes(cfg),
        )
        env = MALLOC_ENV if variant.endswith("+malloc") else None
        rows.append(dict(model=name, variant=variant, **_run_child(job, env)))
    return rows


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
            kind="tiling",
            name=name,
            overrides=overrides,
            hr=spec["hr"],
            tile=tile,
            pad=pad or 0,
            precision=precision,
            out=str(out),
            conv_sizes=_row_ceiling_sizes(cfg),
        )
        label = "untiled" if tile is None else f"{tile} pad {pad}"
        row = dict(model=name, precision=precision, tile=label, **_run_child(job, MALLOC_ENV))
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


# ---------------------------------------------------------------------------------------------------
# training, metrics, data (in this process)


def bench_train(cfg: dict) -> list[dict]:
    """One step per preset through ``srlib.train``'s ``Step``; the GAN rows run without the VGG term.

    ``g_gflops``: the generator's share of the step, 3x its forward FLOPs (the backward of a convolution
    costs two forwards: the input gradient and the weight gradient), per second of the whole step. For
    the GAN rows it leaves out the discriminator's work, so it is a lower bound of the achieved rate.
    """
    try:
        from srlib.models import build_model
        from srlib.train.config import PRESETS
        from srlib.train.step import Step
    except ImportError as error:
        return [dict(preset="-", error=f"srlib.train not available ({error})")]
    from srlib.train.config import replace

    rows, device = [], bench_device()
    runs = [(name, amp) for name in cfg["train_presets"] for amp in ("none", "preset")]
    fp32_seconds = {}
    for name, amp in runs:
        if name not in PRESETS:
            if amp == "none":
                rows.append(dict(preset=name, error="no such preset"))
            continue
        p = PRESETS[name] if amp == "preset" else replace(PRESETS[name], amp="none")
        if amp == "preset" and p.amp == "none":
            continue  # the fp32 row already is the preset
        torch.manual_seed(0)
        G = build_model(p.model, scale=p.scale, **p.model_kwargs).to(device)
        D = build_model(p.discriminator, **p.discriminator_kwargs).to(device) if p.mode != "psnr" else None
        if p.channels_last:
            G = G.to(memory_format=torch.channels_last)
            D = D.to(memory_format=torch.channels_last) if D is not None else None
        opt_g = torch.optim.Adam(G.parameters(), lr=p.lr, betas=p.betas)
        opt_d = torch.optim.Adam(D.parameters(), lr=p.lr, betas=p.betas) if D is not None else None
        step = Step(p, G, D, opt_g, opt_d, None, device, 1)  # AMP as the preset says, where the device has it
        hr = torch.rand(p.batch_size, 3, p.patch_size, p.patch_size, device=device)
        lr = torch.nn.functional.interpolate(hr, scale_factor=1 / p.scale, mode="bicubic", antialias=True)
        fn = step.psnr_step if p.mode == "psnr" else step.gan_step
        seconds = best_time(lambda fn=fn, lr=lr, hr=hr: fn(lr, hr), repeat=1 if "paper" in name else cfg["repeat"])
        g_gflop = 3 * p.batch_size * _flops(p.model, p.model_kwargs, lr.shape[-2:], p.scale) / 1e9
        row = dict(
            preset=name,
            mode=p.mode,
            batch=f"{p.batch_size}x{p.patch_size}px",
            layout="channels_last" if p.channels_last else "NCHW",
            amp=p.amp,
            autocast=step.amp,  # what the step really ran ("auto" resolved on this device)
            seconds=seconds,
            patches_per_s=p.batch_size / seconds,
            g_gflop=g_gflop,
            g_gflops=g_gflop / seconds,
        )
        if amp == "none":
            fp32_seconds[name] = seconds
        else:
            row["speedup_vs_fp32"] = fp32_seconds[name] / seconds
        rows.append(row)
    return rows


def _synthetic_pair(rng: np.random.Generator, hr_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A natural-looking uint8 HR image (smooth colour field, edges, texture) and its bicubic x4 round trip."""
    h, w = hr_size
    base = torch.from_numpy(rng.random((1, 3, h // 32 + 2, w // 32 + 2), dtype=np.float32))
    img = torch.nn.functional.interpolate(base, size=(h, w), mode="bicubic", align_corners=False)
    yy, xx = np.mgrid[0:h, 0:w]
    stripes = (np.sin(xx * rng.uniform(0.05, 0.3) + yy * rng.uniform(0.05, 0.3)) > 0).astype(np.float32)
    img = img + 0.25 * torch.from_numpy(stripes) + 0.05 * torch.randn(1, 3, h, w)
    img = img.clamp(0, 1)
    lr = torch.nn.functional.interpolate(img, scale_factor=0.25, mode="bicubic", antialias=True)
    sr = torch.nn.functional.interpolate(lr, size=(h, w), mode="bicubic").clamp(0, 1)
    to_u8 = lambda t: (t[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return to_u8(img), to_u8(sr)


def bench_metrics(cfg: dict) -> list[dict]:
    """srlib PSNR+SSIM (Y, RGB uint8 in) against scikit-image on the Y images srlib computes."""
    try:
        from skimage.metrics import peak_signal_noise_ratio, structural_similarity

        from srlib import metrics
    except ImportError as error:
        return [dict(impl="-", error=f"not available ({error})")]
    device = bench_device()

    def on_device(image: np.ndarray):  # HWC numpy as it is on the CPU, else a CHW tensor already on the GPU
        return image if device.type == "cpu" else torch.from_numpy(image).permute(2, 0, 1).to(device)

    rng = np.random.default_rng(0)
    torch.manual_seed(0)  # _synthetic_pair's noise: the same 100 pairs in every run
    warm = [on_device(x) for x in _synthetic_pair(rng, (64, 64))]
    metrics.psnr(*warm), metrics.ssim(*warm)  # first-call set-up is not part of the per-pair cost
    t_srlib = t_srlib_y = t_skimage = 0.0
    diffs_psnr, diffs_ssim = [], []
    for _ in range(cfg["metric_pairs"]):
        hr, sr = _synthetic_pair(rng, cfg["metric_hr"])
        hr_in, sr_in = on_device(hr), on_device(sr)
        start = time.perf_counter()  # psnr and ssim return Python floats: the GPU has finished
        p, s = metrics.psnr(sr_in, hr_in, crop_border=4), metrics.ssim(sr_in, hr_in, crop_border=4)
        t_srlib += time.perf_counter() - start
        # the same Y images (BT.601, rounded, border cropped) for scikit-image; conversion not timed
        ya = np.asarray(metrics.rgb_to_y(sr)).round()[4:-4, 4:-4]
        yb = np.asarray(metrics.rgb_to_y(hr)).round()[4:-4, 4:-4]
        y_sr, y_hr = ya.astype(np.uint8)[..., None], yb.astype(np.uint8)[..., None]  # rounded Y: exact in uint8
        y_sr, y_hr = on_device(y_sr), on_device(y_hr)
        start = time.perf_counter()
        p_y, s_y = metrics.psnr(y_sr, y_hr), metrics.ssim(y_sr, y_hr)
        t_srlib_y += time.perf_counter() - start
        start = time.perf_counter()
        p_ref = peak_signal_noise_ratio(yb, ya, data_range=255)
        s_ref = structural_similarity(
            yb, ya, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
        t_skimage += time.perf_counter() - start
        diffs_psnr.append(max(abs(p - p_ref), abs(p_y - p_ref)))
        diffs_ssim.append(max(abs(s - s_ref), abs(s_y - s_ref)))
    n = cfg["metric_pairs"]
    size = "x".join(map(str, cfg["metric_hr"]))
    srlib = "srlib" if device.type == "cpu" else f"srlib on {device.type} (inputs already there)"
    return [
        dict(impl=f"{srlib} (RGB uint8 in, Y inside)", pairs=f"{n} x {size}", seconds=t_srlib, per_pair=t_srlib / n),
        dict(
            impl=f"{srlib} (Y given)",
            pairs=f"{n} x {size}",
            seconds=t_srlib_y,
            per_pair=t_srlib_y / n,
            speedup_vs_skimage=t_skimage / t_srlib_y,
        ),
        dict(
            impl="scikit-image (Y given)",
            pairs=f"{n} x {size}",
            seconds=t_skimage,
            per_pair=t_skimage / n,
            speedup=t_skimage / t_srlib,
            max_dpsnr=max(diffs_psnr),
            max_dssim=max(diffs_ssim),
        ),
    ]


def bench_data(cfg: dict, tmp: Path) -> list[dict]:
    """Patches per second out of a 2-worker DataLoader over ``SRDataset`` (HR 128 px, x4), after warm-up."""
    try:
        from PIL import Image

        from srlib.data import SRDataset
    except ImportError as error:
        return [dict(degradation="-", error=f"srlib.data.SRDataset not available ({error})")]
    folder = tmp / "data_hr"
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    side = 480 if cfg["data_patches"] > 32 else 96
    for i in range(8):  # natural-looking images, decoded once per worker (cache=True)
        hr, _ = _synthetic_pair(rng, (side, side))
        Image.fromarray(hr).save(folder / f"{i:04d}.png")
    patch, batch = (128, 16) if side > 128 else (32, 4)
    repeat = -(-cfg["data_patches"] // 8) + 2 * batch  # enough for the timed patches plus the warm-up batch
    rows = []
    for degradation in ("bicubic", "second_order"):
        try:
            dataset = SRDataset(folder, scale=4, patch_size=patch, degradation=degradation, repeat=repeat)
        except (ValueError, RuntimeError) as error:
            rows.append(dict(degradation=degradation, error=str(error)[:120]))
            continue
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=2)
        batches = iter(loader)
        next(batches)  # workers started, first images decoded
        start, count = time.perf_counter(), 0
        while count < cfg["data_patches"]:
            count += len(next(batches)["hr"])
        seconds = time.perf_counter() - start
        rows.append(
            dict(degradation=degradation, hr_patch=f"{patch}px x{batch}", patches=count, patches_per_s=count / seconds)
        )
    return rows


# ---------------------------------------------------------------------------------------------------
# the table and the run log


def _fmt(value) -> str:
    if isinstance(value, float):
        if value != value or abs(value) >= 100:
            return f"{value:.0f}"
        return f"{value:.3g}" if abs(value) >= 0.01 or value == 0 else f"{value:.1e}"
    return str(value)


def markdown_table(rows: list[dict]) -> str:
    return utils.markdown_table(rows, _fmt)


def append_run(path: Path, text: str) -> None:
    """Insert ``text`` at the end of the run log (before the next ``## `` section), creating it if absent."""
    lines = path.read_text().splitlines() if path.exists() else []
    if RUN_LOG not in lines:
        lines += ["", "## Summary against the targets", "", RUN_LOG]
    start = lines.index(RUN_LOG) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    new = lines[:end] + [""] + text.rstrip().splitlines() + [""] + lines[end:]
    path.write_text("\n".join(new).rstrip() + "\n")


def run(quick: bool = False, only: list[str] | None = None, tmp: Path | None = None) -> dict[str, list[dict]]:
    """Measure the chosen sections; returns {section: rows} and prints each table as it completes."""
    import tempfile

    cfg = SIZES["quick" if quick else "full"]
    if bench_device().type == "cuda" and not quick:
        cfg = dict(cfg, conv_sizes=(256, 1024))  # a GPU needs larger convs to reach its ceiling
    sections = only or list(SECTIONS)
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        tmp = tmp or Path(scratch)
        for section in sections:
            start = time.perf_counter()
            if section == "ceilings":
                rows = bench_ceilings(cfg)
            elif section == "models":
                rows = bench_models(cfg)
            elif section == "tiling":
                rows = bench_tiling(cfg, tmp)
            elif section == "train":
                rows = bench_train(cfg)
            elif section == "metrics":
                rows = bench_metrics(cfg)
            else:
                rows = bench_data(cfg, tmp)
            results[section] = rows
            print(f"\n{section} ({time.perf_counter() - start:.0f} s)\n{markdown_table(rows)}", flush=True)
    return results


def report(results: dict[str, list[dict]], info: dict, command: str, seconds: float) -> str:
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    head = [
        f"#### {stamp}: `{command}` ({seconds / 60:.1f} min)",
        "",
        f"- machine: {info['cpu']}, {info['cores']} cores ({info['threads']} torch threads), "
        f"{info['memory_gb']} GB, CUDA: {info['cuda']}; rows on: {info['device']}"
        + (f" (TF32: {info['tf32']})" if info["device"].startswith("cuda") else ""),
        f"- versions: Python {info['python']}, torch {info['torch']}, numpy {info['numpy']}; "
        f"oneDNN (mkldnn) {info['mkldnn']}, MKL {info['mkl']}, CPU capability {info['cpu_capability']}",
        f"- load average at start (1, 5, 15 min): {info['load']}; at end: {info['load_end']}; "
        f"clock: {os.environ.get('SRLIB_BENCH_CLOCK', 'wall')}",
    ]
    body = [f"\n{section}:\n\n{markdown_table(rows)}" for section, rows in results.items()]
    return "\n".join(head + body)


def _cli_bench(args) -> int:
    unknown = set(args.only or []) - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown section {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the subprocess rows inherit it
    os.environ["SRLIB_BENCH_CLOCK"] = args.clock
    if args.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: no CUDA device is visible to torch here; run on a GPU machine or drop it")
    os.environ["SRLIB_BENCH_DEVICE"] = args.device  # the subprocess rows inherit it
    info = machine_info()
    command = "srlib bench " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["bench"] else "srlib bench"
    start = time.perf_counter()
    results = run(quick=args.quick, only=args.only)
    info["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = report(results, info, command.strip(), time.perf_counter() - start)
    if not args.no_append:
        append_run(Path(args.output), text)
        print(f"\nappended to {args.output}")
    return 0


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench", help="speed and memory table against this machine's ceilings, appended to BENCHMARKS.md"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds (numbers mean nothing)")
    parser.add_argument("--only", nargs="+", metavar="SECTION", help=f"run only these ({', '.join(SECTIONS)})")
    parser.add_argument("--no-append", action="store_true", help="print the tables, leave BENCHMARKS.md alone")
    parser.add_argument("--output", default="BENCHMARKS.md", help="file whose run log gets the tables")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    parser.add_argument(
        "--clock", choices=("wall", "cpu"), default="wall", help="wall time, or CPU time (with --threads 1)"
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where ceilings, models, tiling, training and srlib's metrics run (the data loader is CPU work)",
    )
    parser.set_defaults(func=_cli_bench)
