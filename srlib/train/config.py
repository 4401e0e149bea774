"""Training configurations: one dataclass, YAML in and out, and named presets per family and size.

``quick`` presets run in minutes on a 2-core CPU (the notebook, CI); ``paper`` presets are the published
settings (patch size, batch 16, iterations, learning-rate milestones) for a GPU; ``course`` presets made
the checkpoints in ``srlib/course_weights/`` (T91 + BSD200, x4 bicubic, on a shared 2-core CPU).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import yaml

MODES = ("psnr", "srgan", "esrgan")


@dataclass
class TrainConfig:
    """Everything one run needs. Unknown keys in YAML or ``--set`` fail loudly."""

    # what is trained
    mode: str = "psnr"  # "psnr" (pixel loss only), "srgan" (standard GAN), "esrgan" (relativistic GAN)
    model: str = "edsr_baseline"  # a name from srlib.models.PRESETS
    model_kwargs: dict = field(default_factory=dict)  # overrides, e.g. {num_feat: 32, num_block: 8}
    scale: int = 4
    discriminator: str = ""  # GAN modes: "srgan_discriminator" or "vgg_discriminator"
    discriminator_kwargs: dict = field(default_factory=dict)
    init_from: str = ""  # weights to start G from (the PSNR model for a GAN; the x2 model for EDSR x4)
    # data
    train_sets: list = field(default_factory=lambda: ["mini/train"])  # names (resolve_dataset) or HR folders
    val_set: str = "mini/valid"  # name or HR folder; full images, PSNR/SSIM on Y with crop = scale
    val_max_images: int = 0  # 0: all of them
    data_tag: str = ""  # short name of the training data for the run name; "" joins train_sets
    degradation: str = "bicubic"
    patch_size: int = 96  # HR patch side (LR side = patch_size / scale)
    batch_size: int = 16
    repeat: int = 1  # each image gives this many random patches per epoch
    num_workers: int = 0
    # optimisation
    total_steps: int = 1000
    lr: float = 1e-4
    betas: tuple = (0.9, 0.999)
    milestones: list = field(default_factory=list)  # MultiStepLR: multiply lr by gamma at these steps
    gamma: float = 0.5
    warmup_steps: int = 0  # linear warm-up from 0 to lr over these steps
    lr_d: float = 0.0  # discriminator lr; 0: same as lr
    ema_decay: float = 0.0  # 0: off; e.g. 0.999 keeps an exponential moving average of G for validation
    # losses
    pixel_loss: str = "l1"  # "l1", "mse" or "charbonnier"
    pixel_weight: float = 1.0
    perceptual: str = "none"  # "none", "vgg54" (SRGAN: relu5_4, MSE) or "conv54" (ESRGAN: conv5_4, L1)
    perceptual_weights: str = "imagenet"  # "imagenet", "random" (structure only) or a path to VGG19 weights
    perceptual_fallback: str = "error"  # when ImageNet VGG19 is missing: "error", "random" or "none"
    perceptual_weight: float = 1.0
    adversarial_weight: float = 0.0  # SRGAN 1e-3, ESRGAN 5e-3
    max_loss: float = 1e3  # a loss above this (or NaN/inf) stops the run, keeping the last good checkpoint
    # bookkeeping
    seed: int = 0
    val_every: int = 500
    ckpt_every: int = 500
    log_every: int = 10
    out_root: str = "runs"
    tag: str = ""  # free text appended to the run name
    # speed
    device: str = "auto"  # "auto", "cpu", "cuda", ...
    amp: str = "none"  # "none", "bf16", "fp16" (CUDA only, with a GradScaler) or "auto" (bf16 where native)
    channels_last: bool = False
    threads: int = 0  # torch.set_num_threads; 0 leaves it alone

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        if self.mode != "psnr" and not self.discriminator:
            raise ValueError(f"mode {self.mode!r} needs a discriminator (srgan_discriminator, vgg_discriminator)")
        if self.perceptual not in ("none", "vgg54", "conv54"):
            raise ValueError(f"perceptual must be 'none', 'vgg54' or 'conv54', not {self.perceptual!r}")
        if self.perceptual_fallback not in ("error", "random", "none"):
            raise ValueError("perceptual_fallback must be 'error', 'random' or 'none'")
        if self.amp not in AMP_MODES:
            raise ValueError(f"amp must be one of {', '.join(AMP_MODES)}, not {self.amp!r}")
        if self.patch_size % self.scale:
            raise ValueError(f"patch_size {self.patch_size} must be a multiple of the scale {self.scale}")
        self.betas = tuple(self.betas)
        self.train_sets = list(self.train_sets) if not isinstance(self.train_sets, str) else [self.train_sets]


AMP_MODES = ("none", "bf16", "fp16", "auto")


def resolve_amp(amp: str, device: torch.device) -> tuple[str, str | None]:
    """The autocast dtype a run really uses ("none", "bf16" or "fp16"), and a one-line note when it differs.

    "auto" is bf16 on a CPU with native bf16 (AVX512-BF16, AMX) or a GPU with bf16, else none; bf16 asked
    for on a CPU without it still runs (oneDNN emulates it), slower than fp32, with a note.
    """
    from srlib.models.fast import cpu_has_native_bf16

    native = cpu_has_native_bf16() if device.type == "cpu" else device.type == "cuda" and torch.cuda.is_bf16_supported()
    if amp == "auto":
        if native:
            return "bf16", None
        return "none", f"amp auto: no native bf16 on {device.type}, training in fp32"
    if amp == "fp16" and device.type != "cuda":
        return "none", f"amp fp16 needs CUDA: training in fp32 on {device.type}"
    if amp == "bf16" and not native:
        return "bf16", f"amp bf16: {device.type} has no native bf16, so it is emulated and slower than fp32"
    return amp, None


def replace(cfg: TrainConfig, **changes) -> TrainConfig:
    """A copy of ``cfg`` with ``changes``; unknown keys raise ValueError, numbers are coerced to the field's
    type (YAML reads ``2e-4`` as a string and ``1`` as an int)."""
    names = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise ValueError(f"unknown TrainConfig keys {unknown}; valid keys: {', '.join(sorted(names))}")
    for key, value in changes.items():
        current = getattr(cfg, key)
        if isinstance(current, float) and isinstance(value, (int, str)) and not isinstance(value, bool):
            changes[key] = float(value)
        elif isinstance(current, list) and isinstance(value, list):
            changes[key] = [float(v) if isinstance(v, str) and _is_number(v) else v for v in value]
    return dataclasses.replace(cfg, **changes)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def from_dict(values: dict) -> TrainConfig:
    return replace(TrainConfig(), **values)


def to_dict(cfg: TrainConfig) -> dict:
    values = asdict(cfg)
    values["betas"] = list(values["betas"])
    return values


def save_config(cfg: TrainConfig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    return path


def load_config(name_or_path: str | Path) -> TrainConfig:
    """A preset name (``edsr_quick``) or a YAML file, optionally starting from ``base: PRESET``."""
    if str(name_or_path) in PRESETS:
        return PRESETS[str(name_or_path)]
    path = Path(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(f"{name_or_path} is neither a preset ({', '.join(PRESETS)}) nor a YAML file")
    values = yaml.safe_load(path.read_text()) or {}
    base = values.pop("base", None)
    start = load_config(base) if base else TrainConfig()
    return replace(start, **values)


def parse_overrides(cfg: TrainConfig, items: list[str]) -> TrainConfig:
    """Apply ``key=value`` strings (values parsed as YAML: ``lr=2e-4``, ``milestones=[100,200]``)."""
    changes = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, got {item!r}")
        changes[key.strip()] = yaml.safe_load(text)
    return replace(cfg, **changes)


# ------------------------------------------------------------------------------------------ run names

FAMILY = {"psnr": None, "srgan": "SRGAN", "esrgan": "ESRGAN"}
ARCH_LABEL = {
    "edsr": "EDSR",
    "edsr_baseline": "EDSR",
    "srresnet": "SRResNet",
    "msrresnet": "MSRResNet",
    "rrdbnet": "RRDB_PSNR",
    "rrdbnet_6b": "RRDB_PSNR",
}


def _steps(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def run_name(cfg: TrainConfig, perceptual_label: str | None = None) -> str:
    """BasicSR style: ``ESRGAN_x4_f64b23_DIV2K_400k_B16P128_vggimagenet``.

    ``perceptual_label`` is what the perceptual term really used (after any fallback), so a run that could
    not load ImageNet VGG19 says so in its name.
    """
    from srlib.models import PRESETS as MODEL_PRESETS

    key = cfg.model
    defaults = MODEL_PRESETS[key][1] if key in MODEL_PRESETS else {}
    kwargs = {**defaults, **cfg.model_kwargs}
    family = FAMILY[cfg.mode] or ARCH_LABEL.get(key, key)
    nf = kwargs.get("num_feat", 64)
    nb = kwargs.get("num_block", {"rrdbnet": 23}.get(key, 16))
    data = cfg.data_tag or "".join(Path(s).name for s in cfg.train_sets).replace("/", "")
    parts = [
        family,
        f"x{cfg.scale}",
        f"f{nf}b{nb}",
        data,
        _steps(cfg.total_steps),
        f"B{cfg.batch_size}P{cfg.patch_size}",
    ]
    if cfg.mode != "psnr":
        parts.append(perceptual_label or perceptual_tag(cfg))
    if cfg.tag:
        parts.append(cfg.tag)
    return "_".join(parts)


def perceptual_tag(cfg: TrainConfig, weights: str | None = None) -> str:
    """``vgg54imagenet``, ``conv54random``, ``nopercep``: what the perceptual term is made of."""
    if cfg.perceptual == "none" or cfg.perceptual_weight == 0 or weights == "none":
        return "nopercep"
    weights = weights or cfg.perceptual_weights
    label = weights if weights in ("imagenet", "random") else "file"
    return f"{cfg.perceptual}{label}"


# --------------------------------------------------------------------------------------------- presets

# Quick: tiny models and ~1-2 minutes on a 2-core CPU, on the embedded mini set. Not meant to be good.
_QUICK = dict(
    train_sets=["mini/train"],
    data_tag="mini",
    threads=1,  # one thread: tiny models gain nothing from two, and a busy CPU punishes them
    channels_last=True,  # 23-37% less time per CPU step than NCHW (BENCHMARKS.md, Training)
    amp="auto",  # bf16 autocast where the CPU has it natively (BENCHMARKS.md, "bf16 training")
    val_set="mini/valid",
    val_max_images=2,
    patch_size=64,
    batch_size=4,
    total_steps=60,
    val_every=30,
    ckpt_every=30,
    log_every=5,
    repeat=4,
)
# GAN quick runs: without ImageNet VGG19 offline the perceptual term is dropped (labelled in the name).
_QUICK_GAN = dict(_QUICK, total_steps=30, val_every=15, ckpt_every=15, perceptual_fallback="none")
# Paper: DIV2K (EDSR, SRGAN used ImageNet crops, ESRGAN DF2K), batch 16.
_PAPER = dict(
    train_sets=["DIV2K_train"],
    data_tag="DIV2K",
    val_set="Set5",
    batch_size=16,
    val_every=5000,
    ckpt_every=5000,
    log_every=100,
    num_workers=4,
    amp="bf16",
    channels_last=True,
)
# Course: the checkpoints in srlib/course_weights/, trained on a shared 2-core CPU. Set5 is the monitor set.
# bf16 autocast + channels_last: 1.9-2.5x less CPU time per step than fp32 NCHW on AVX512-BF16 (BENCHMARKS.md)
_COURSE = dict(
    train_sets=["T91", "BSD200"],
    data_tag="T91BSD200",
    val_set="Set5",
    log_every=20,
    threads=1,
    repeat=8,
    amp="auto",
    channels_last=True,
)
# The PSNR-oriented course runs (from scratch): a short warm-up, validation and a checkpoint every 500 steps.
_COURSE_PSNR = dict(_COURSE, warmup_steps=100, val_every=500, ckpt_every=500)

PRESETS: dict[str, TrainConfig] = {
    # EDSR (Lim et al. 2017): L1, Adam 1e-4 (0.9, 0.999), LR patches 48x48, lr halved every 200k.
    "edsr_quick": TrainConfig(model="edsr_baseline", model_kwargs=dict(num_feat=16, num_block=2), lr=1e-3, **_QUICK),
    "edsr_x2_paper": TrainConfig(
        model="edsr", scale=2, patch_size=96, total_steps=300_000, lr=1e-4, milestones=[200_000], **_PAPER
    ),
    "edsr_paper": TrainConfig(
        model="edsr",
        scale=4,
        patch_size=192,
        total_steps=300_000,
        lr=1e-4,
        milestones=[200_000],
        init_from="edsr_x2_paper",
        **_PAPER,
    ),  # x4 from x2
    "edsr_baseline_paper": TrainConfig(
        model="edsr_baseline", patch_size=192, total_steps=300_000, lr=1e-4, milestones=[200_000], **_PAPER
    ),
    "edsr_course": TrainConfig(
        model="edsr_baseline",
        model_kwargs=dict(num_feat=32, num_block=8),
        lr=5e-4,
        patch_size=64,  # 16x16 LR: 2.25x the steps of 96 for the same CPU time, and samples matter more here
        batch_size=16,
        total_steps=10000,
        milestones=[7000, 9000],
        **_COURSE_PSNR,
    ),
    # SRResNet (Ledig et al. 2017): MSE, Adam 1e-4, HR patches 96x96, 1e6 updates.
    "srresnet_quick": TrainConfig(
        model="srresnet", model_kwargs=dict(num_feat=16, num_block=2), lr=1e-3, pixel_loss="mse", **_QUICK
    ),
    "srresnet_paper": TrainConfig(
        model="srresnet", patch_size=96, total_steps=1_000_000, lr=1e-4, pixel_loss="mse", **_PAPER
    ),
    "srresnet_course": TrainConfig(
        model="msrresnet",  # no BN + a bilinear skip: SRResNet as BasicSR trains it, far faster from scratch
        model_kwargs=dict(num_feat=32, num_block=8),
        lr=5e-4,
        pixel_loss="mse",
        patch_size=64,
        batch_size=16,
        total_steps=12000,
        milestones=[8000, 10500],
        **_COURSE_PSNR,
    ),
    # SRGAN: content (VGG54, or MSE) + 1e-3 adversarial; 1e5 updates at 1e-4, then 1e5 at 1e-5.
    "srgan_quick": TrainConfig(
        mode="srgan",
        model="srresnet",
        model_kwargs=dict(num_feat=16, num_block=2),
        discriminator="srgan_discriminator",
        discriminator_kwargs=dict(num_feat=16, input_size=64),
        lr=1e-4,
        pixel_loss="mse",
        perceptual="vgg54",
        adversarial_weight=1e-3,
        **_QUICK_GAN,
    ),
    "srgan_paper": TrainConfig(
        mode="srgan",
        model="srresnet",
        discriminator="srgan_discriminator",
        patch_size=96,
        total_steps=200_000,
        lr=1e-4,
        milestones=[100_000],
        gamma=0.1,
        pixel_loss="mse",
        pixel_weight=0.0,
        perceptual="vgg54",
        perceptual_weight=0.006,  # SRGAN rescales VGG features by 1/12.75: (1/12.75)^2 on the MSE
        adversarial_weight=1e-3,
        init_from="srresnet_paper",
        **_PAPER,
    ),
    # RRDB PSNR stage (ESRGAN): L1, Adam 2e-4, HR patches 128, lr halved every 200k.
    "rrdb_psnr_quick": TrainConfig(
        model="rrdbnet", model_kwargs=dict(num_feat=16, num_block=1, num_grow_ch=8), lr=1e-3, **_QUICK
    ),
    "rrdb_psnr_paper": TrainConfig(
        model="rrdbnet",
        patch_size=128,
        total_steps=1_000_000,
        lr=2e-4,
        milestones=[200_000, 400_000, 600_000, 800_000],
        **_PAPER,
    ),
    "rrdb_psnr_course": TrainConfig(
        model="rrdbnet",
        model_kwargs=dict(num_feat=32, num_block=3, num_grow_ch=16),
        lr=5e-4,
        patch_size=64,
        batch_size=8,
        total_steps=16000,
        milestones=[11000, 14000],
        **_COURSE_PSNR,
    ),
    # ESRGAN: conv5_4 perceptual (L1) + 5e-3 RaGAN + 1e-2 L1, Adam 1e-4 (0.9, 0.99), from the PSNR RRDB.
    "esrgan_quick": TrainConfig(
        mode="esrgan",
        model="rrdbnet",
        model_kwargs=dict(num_feat=16, num_block=1, num_grow_ch=8),
        discriminator="vgg_discriminator",
        discriminator_kwargs=dict(num_feat=16, input_size=64, adaptive_pool=True),
        lr=1e-4,
        betas=(0.9, 0.99),
        pixel_weight=1e-2,
        perceptual="conv54",
        adversarial_weight=5e-3,
        **_QUICK_GAN,
    ),
    "esrgan_paper": TrainConfig(
        mode="esrgan",
        model="rrdbnet",
        discriminator="vgg_discriminator",
        patch_size=128,
        total_steps=400_000,
        lr=1e-4,
        betas=(0.9, 0.99),
        milestones=[50_000, 100_000, 200_000, 300_000],
        pixel_weight=1e-2,
        perceptual="conv54",
        adversarial_weight=5e-3,
        init_from="rrdb_psnr_paper",
        **_PAPER,
    ),
}
# Course GAN fine-tunes: short, from the course PSNR models (SRGAN's generator is the course MSRResNet).
# ImageNet VGG19 was not available offline where they were trained: SRGAN uses the paper's SRGAN-MSE variant
# (pixel MSE content, no VGG; name "nopercep"), ESRGAN a random-weight VGG19 conv5_4 term ("conv54random").
PRESETS["srgan_course"] = replace(
    PRESETS["srgan_paper"],
    **_COURSE,
    model=PRESETS["srresnet_course"].model,
    model_kwargs=PRESETS["srresnet_course"].model_kwargs,
    discriminator_kwargs=dict(num_feat=32),
    patch_size=96,
    batch_size=8,
    total_steps=200,
    milestones=[],
    pixel_weight=1.0,
    perceptual="none",
    perceptual_fallback="random",
    val_every=50,
    ckpt_every=50,
    num_workers=0,
    init_from="srresnet_course",
)
PRESETS["esrgan_course"] = replace(
    PRESETS["esrgan_paper"],
    **_COURSE,
    model_kwargs=PRESETS["rrdb_psnr_course"].model_kwargs,
    discriminator_kwargs=dict(num_feat=32, input_size=64, adaptive_pool=True),
    patch_size=64,
    batch_size=4,
    total_steps=200,
    milestones=[],
    perceptual_fallback="random",
    val_every=50,
    ckpt_every=50,
    num_workers=0,
    init_from="rrdb_psnr_course",
)


def describe(cfg: TrainConfig) -> str:
    """The config as one JSON line (for logs and model cards)."""
    return json.dumps(to_dict(cfg), sort_keys=False)
