"""What a run is built from: the process group and device, the datasets, the perceptual loss, and the trained
objects (generator, discriminator, EMA copy, optimisers, schedules, the update) in ``build_parts``.

``train`` calls these once, before its loop; benchmarks and notebooks call them to get the same objects.
"""

from __future__ import annotations

import bisect
import copy
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import ConcatDataset, Dataset

from srlib import losses as L
from srlib.hub import resolve_model
from srlib.models import build_model
from srlib.train.checkpoint import load_generator_state, load_matching, unwrap
from srlib.train.config import PRESETS, TrainConfig, perceptual_tag, run_name
from srlib.train.step import Step

# ------------------------------------------------------------------------------------------ process


def distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank); joins the process group when started by torchrun or spawn."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if world > 1:
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0"))
    return 0, 1, 0


def train_device(cfg: TrainConfig, local_rank: int) -> torch.device:
    """``cfg.device``; "auto" is this rank's GPU when there is one, else the CPU."""
    if cfg.device == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    return torch.device(cfg.device)


# --------------------------------------------------------------------------------------------- data


def build_datasets(cfg: TrainConfig) -> tuple[Dataset, Dataset]:
    """Training patches (all ``train_sets`` joined) and full validation images, from ``srlib.data``."""
    from srlib.data import SRDataset, resolve_dataset
    from srlib.train.teacher import teacher_outputs

    train_sets = [
        SRDataset(
            resolve_dataset(name),
            cfg.scale,
            patch_size=cfg.patch_size,
            degradation=cfg.degradation,
            augment=True,
            cache=True,
            seed=cfg.seed,
            repeat=cfg.repeat,
            teacher_dir=teacher_outputs(cfg.teacher, name, cfg.scale) if cfg.teacher else None,
        )
        for name in cfg.train_sets
    ]
    val = SRDataset(
        resolve_dataset(cfg.val_set),
        cfg.scale,
        patch_size=None,
        degradation=cfg.degradation,
        augment=False,
        cache=True,
        seed=cfg.seed,
    )
    return (train_sets[0] if len(train_sets) == 1 else ConcatDataset(train_sets)), val


# ------------------------------------------------------------------------------------------- models


def resolve_init(init_from: str, out_root: str) -> Path:
    """A weight file, or a preset name meaning that preset's best weights under ``out_root``."""
    if init_from in PRESETS:
        path = Path(out_root) / run_name(PRESETS[init_from]) / "best.safetensors"
        if not path.is_file():
            raise FileNotFoundError(f"init_from={init_from!r}: train that preset first ({path} is missing)")
        return path
    if not Path(init_from).is_file():
        raise FileNotFoundError(f"init_from={init_from!r} is neither a preset nor a file")
    return Path(init_from)


def build_perceptual(cfg: TrainConfig) -> tuple[nn.Module | None, str]:
    """The perceptual loss and a label saying what it is made of (``nopercep``, ``conv54random``, ...).

    ImageNet VGG19 may be unavailable offline: ``perceptual_fallback`` then decides, loudly: "error"
    stops, "random" uses a random-weight VGG19 (features without ImageNet meaning), "none" drops the term.
    """
    if cfg.mode == "psnr" or cfg.perceptual == "none" or cfg.perceptual_weight == 0:
        return None, "nopercep"
    if cfg.perceptual == "dfeat":
        return None, "dfeat"  # feature matching: built on the discriminator by build_parts
    if cfg.perceptual == "gradvar":
        return L.GradientVarianceLoss(), "gradvar"  # hand-made: no pretrained network involved
    if cfg.perceptual == "srfeat":  # a zoo model (fetched from the package index once) or a weights file
        return L.SRNetFeatureLoss(resolve_model(cfg.perceptual_net), cfg.perceptual_blocks), perceptual_tag(cfg)
    weights = cfg.perceptual_weights
    if weights == "imagenet" and not L.vgg19_weights_available():
        message = f"ImageNet VGG19 weights are not available ({L.vgg19_weights_path()} is missing)"
        if cfg.perceptual_fallback == "error":
            raise FileNotFoundError(f"{message}; put them there, or set perceptual_fallback=random or none")
        weights = cfg.perceptual_fallback
        warnings.warn(f"{message}: the perceptual term uses {weights!r} instead (run name says so)", stacklevel=2)
    label = perceptual_tag(cfg, weights)
    if weights == "none":
        return None, label
    factory = L.srgan_vgg54 if cfg.perceptual == "vgg54" else L.esrgan_perceptual
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "VGGFeatureExtractor with random weights")  # labelled above
        return factory(weights=weights), label


def lr_factor(step: int, warmup_steps: int, milestones: list[int], gamma: float) -> float:
    """MultiStepLR's rule (times gamma at each milestone passed) after a linear warm-up."""
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
    return warm * gamma ** bisect.bisect_right(sorted(milestones), step)


@dataclass
class Parts:
    """The trained objects of one run; a checkpoint holds the state of each (``srlib.train.checkpoint``)."""

    G: nn.Module  # in DistributedDataParallel when world > 1
    D: nn.Module | None  # GAN modes only
    ema: nn.Module | None  # ema_decay > 0 only: the moving average of G's weights
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None
    sched_g: torch.optim.lr_scheduler.LambdaLR
    sched_d: torch.optim.lr_scheduler.LambdaLR | None
    schedule: Callable[[int], float]  # step -> lr factor (warm-up, then milestones)
    update: Step  # update(lr_img, hr_img) trains one batch
    perceptual_label: str  # what the perceptual term is made of, for the run name

    @property
    def eval_model(self) -> nn.Module:
        """What is validated and saved: the EMA copy when there is one, else G."""
        return self.ema if self.ema is not None else unwrap(self.G)


def build_parts(cfg: TrainConfig, device: torch.device, rank: int = 0, world: int = 1, local_rank: int = 0) -> Parts:
    """Everything ``cfg`` trains, on ``device``, G initialised from ``cfg.init_from`` when it is set.

    The models draw their initial weights from the global RNG (``srlib.setup(cfg.seed)`` first), in this
    order: the perceptual network, G, D. Changing the order changes the weights a seed gives.
    """
    perceptual, percep_label = build_perceptual(cfg)
    G = build_model(cfg.model, scale=cfg.scale, **cfg.model_kwargs).to(device)
    if cfg.init_from:
        skipped = load_matching(G, load_generator_state(resolve_init(cfg.init_from, cfg.out_root)))
        if skipped and rank == 0:
            print(
                f"init_from {cfg.init_from}: kept the fresh initialisation of {len(skipped)} tensors "
                f"({', '.join(skipped[:4])}{', ...' if len(skipped) > 4 else ''})"
            )
    D = build_model(cfg.discriminator, **cfg.discriminator_kwargs).to(device) if cfg.mode != "psnr" else None
    if perceptual is not None:
        perceptual = perceptual.to(device)
    elif percep_label == "dfeat":
        perceptual = L.DiscriminatorFeatureLoss(D)
    if cfg.channels_last:
        G = G.to(memory_format=torch.channels_last)
        D = D.to(memory_format=torch.channels_last) if D is not None else None
    ema = copy.deepcopy(G).requires_grad_(False) if cfg.ema_decay > 0 else None
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=cfg.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d or cfg.lr, betas=cfg.betas) if D is not None else None

    def schedule(step: int) -> float:
        return lr_factor(step, cfg.warmup_steps, cfg.milestones, cfg.gamma)

    sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, schedule)
    sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, schedule) if opt_d is not None else None
    if world > 1:
        G = nn.parallel.DistributedDataParallel(G, device_ids=[local_rank] if device.type == "cuda" else None)
        if D is not None:  # same start on every rank; gradients are averaged in the step
            for tensor in D.state_dict().values():
                dist.broadcast(tensor, 0)
    update = Step(cfg, G, D, opt_g, opt_d, perceptual, device, world, ema)
    return Parts(G, D, ema, opt_g, opt_d, sched_g, sched_d, schedule, update, percep_label)
