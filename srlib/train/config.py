"""Training configurations: one dataclass, YAML in and out, and named presets per family and size.

The presets are commented YAML files, ``srlib/train/presets/<name>.yaml``, each listing the keys in which it
differs from ``TrainConfig``'s defaults (or from the preset its ``base:`` names); ``PRESETS`` maps each name to
its TrainConfig. ``quick`` presets run in minutes on a 2-core CPU (the notebook, CI); ``paper`` presets are the
published settings (patch size, batch 16, iterations, learning-rate milestones) for a GPU; ``course`` presets
made the checkpoints in ``srlib/course_weights/`` (T91 + BSD200, x4 bicubic, on a shared 2-core CPU).
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
    model: str = "edsr_baseline"  # a name from srlib.models.ARCHITECTURES
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
    pixel_low_pass: float = 0.0  # sigma > 0 (GAN modes): the pixel loss compares Gaussian-blurred SR and HR only
    # "none", "vgg54" (SRGAN: relu5_4, MSE), "conv54" (ESRGAN: conv5_4, L1), "dfeat" (D features),
    # "gradvar" (gradient variance per 8x8 patch: no network), "srfeat" (a pretrained RRDBNet's trunk features)
    perceptual: str = "none"
    perceptual_net: str = "realsr-df2k"  # srfeat: the RRDBNet (a zoo name or a weights file)
    perceptual_blocks: int = 1  # srfeat: how many of its RRDBs (after conv_first) give features
    perceptual_weights: str = "imagenet"  # "imagenet", "random" (structure only) or a path to VGG19 weights
    perceptual_fallback: str = "error"  # when ImageNet VGG19 is missing: "error", "random" or "none"
    perceptual_weight: float = 1.0
    adversarial_weight: float = 0.0  # SRGAN 1e-3, ESRGAN 5e-3
    artifact_weight: float = 0.0  # GAN modes with ema_decay: LDL's artefact term (Liang et al. 2022), paper 1
    # knowledge distillation: L1 to a pretrained teacher's output on the same LR (srlib.train.teacher)
    teacher: str = ""  # a zoo name or weights file; "" is off
    teacher_weight: float = 1.0
    teacher_high_pass: float = 0.0  # sigma > 0: compare only the high-passed images (HR keeps the rest)
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
        if self.perceptual not in PERCEPTUAL_TERMS:
            raise ValueError(f"perceptual must be one of {', '.join(PERCEPTUAL_TERMS)}, not {self.perceptual!r}")
        if self.perceptual_fallback not in ("error", "random", "none"):
            raise ValueError("perceptual_fallback must be 'error', 'random' or 'none'")
        if self.amp not in AMP_MODES:
            raise ValueError(f"amp must be one of {', '.join(AMP_MODES)}, not {self.amp!r}")
        if self.artifact_weight and (self.mode == "psnr" or not self.ema_decay):
            raise ValueError("artifact_weight needs a GAN mode and ema_decay > 0: its map compares G with its EMA")
        if self.pixel_low_pass and self.mode == "psnr" and not self.teacher:
            raise ValueError("pixel_low_pass needs a GAN mode or a teacher: only they fill in the detail it frees")
        if self.teacher and self.degradation != "bicubic":
            raise ValueError("teacher needs degradation 'bicubic': its outputs are computed once, on the clean LR")
        if self.patch_size % self.scale:
            raise ValueError(f"patch_size {self.patch_size} must be a multiple of the scale {self.scale}")
        self.betas = tuple(self.betas)
        self.train_sets = list(self.train_sets) if not isinstance(self.train_sets, str) else [self.train_sets]


AMP_MODES = ("none", "bf16", "fp16", "auto")
PERCEPTUAL_TERMS = ("none", "vgg54", "conv54", "dfeat", "gradvar", "srfeat")


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
    values = _read_yaml(path)
    base = values.pop("base", None)
    start = load_config(base) if base else TrainConfig()
    return replace(start, **values)


def _read_yaml(path: Path) -> dict:
    values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: a config file holds `key: value` lines, not a {type(values).__name__}")
    return values


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
    from srlib.models import ARCHITECTURES

    key = cfg.model
    defaults = ARCHITECTURES[key][1] if key in ARCHITECTURES else {}
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
    if cfg.teacher:  # e.g. "kdrealsrdf2k": distilled from RealSR DF2K
        parts.append(f"kd{Path(cfg.teacher).stem.replace('-', '').replace('_', '')}")
    if cfg.tag:
        parts.append(cfg.tag)
    return "_".join(parts)


def perceptual_tag(cfg: TrainConfig, weights: str | None = None) -> str:
    """``vgg54imagenet``, ``conv54random``, ``nopercep``: what the perceptual term is made of."""
    if cfg.perceptual == "none" or cfg.perceptual_weight == 0 or weights == "none":
        return "nopercep"
    if cfg.perceptual in ("dfeat", "gradvar"):
        return cfg.perceptual  # the discriminator's own features, or gradient statistics: no VGG weights involved
    if cfg.perceptual == "srfeat":  # e.g. "srfeat1realsrdf2k": one RRDB of RealSR DF2K
        return f"srfeat{cfg.perceptual_blocks}{Path(cfg.perceptual_net).stem.replace('-', '').replace('_', '')}"
    weights = weights or cfg.perceptual_weights
    label = weights if weights in ("imagenet", "random") else "file"
    return f"{cfg.perceptual}{label}"


# --------------------------------------------------------------------------------------------- presets

PRESETS_DIR = Path(__file__).with_name("presets")
# The order of ``PRESETS`` (and of ``srlib train --help``): by family, in the order the course meets them.
# A file not listed here still loads, after these.
PRESET_ORDER = (
    *("edsr_quick", "edsr_x2_paper", "edsr_paper", "edsr_baseline_paper", "edsr_course"),
    *("srresnet_quick", "srresnet_paper", "srresnet_course", "srgan_quick", "srgan_paper"),
    *("rrdb_psnr_quick", "rrdb_psnr_paper", "rrdb_psnr_course", "esrgan_quick", "esrgan_paper"),
    *("srgan_course", "esrgan_course"),
)


def read_presets(folder: Path = PRESETS_DIR) -> dict[str, TrainConfig]:
    """Every ``<folder>/<name>.yaml`` as a TrainConfig: its keys on top of TrainConfig's defaults, or on top of
    the preset its ``base:`` names. Errors name the file."""
    files = {path.stem: path for path in sorted(folder.glob("*.yaml"))}
    if not files:
        raise FileNotFoundError(f"no training presets (*.yaml) in {folder}: reinstall srlib, they are package data")
    presets: dict[str, TrainConfig] = {}

    def build(name: str, chain: tuple = ()) -> TrainConfig:
        if name in presets:
            return presets[name]
        path = files[name]
        values = _read_yaml(path)
        base = values.pop("base", None)
        if base is not None and (base not in files or base in chain):
            raise ValueError(f"{path}: base {base!r} is not another preset in {folder}")
        start = build(base, (*chain, name)) if base else TrainConfig()
        try:
            presets[name] = replace(start, **values)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
        return presets[name]

    order = [name for name in PRESET_ORDER if name in files] + sorted(set(files) - set(PRESET_ORDER))
    return {name: build(name) for name in order}


PRESETS: dict[str, TrainConfig] = read_presets()


def describe(cfg: TrainConfig) -> str:
    """The config as one JSON line (for logs and model cards)."""
    return json.dumps(to_dict(cfg), sort_keys=False)
