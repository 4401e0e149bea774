"""This machine's ceilings: float32 matmul GFLOP/s, a 64->64 3x3 convolution's GFLOP/s in every number format
(NCHW and channels_last), and the theoretical peak of the CPUs srlib knows."""

from __future__ import annotations

import os

import torch

from srlib import utils
from srlib.bench.timing import bench_device, best_time


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


def row_ceiling_sizes(cfg: dict) -> list[int]:
    """The conv sizes each row re-measures its ceiling at: the model's own LR size on the CPU; on a GPU a
    128x128 conv is launch-bound, so the section's larger ceiling sizes."""
    return [cfg["lr"]] if bench_device().type == "cpu" else list(cfg["conv_sizes"])
