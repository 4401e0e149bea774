"""The training loop: PSNR-oriented (L1/MSE) and GAN (SRGAN, ESRGAN), one plain loop with one hook.

``train(cfg)`` runs a ``TrainConfig`` to ``cfg.total_steps`` and returns a ``TrainResult``. Under
``torchrun --nproc_per_node=N`` the same call trains with DistributedDataParallel. Ctrl-C (or SIGTERM)
finishes the current step, saves a checkpoint and returns; ``train(cfg, resume=True)`` continues exactly.
A resumed run may change only ``RESUME_CHANGEABLE`` settings (the schedule and bookkeeping), each said
aloud; a diverged run keeps the newest checkpoint whose loss was finite as ``checkpoints/last.pt``.

What the loop calls: ``build.py`` (models, optimisers, data), ``step.py`` (one update), ``checkpoint.py``
(save, resume), ``log.py`` (the CSV log and curves).
"""

from __future__ import annotations

import copy
import json
import math
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, Dataset, DistributedSampler

from srlib.train.build import Parts, build_datasets, build_parts, distributed, train_device
from srlib.train.checkpoint import RunCheckpoints, RunState, save_generator, unwrap
from srlib.train.config import TrainConfig, run_name, save_config, to_dict
from srlib.train.log import CSVLog, plot_curves
from srlib.train.step import ema_update


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
    import srlib

    rank, world, local_rank = distributed()
    device = train_device(cfg, local_rank)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    srlib.setup(cfg.seed, plots=False)  # same seed on every rank: identical initial weights
    parts = build_parts(cfg, device, rank, world, local_rank)
    name = run_name(cfg, parts.perceptual_label)
    named_run_dir = run_dir is not None
    run_dir = Path(run_dir) if named_run_dir else Path(cfg.out_root) / name
    train_set, val_set = datasets if datasets is not None else build_datasets(cfg)
    if len(train_set) // world // cfg.batch_size == 0:
        raise ValueError(f"{len(train_set)} training patches make no batch of {cfg.batch_size} on {world} ranks")
    if world > 1:
        srlib.setup(cfg.seed + rank, plots=False)  # different random crops on each rank

    # ---- state: fresh, or from the last checkpoint
    checkpoints = RunCheckpoints(run_dir)
    if resume:
        run = checkpoints.resume(parts, cfg, rank, named_run_dir)
    elif rank == 0 and checkpoints.last.is_file():
        raise FileExistsError(f"{run_dir} already holds a run: pass resume=True (--resume) or another run_dir")
    else:
        run = RunState()
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
    log = CSVLog(run_dir / "log.csv", resume_step=run.step if resume else None, enabled=rank == 0)
    weight_meta = {"run": name, "config": to_dict(cfg), "perceptual": parts.perceptual_label}
    start_step, t0 = run.step, time.perf_counter()
    bar = _progress_bar(cfg, name, run.step) if progress and rank == 0 else None
    if rank == 0:
        _announce(name, cfg, parts, world, device, len(train_set), run.step)

    # ---- the loop
    stopped = False
    with _StopFlag() as stop:
        while run.step < cfg.total_steps and not stopped:
            for batch in _batches(train_set, cfg, run.epoch, run.position, rank, world):
                lr_img, hr_img, teacher_img = _to_device(batch, device, cfg.channels_last)
                current_lr = parts.opt_g.param_groups[0]["lr"]
                losses = parts.update(lr_img, hr_img, teacher_img)
                run.step, run.position = run.step + 1, run.position + 1
                parts.sched_g.step()
                if parts.sched_d is not None:
                    parts.sched_d.step()
                if parts.ema is not None:
                    ema_update(parts.ema, unwrap(parts.G), cfg.ema_decay)

                loss, stop_requested = _agree(losses["loss"], stop.requested, device, world)
                if not math.isfinite(loss) or loss > cfg.max_loss:
                    if bar is not None:
                        bar.close()
                    raise _diverged(loss, run.step, cfg.max_loss, checkpoints, rank)

                elapsed = time.perf_counter() - t0
                speed = (run.step - start_step) * cfg.batch_size * world / max(elapsed, 1e-9)
                row = dict(step=run.step, epoch=run.epoch, lr=current_lr, patches_per_s=speed,
                           elapsed_s=run.wall_before + elapsed, **losses)  # fmt: skip
                if run.step % cfg.val_every == 0 or run.step == cfg.total_steps:
                    row.update(
                        _validate_and_keep_best(parts, val_set, cfg, device, run, rank, world, run_dir, weight_meta)
                    )
                if run.step % cfg.log_every == 0 or "val_psnr" in row:
                    log.write(**row)
                _show(bar, row)

                stop_now = stop_requested or (hook is not None and hook(run.step, losses) is True)
                if run.step % cfg.ckpt_every == 0 or run.step == cfg.total_steps or stop_now:
                    checkpoints.save(parts, run, cfg, name, run.wall_before + time.perf_counter() - t0, rank, world)
                if stop_now:
                    stopped = True
                    if rank == 0:
                        print(f"stopped at step {run.step}; checkpoint saved, continue with resume=True (--resume)")
                if stopped or run.step >= cfg.total_steps:
                    break
            else:
                run.epoch, run.position = run.epoch + 1, 0

    if bar is not None:
        bar.close()
    wall = time.perf_counter() - t0
    result = TrainResult(
        run_dir=run_dir,
        name=name,
        model=copy.deepcopy(parts.eval_model).cpu().eval(),
        step=run.step,
        best_psnr=run.best["psnr"],
        best_step=run.best["step"],
        wall_s=run.wall_before + wall,  # all sessions of the run
        patches_per_s=(run.step - start_step) * cfg.batch_size * world / max(wall, 1e-9),  # this session
        stopped_early=stopped,
    )
    if rank == 0:
        _write_outputs(result, parts.eval_model, weight_meta, world, device)
    if world > 1:
        # all ranks leave together: a rank that tears down its process group while rank 0 still writes the
        # outputs can abort under gloo ("terminate called without an active exception", seen in CI once)
        dist.barrier()
    return result


# ------------------------------------------------------------------------------------------ the loop's helpers


def _announce(name: str, cfg: TrainConfig, parts: Parts, world: int, device, patches: int, step: int) -> None:
    print(
        f"run {name}: {cfg.mode} mode, perceptual={parts.perceptual_label}, {world} process(es) on {device}, "
        f"autocast {parts.update.amp}, {patches} patches/epoch, step {step} -> {cfg.total_steps}"
    )
    if parts.update.amp_note:
        print(parts.update.amp_note)


def _to_device(batch: dict, device: torch.device, channels_last: bool):
    """(lr, hr, teacher) on ``device``; teacher is None unless the run distils (``cfg.teacher``)."""
    lr_img = batch["lr"].to(device, non_blocking=True)
    hr_img = batch["hr"].to(device, non_blocking=True)
    teacher_img = batch["teacher"].to(device, non_blocking=True) if "teacher" in batch else None
    if channels_last:
        lr_img = lr_img.contiguous(memory_format=torch.channels_last)
    return lr_img, hr_img, teacher_img


def _agree(loss: float, stop_requested: bool, device: torch.device, world: int) -> tuple[float, bool]:
    """The loss averaged over the ranks and whether any rank was asked to stop: all ranks stop together."""
    flags = torch.tensor([loss, float(stop_requested)], device=device)
    if world > 1:
        dist.all_reduce(flags)
        flags[0] /= world
    return flags[0].item(), flags[1].item() > 0


def _diverged(loss: float, step: int, max_loss: float, checkpoints: RunCheckpoints, rank: int) -> RuntimeError:
    """The error that stops a diverged run; rank 0 first leaves the last checkpoint with a finite loss."""
    kept = checkpoints.keep_finite(step) if rank == 0 else "Rank 0 says which checkpoint is kept."
    return RuntimeError(
        f"loss is {loss:.4g} at step {step} (limit {max_loss:g}): training diverged and stopped. {kept}"
    )


def _validate_and_keep_best(
    parts: Parts, val_set, cfg: TrainConfig, device, run: RunState, rank: int, world: int, run_dir: Path, meta: dict
) -> dict[str, float]:
    """Rank 0 validates; a new best PSNR is saved as ``best.safetensors``. Every rank then knows the best."""
    scores = {}
    if rank == 0:
        scores["val_psnr"], scores["val_ssim"] = validate(parts.eval_model, val_set, cfg.scale, device,
                                                          cfg.val_max_images)  # fmt: skip
        if scores["val_psnr"] > run.best["psnr"]:
            run.best = {"psnr": scores["val_psnr"], "step": run.step}
            save_generator(parts.eval_model, run_dir / "best.safetensors",
                           {**meta, "step": run.step, "val_psnr": scores["val_psnr"]})  # fmt: skip
    if world > 1:
        best_list = [run.best]
        dist.broadcast_object_list(best_list, 0)
        run.best = best_list[0]
    return scores


def _progress_bar(cfg: TrainConfig, name: str, step: int):
    from tqdm.auto import tqdm

    return tqdm(total=cfg.total_steps, initial=step, desc=name[:40], dynamic_ncols=True)


def _show(bar, row: dict) -> None:
    if bar is not None:
        bar.update(1)
        shown = ("loss", "pixel", "perceptual", "adversarial", "loss_d", "val_psnr")
        bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if k in shown})


def _write_outputs(result: TrainResult, model: nn.Module, weight_meta: dict, world: int, device) -> None:
    """A finished run's ``final.safetensors`` and ``curves.png``; ``summary.json`` for a stopped run too."""
    if not result.stopped_early:
        save_generator(model, result.run_dir / "final.safetensors", {**weight_meta, "step": result.step})
        fig = plot_curves(result.run_dir / "log.csv", title=f"{result.name} (srlib.train)")
        fig.savefig(result.run_dir / "curves.png")
        import matplotlib.pyplot as plt

        plt.close(fig)
    summary = dict(
        run=result.name,
        step=result.step,
        best_psnr=result.best_psnr,
        best_step=result.best_step,
        wall_s=result.wall_s,  # all sessions of the run
        patches_per_s=result.patches_per_s,  # this session
        world_size=world,
        device=str(device),
        stopped_early=result.stopped_early,
    )
    (result.run_dir / "summary.json").write_text(json.dumps(summary, indent=1))


def _set_epoch(dataset: Dataset, epoch: int) -> None:
    """Tell the dataset(s) the epoch: ``SRDataset`` draws crops and flips from (seed, epoch, index)."""
    for part in dataset.datasets if isinstance(dataset, ConcatDataset) else [dataset]:
        if hasattr(part, "set_epoch"):
            part.set_epoch(epoch)


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


# ------------------------------------------------------------------------------------ batches and Ctrl-C


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
