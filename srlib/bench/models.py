"""Model rows: each family's inference at x4 against the conv ceiling (one subprocess per row), and one training
step per preset."""

from __future__ import annotations

import torch

from srlib.bench.ceilings import conv_ceiling, row_ceiling_sizes
from srlib.bench.timing import MALLOC_ENV, bench_device, best_time, run_child


def model_flops(name: str, overrides: dict, lr_size: tuple[int, int], scale: int = 4) -> int:
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


def job_model(job: dict) -> dict:
    """One model at x4 on an LR square: time, GFLOP/s, ratio to the conv ceiling of the row's number format
    (fp32 or bf16) measured in the same process just before and after."""
    size = job["lr"]
    flops = model_flops(job["name"], job["overrides"], (size, size))
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


def bench_models(cfg: dict) -> list[dict]:
    rows = []
    for name, overrides, variant in cfg["models"]:
        job = dict(
            job="srlib.bench.models:job_model",
            name=name,
            overrides=overrides,
            variant=variant,
            lr=cfg["lr"],
            repeat=cfg["repeat"],
            conv_sizes=row_ceiling_sizes(cfg),
        )
        env = MALLOC_ENV if variant.endswith("+malloc") else None
        rows.append(dict(model=name, variant=variant, **run_child(job, env)))
    return rows


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
        g_gflop = 3 * p.batch_size * model_flops(p.model, p.model_kwargs, lr.shape[-2:], p.scale) / 1e9
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
