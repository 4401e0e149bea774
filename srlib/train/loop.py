"""The training loop: PSNR-oriented (L1/MSE) and GAN (SRGAN, ESRGAN), one plain loop with one hook.

``train(cfg)`` runs a ``TrainConfig`` to ``cfg.total_steps`` and returns a ``TrainResult``. Under
``torchrun --nproc_per_node=N`` the same call trains with DistributedDataParallel. Ctrl-C (or SIGTERM)
finishes the current step, saves a checkpoint and returns; ``train(cfg, resume=True)`` continues exactly.
A resumed run may change only ``RESUME_CHANGEABLE`` settings (the schedule and bookkeeping), each said
aloud; a diverged run keeps the newest checkpoint whose loss was finite as ``checkpoints/last.pt``.
"""

from __future__ import annotations

import bisect
import copy
import json
import math
import os
import signal
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, Dataset, DistributedSampler

from srlib import losses as L
from srlib.models import build_model
from srlib.train.checkpoint import (
    atomic_save,
    load_checkpoint,
    load_generator_state,
    load_matching,
    rng_state,
    save_generator,
    set_rng_state,
    unwrap,
)
from srlib.train.config import PRESETS, TrainConfig, perceptual_tag, run_name, save_config, to_dict
from srlib.train.log import CSVLog, plot_curves
from srlib.train.step import Step, ema_update


@dataclass
class TrainResult:
    run_dir: Path
    name: str
    model: nn.Module  # the generator (its EMA copy when ema_decay > 0), on the CPU, in eval mode
    step: int
    best_psnr: float
    best_step: int
    wall_s: float
    patches_per_s: float
    stopped_early: bool


# ------------------------------------------------------------------------------------------ set-up


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank); joins the process group when started by torchrun or spawn."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if world > 1:
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0"))
    return 0, 1, 0


def _device(cfg: TrainConfig, local_rank: int) -> torch.device:
    if cfg.device == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    return torch.device(cfg.device)


def _resolve_hr_dir(name: str) -> Path:
    """``srlib.data.resolve_dataset``, plus ``<root>/<name>/`` holding the images directly (T91, BSD200)."""
    from srlib import data

    try:
        return Path(data.resolve_dataset(name))
    except FileNotFoundError:
        for root in data.data_roots():
            if (root / name).is_dir() and data.list_images(root / name):
                return root / name
        raise


def _set_epoch(dataset: Dataset, epoch: int) -> None:
    """Tell the dataset(s) the epoch: ``SRDataset`` draws crops and flips from (seed, epoch, index)."""
    for part in dataset.datasets if isinstance(dataset, ConcatDataset) else [dataset]:
        if hasattr(part, "set_epoch"):
            part.set_epoch(epoch)


def build_datasets(cfg: TrainConfig) -> tuple[Dataset, Dataset]:
    """Training patches (all ``train_sets`` joined) and full validation images, from ``srlib.data``."""
    from srlib.data import SRDataset

    train_sets = [
        SRDataset(
            _resolve_hr_dir(name),
            cfg.scale,
            patch_size=cfg.patch_size,
            degradation=cfg.degradation,
            augment=True,
            cache=True,
            seed=cfg.seed,
            repeat=cfg.repeat,
        )
        for name in cfg.train_sets
    ]
    val = SRDataset(
        _resolve_hr_dir(cfg.val_set),
        cfg.scale,
        patch_size=None,
        degradation=cfg.degradation,
        augment=False,
        cache=True,
        seed=cfg.seed,
    )
    return (train_sets[0] if len(train_sets) == 1 else ConcatDataset(train_sets)), val


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


# Settings a resumed run may change: the schedule from the resumed step on, bookkeeping and speed. Any other
# change (model, data, losses, seed, betas, ...) would make the checkpoint's state mean something else.
RESUME_CHANGEABLE = (
    *("total_steps", "lr", "lr_d", "milestones", "gamma", "warmup_steps"),
    *("max_loss", "val_every", "ckpt_every", "log_every", "val_max_images", "out_root"),
    *("device", "num_workers", "threads"),
)
_SCHEDULE_KEYS = {"lr", "lr_d", "milestones", "gamma", "warmup_steps"}


def resume_changes(saved: dict, cfg: TrainConfig) -> dict[str, tuple]:
    """The settings in which ``cfg`` differs from a checkpoint's config: ``{key: (old, new)}``.

    Raises ValueError when one of them is not in ``RESUME_CHANGEABLE``. Keys the checkpoint does not have
    (added to TrainConfig later) are not compared.
    """
    current = to_dict(cfg)
    changes = {key: (saved[key], value) for key, value in current.items() if key in saved and saved[key] != value}
    fixed = [f"{key} {old!r} -> {new!r}" for key, (old, new) in changes.items() if key not in RESUME_CHANGEABLE]
    if fixed:
        raise ValueError(
            f"--resume: the run was trained with other settings, which a resumed run cannot change: "
            f"{', '.join(fixed)}. Drop those overrides, or start a new run (another --run-dir). A resumed run "
            f"may change: {', '.join(RESUME_CHANGEABLE)}"
        )
    return changes


def _restart_schedule(optimizer, scheduler, base_lr: float, factor: float) -> None:
    """Give a resumed optimiser a new base lr / schedule: lr = base_lr * factor from the next step on."""
    scheduler.base_lrs = [base_lr] * len(optimizer.param_groups)
    for group in optimizer.param_groups:
        group["initial_lr"] = base_lr
        group["lr"] = base_lr * factor
    scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]


def _read_resume_checkpoint(ckpt_path: Path, prev_path: Path, named_run_dir: bool) -> dict:
    """The checkpoint to resume from; errors name the file and say how to use ``prev.pt`` instead."""
    if not ckpt_path.is_file():
        hint = ""
        if prev_path.is_file():  # a crash between the two renames of a save
            hint = f"; the one before is kept at {prev_path}: rename it to last.pt to resume from it"
        if not named_run_dir:  # the default folder is named after total_steps, batch_size, patch_size, ...
            hint += "; if you changed total_steps (part of the run name), pass the run's folder as --run-dir"
        raise FileNotFoundError(f"--resume: no checkpoint at {ckpt_path}{hint}")
    try:
        return load_checkpoint(ckpt_path)
    except ValueError as error:
        if not prev_path.is_file():
            raise
        raise ValueError(
            f"--resume: {error}. The checkpoint before it is kept: rename {prev_path} to {ckpt_path.name} "
            "and resume again (the steps since that checkpoint are run again)"
        ) from None


def _keep_finite_checkpoint(ckpt_path: Path, prev_path: Path, saved_step: int | None, step: int) -> str:
    """After a non-finite (or too large) loss at ``step``: leave at ``ckpt_path`` the newest checkpoint whose
    loss was finite, and say which one it is.

    The loss of step k is computed from the weights after step k - 1, so a checkpoint written at step - 1
    holds the weights that diverged: it is moved to ``diverged.pt`` and ``prev.pt`` (if any) takes its place.
    """
    note = ""
    if saved_step == step - 1 and ckpt_path.is_file():
        diverged = ckpt_path.with_name("diverged.pt")
        os.replace(ckpt_path, diverged)
        note = f" (the step-{saved_step} checkpoint already held the diverged weights: moved to {diverged.name})"
        if prev_path.is_file():
            os.replace(prev_path, ckpt_path)
    if not ckpt_path.is_file():
        return (
            f"No checkpoint with a finite loss was written{note}: start the run again with a lower lr "
            "(--set lr=...) or a warm-up (--set warmup_steps=...)."
        )
    return (
        f"The last checkpoint with a finite loss is {ckpt_path} (step {load_checkpoint(ckpt_path)['step']}){note}; "
        "resume from it with a lower lr (--resume --set lr=...)."
    )


def lr_factor(step: int, warmup_steps: int, milestones: list[int], gamma: float) -> float:
    """MultiStepLR's rule (times gamma at each milestone passed) after a linear warm-up."""
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
    return warm * gamma ** bisect.bisect_right(sorted(milestones), step)


# -------------------------------------------------------------------------------------- validation


@torch.no_grad()
def validate(
    model: nn.Module, dataset: Dataset, scale: int, device: torch.device, max_images: int = 0
) -> tuple[float, float]:
    """Mean Y-PSNR / SSIM (crop = scale) over full images; outputs clamped and quantised to 8 bits."""
    from srlib.metrics import psnr, ssim

    was_training = model.training
    model.eval()
    psnrs, ssims = [], []
    count = len(dataset) if not max_images else min(max_images, len(dataset))
    for i in range(count):
        item = dataset[i]
        sr = model(item["lr"][None].to(device)).float().clamp(0, 1)
        sr = (sr * 255).round() / 255  # as if saved to PNG
        hr = item["hr"][None].to(device)
        psnrs.append(float(psnr(sr, hr, crop_border=scale)[0]))
        ssims.append(float(ssim(sr, hr, crop_border=scale)[0]))
    model.train(was_training)
    return sum(psnrs) / len(psnrs), sum(ssims) / len(ssims)


# ------------------------------------------------------------------------------------------- loop


def _batches(dataset, cfg: TrainConfig, epoch: int, start: int, rank: int, world: int):
    """The batches of one epoch from batch ``start`` on: a deterministic function of (seed, epoch, start)."""
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed, drop_last=True)
    sampler.set_epoch(epoch)
    _set_epoch(dataset, epoch)
    indices = list(sampler)[start * cfg.batch_size :]
    generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch * 1009 + start)  # worker seeds
    return DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        sampler=indices,
        num_workers=cfg.num_workers,
        drop_last=True,
        generator=generator,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
    )


class _StopFlag:
    """Ctrl-C / SIGTERM set a flag: the loop finishes its step, saves, and returns. A second Ctrl-C aborts."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def train(
    cfg: TrainConfig,
    run_dir: str | Path | None = None,
    resume: bool = False,
    hook=None,
    datasets: tuple[Dataset, Dataset] | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train ``cfg``; checkpoints, log and weights go to ``run_dir`` (default ``out_root/run_name``).

    ``hook(step, losses)`` runs after every step on every rank; returning True stops the run (saved, as
    for Ctrl-C). ``datasets`` = (train, val) replaces the ones ``cfg`` names (tests use tiny ones).
    """
    rank, world, local_rank = _distributed()
    device = _device(cfg, local_rank)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    import srlib

    srlib.setup(cfg.seed, plots=False)  # same seed on every rank: identical initial weights

    # ---- models, losses, optimisers
    perceptual, percep_label = build_perceptual(cfg)
    name = run_name(cfg, percep_label)
    named_run_dir = run_dir is not None
    run_dir = Path(run_dir) if run_dir is not None else Path(cfg.out_root) / name
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
    step_fn = Step(cfg, G, D, opt_g, opt_d, perceptual, device, world)
    update = step_fn.psnr_step if cfg.mode == "psnr" else step_fn.gan_step

    # ---- data
    train_set, val_set = datasets if datasets is not None else build_datasets(cfg)
    steps_per_epoch = len(train_set) // world // cfg.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{len(train_set)} training patches make no batch of {cfg.batch_size} on {world} ranks")
    if world > 1:
        srlib.setup(cfg.seed + rank, plots=False)  # different random crops on each rank

    # ---- state: fresh or from the last checkpoint
    ckpt_path, prev_path = run_dir / "checkpoints" / "last.pt", run_dir / "checkpoints" / "prev.pt"
    step, epoch, position, best = 0, 0, 0, {"psnr": -math.inf, "step": 0}
    wall_before = 0.0  # training seconds of the earlier sessions of a resumed run
    saved_step = None  # the step of the checkpoint now at ckpt_path, written or resumed by this session
    if resume:
        state = _read_resume_checkpoint(ckpt_path, prev_path, named_run_dir)
        changes = resume_changes(state.get("config") or {}, cfg)  # refuses what cannot change, before any write
        unwrap(G).load_state_dict(state["G"])
        opt_g.load_state_dict(state["opt_g"])
        sched_g.load_state_dict(state["sched_g"])
        if D is not None:
            D.load_state_dict(state["D"])
            opt_d.load_state_dict(state["opt_d"])
            sched_d.load_state_dict(state["sched_d"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        step_fn.scaler.load_state_dict(state["scaler"])
        step, epoch, position, best = state["step"], state["epoch"], state["position"], state["best"]
        wall_before = state.get("wall_s", 0.0)
        set_rng_state(state["rng"][rank])
        saved_step = step
        if _SCHEDULE_KEYS & set(changes):
            _restart_schedule(opt_g, sched_g, cfg.lr, schedule(step))
            if opt_d is not None:
                _restart_schedule(opt_d, sched_d, cfg.lr_d or cfg.lr, schedule(step))
        if changes and rank == 0:
            changed = ", ".join(f"{key} {old!r} -> {new!r}" for key, (old, new) in changes.items())
            print(f"resume at step {step} with changed settings: {changed} (config.yaml says so)")
    elif rank == 0 and ckpt_path.is_file():
        raise FileExistsError(f"{run_dir} already holds a run: pass resume=True (--resume) or another run_dir")

    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
    log = CSVLog(run_dir / "log.csv", resume_step=step if resume else None, enabled=rank == 0)
    weight_meta = {"run": name, "config": to_dict(cfg), "perceptual": percep_label}

    def save_checkpoint() -> None:
        nonlocal saved_step
        rngs = [rng_state()]
        if world > 1:
            rngs = [None] * world
            dist.all_gather_object(rngs, rng_state())
        if rank == 0:
            atomic_save(
                {
                    "G": unwrap(G).state_dict(),
                    "D": D.state_dict() if D is not None else None,
                    "opt_g": opt_g.state_dict(),
                    "opt_d": opt_d.state_dict() if opt_d is not None else None,
                    "sched_g": sched_g.state_dict(),
                    "sched_d": sched_d.state_dict() if sched_d is not None else None,
                    "ema": ema.state_dict() if ema is not None else None,
                    "scaler": step_fn.scaler.state_dict(),
                    "step": step,
                    "epoch": epoch,
                    "position": position,
                    "best": best,
                    "rng": rngs,
                    "config": to_dict(cfg),
                    "run": name,
                    "wall_s": wall_before + time.perf_counter() - t0,  # training seconds so far, all sessions
                },
                ckpt_path,
                previous=prev_path,  # the one before stays, in case this one is ever damaged
            )
        saved_step = step

    eval_model = ema if ema is not None else unwrap(G)
    start_step, t0 = step, time.perf_counter()
    bar = None
    if progress and rank == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.total_steps, initial=step, desc=name[:40], dynamic_ncols=True)
    if rank == 0:
        print(
            f"run {name}: {cfg.mode} mode, perceptual={percep_label}, {world} process(es) on {device}, "
            f"autocast {step_fn.amp}, {len(train_set)} patches/epoch, step {step} -> {cfg.total_steps}"
        )
        if step_fn.amp_note:
            print(step_fn.amp_note)

    # ---- the loop
    stopped = False
    with _StopFlag() as stop:
        while step < cfg.total_steps and not stopped:
            for batch in _batches(train_set, cfg, epoch, position, rank, world):
                lr_img = batch["lr"].to(device, non_blocking=True)
                hr_img = batch["hr"].to(device, non_blocking=True)
                if cfg.channels_last:
                    lr_img = lr_img.contiguous(memory_format=torch.channels_last)
                current_lr = opt_g.param_groups[0]["lr"]
                losses = update(lr_img, hr_img)
                step, position = step + 1, position + 1
                sched_g.step()
                if sched_d is not None:
                    sched_d.step()
                if ema is not None:
                    ema_update(ema, unwrap(G), cfg.ema_decay)

                # every rank sees the same loss and stop request (so all stop together)
                flags = torch.tensor([losses["loss"], float(stop.requested)], device=device)
                if world > 1:
                    dist.all_reduce(flags)
                    flags[0] /= world
                loss = flags[0].item()
                if not math.isfinite(loss) or loss > cfg.max_loss:
                    if bar is not None:
                        bar.close()
                    if rank == 0:
                        kept = _keep_finite_checkpoint(ckpt_path, prev_path, saved_step, step)
                    else:
                        kept = "Rank 0 says which checkpoint is kept."
                    raise RuntimeError(
                        f"loss is {loss:.4g} at step {step} (limit {cfg.max_loss:g}): training diverged and "
                        f"stopped. {kept}"
                    )

                elapsed = time.perf_counter() - t0
                speed = (step - start_step) * cfg.batch_size * world / max(elapsed, 1e-9)
                row = dict(
                    step=step,
                    epoch=epoch,
                    lr=current_lr,
                    patches_per_s=speed,
                    elapsed_s=wall_before + elapsed,
                    **losses,
                )
                if step % cfg.val_every == 0 or step == cfg.total_steps:
                    if rank == 0:
                        row["val_psnr"], row["val_ssim"] = validate(
                            eval_model, val_set, cfg.scale, device, cfg.val_max_images
                        )
                        if row["val_psnr"] > best["psnr"]:
                            best = {"psnr": row["val_psnr"], "step": step}
                            save_generator(
                                eval_model,
                                run_dir / "best.safetensors",
                                {**weight_meta, "step": step, "val_psnr": row["val_psnr"]},
                            )
                    if world > 1:
                        best_list = [best]
                        dist.broadcast_object_list(best_list, 0)
                        best = best_list[0]
                if step % cfg.log_every == 0 or "val_psnr" in row:
                    log.write(**row)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(
                        {
                            k: f"{v:.3g}"
                            for k, v in row.items()
                            if k in ("loss", "pixel", "perceptual", "adversarial", "loss_d", "val_psnr")
                        }
                    )

                stop_now = flags[1].item() > 0 or (hook is not None and hook(step, losses) is True)
                if step % cfg.ckpt_every == 0 or step == cfg.total_steps or stop_now:
                    save_checkpoint()
                if stop_now:
                    stopped = True
                    if rank == 0:
                        print(f"stopped at step {step}; checkpoint saved, continue with resume=True (--resume)")
                if stopped or step >= cfg.total_steps:
                    break
            else:
                epoch, position = epoch + 1, 0

    if bar is not None:
        bar.close()
    wall = time.perf_counter() - t0
    if rank == 0 and not stopped:
        save_generator(eval_model, run_dir / "final.safetensors", {**weight_meta, "step": step})
        fig = plot_curves(run_dir / "log.csv", title=f"{name} (srlib.train)")
        fig.savefig(run_dir / "curves.png")
        import matplotlib.pyplot as plt

        plt.close(fig)
    speed = (step - start_step) * cfg.batch_size * world / max(wall, 1e-9)
    summary = dict(
        run=name,
        step=step,
        best_psnr=best["psnr"],
        best_step=best["step"],
        wall_s=wall_before + wall,  # all sessions of the run
        patches_per_s=speed,  # this session
        world_size=world,
        device=str(device),
        stopped_early=stopped,
    )
    if rank == 0:
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return TrainResult(
        run_dir=run_dir,
        name=name,
        model=copy.deepcopy(eval_model).cpu().eval(),
        step=step,
        best_psnr=best["psnr"],
        best_step=best["step"],
        wall_s=wall_before + wall,
        patches_per_s=speed,
        stopped_early=stopped,
    )
