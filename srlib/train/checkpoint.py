"""Checkpoints that resume exactly, written atomically, and the weight files other modules load.

A checkpoint (``checkpoints/last.pt``) holds the generator, the discriminator, their optimisers and
schedulers, the EMA copy, the grad scaler, the step, the data position and every RNG state. It is written to
a temporary file and renamed, so a crash while saving leaves the previous checkpoint intact; the one before
is kept as ``prev.pt`` (a truncated ``last.pt`` can then be replaced by it). ``RunCheckpoints`` saves and
resumes one run's (``train`` calls it); ``RESUME_CHANGEABLE`` lists the settings a resumed run may change.

Checkpoints are untrusted input like any ``.pth``: they are read with ``torch.load(..., weights_only=True)``
through ``srlib.hub`` (tensors, containers and plain values only), so a crafted ``last.pt`` or
``init_from`` file cannot run code. For that, everything srlib writes into them is such a value (the numpy
RNG state is stored as a tensor, not as a pickled array).
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from srlib.train.config import TrainConfig, to_dict


def rng_state() -> dict:
    """Every RNG state as tensors and plain values (what ``weights_only`` loading accepts)."""
    name, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    numpy_state = dict(name=name, keys=torch.from_numpy(keys.astype(np.int64)), pos=int(pos),
                       has_gauss=int(has_gauss), cached_gaussian=float(cached_gaussian))  # fmt: skip
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    numpy_state = state["numpy"]
    if isinstance(numpy_state, dict):
        n = numpy_state
        numpy_state = (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    np.random.set_state(numpy_state)  # a tuple with an array: a checkpoint from before srlib stored tensors
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def atomic_save(obj, path: str | Path, previous: str | Path | None = None) -> Path:
    """``torch.save`` to ``path.tmp``, flush to disk, then rename over ``path`` (atomic on POSIX).

    ``previous``: where the file that was at ``path`` goes first (``prev.pt``), so two checkpoints exist.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    if previous is not None and path.exists():
        os.replace(path, previous)
    os.replace(tmp, path)
    return path


def _numpy_array_globals() -> list:
    """What unpickling a numpy array needs: checkpoints of earlier srlib versions hold the numpy RNG
    state as one. These build plain arrays only (their contents still go through the safe unpickler)."""
    from numpy._core.multiarray import _reconstruct  # numpy 2; numpy 1 pickles name numpy.core

    return [(_reconstruct, "numpy.core.multiarray._reconstruct"), _reconstruct, np.ndarray, np.dtype,
            type(np.dtype(np.uint32))]  # fmt: skip


def load_checkpoint(path: str | Path) -> dict:
    """A training checkpoint (or any ``.pt``/``.pth`` dict), read safely with ``srlib.hub.read_checkpoint``.

    Raises ValueError naming the file when it is truncated, corrupt or holds pickled objects.
    """
    from srlib.hub import read_checkpoint as _read

    with torch.serialization.safe_globals(_numpy_array_globals()):
        state, _ = _read(Path(path))
    return state


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside DistributedDataParallel (or the model itself)."""
    return model.module if hasattr(model, "module") else model


def save_generator(model: nn.Module, path: str | Path, metadata: dict | None = None, half: bool = False) -> Path:
    """Weights for inference as safetensors, with the arch name and constructor kwargs in the metadata.

    Written by ``srlib.hub.save_weights`` (so ``srlib.weights.load_model(path)`` rebuilds the model);
    ``half`` stores floating-point tensors as float16 (half the size, well below 8-bit image precision).
    """
    from srlib.hub import model_config, save_weights

    path = Path(path)
    model = unwrap(model)
    arch, kwargs = model_config(model)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    tmp = path.with_name(path.name + ".tmp")
    save_weights(state, tmp, metadata, arch=arch, kwargs=kwargs)
    os.replace(tmp, path)
    os.chmod(path, 0o644)  # safetensors writes 0600
    return path


def load_generator_state(path: str | Path) -> dict:
    """A state dict from a safetensors file or a training checkpoint (its EMA copy if it has one)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    state = load_checkpoint(path)
    if "G" in state:  # a srlib training checkpoint
        return state.get("ema") or state["G"]
    from srlib.hub import convert_state_dict

    return convert_state_dict(state)  # another project's file, its keys mapped to srlib's


def load_matching(model: nn.Module, state: dict) -> list[str]:
    """Copy every tensor whose name and shape match; return the names left out (EDSR x4 from x2: upsampler)."""
    own = model.state_dict()
    matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    skipped = sorted(set(own) - set(matched))
    model.load_state_dict({**own, **matched})
    return skipped


@torch.no_grad()
def interpolate_networks(psnr_state: dict, gan_state: dict, alpha: float) -> dict:
    """ESRGAN section 3.4: theta = (1 - alpha) * theta_PSNR + alpha * theta_GAN, parameter by parameter.

    alpha = 0 gives the PSNR model, 1 the GAN model; values between trade fidelity for texture without
    retraining. Both states must come from the same architecture. Integer buffers (BatchNorm's
    ``num_batches_tracked``) are taken from the GAN state.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if set(psnr_state) != set(gan_state):
        diff = sorted(set(psnr_state) ^ set(gan_state))[:5]
        raise ValueError(f"the two networks have different parameters (e.g. {diff}); same architecture needed")
    out = {}
    for name, gan in gan_state.items():
        psnr = psnr_state[name]
        if psnr.shape != gan.shape:
            raise ValueError(f"{name}: shapes differ {tuple(psnr.shape)} vs {tuple(gan.shape)}")
        if gan.is_floating_point():
            out[name] = ((1 - alpha) * psnr.float() + alpha * gan.float()).to(gan.dtype)
        else:
            out[name] = gan.clone()
    return out


# ------------------------------------------------------------------------------------------- a run's checkpoints


@dataclass
class RunState:
    """Where a run stands, besides its weights and optimiser states; a checkpoint records it."""

    step: int = 0
    epoch: int = 0
    position: int = 0  # batches of this epoch already trained
    best: dict = field(default_factory=lambda: {"psnr": -math.inf, "step": 0})  # best validation PSNR so far
    wall_before: float = 0.0  # training seconds of the earlier sessions of a resumed run


class RunCheckpoints:
    """``run_dir/checkpoints/last.pt`` and the one before it, ``prev.pt``: save, resume, keep the last good one.

    ``parts`` is what ``srlib.train.build.build_parts`` returns (models, optimisers, schedules, the update).
    """

    def __init__(self, run_dir: Path):
        self.last = run_dir / "checkpoints" / "last.pt"
        self.prev = run_dir / "checkpoints" / "prev.pt"
        self.saved_step = None  # the step of the checkpoint now at ``last``, written or resumed by this session

    def save(self, parts, run: RunState, cfg: TrainConfig, name: str, wall_s: float, rank: int, world: int) -> None:
        """Every rank's RNG states are gathered; rank 0 writes. ``wall_s``: training seconds, all sessions."""
        rngs = [rng_state()]
        if world > 1:
            rngs = [None] * world
            dist.all_gather_object(rngs, rng_state())
        if rank == 0:
            atomic_save(
                {
                    "G": unwrap(parts.G).state_dict(),
                    "D": parts.D.state_dict() if parts.D is not None else None,
                    "opt_g": parts.opt_g.state_dict(),
                    "opt_d": parts.opt_d.state_dict() if parts.opt_d is not None else None,
                    "sched_g": parts.sched_g.state_dict(),
                    "sched_d": parts.sched_d.state_dict() if parts.sched_d is not None else None,
                    "ema": parts.ema.state_dict() if parts.ema is not None else None,
                    "scaler": parts.update.scaler.state_dict(),
                    "step": run.step,
                    "epoch": run.epoch,
                    "position": run.position,
                    "best": run.best,
                    "rng": rngs,
                    "config": to_dict(cfg),
                    "run": name,
                    "wall_s": wall_s,
                },
                self.last,
                previous=self.prev,  # the one before stays, in case this one is ever damaged
            )
        self.saved_step = run.step

    def resume(self, parts, cfg: TrainConfig, rank: int, named_run_dir: bool) -> RunState:
        """Load ``last.pt`` into ``parts`` and the RNGs; apply the schedule changes ``cfg`` makes, aloud.

        Refuses (ValueError) a ``cfg`` that changes what the checkpoint's state means, before anything is written.
        """
        state = _read_resume_checkpoint(self.last, self.prev, named_run_dir)
        changes = resume_changes(state.get("config") or {}, cfg)  # refuses what cannot change, before any write
        unwrap(parts.G).load_state_dict(state["G"])
        parts.opt_g.load_state_dict(state["opt_g"])
        parts.sched_g.load_state_dict(state["sched_g"])
        if parts.D is not None:
            parts.D.load_state_dict(state["D"])
            parts.opt_d.load_state_dict(state["opt_d"])
            parts.sched_d.load_state_dict(state["sched_d"])
        if parts.ema is not None:
            parts.ema.load_state_dict(state["ema"])
        parts.update.scaler.load_state_dict(state["scaler"])
        run = RunState(state["step"], state["epoch"], state["position"], state["best"], state.get("wall_s", 0.0))
        set_rng_state(state["rng"][rank])
        self.saved_step = run.step
        if _SCHEDULE_KEYS & set(changes):
            _restart_schedule(parts.opt_g, parts.sched_g, cfg.lr, parts.schedule(run.step))
            if parts.opt_d is not None:
                _restart_schedule(parts.opt_d, parts.sched_d, cfg.lr_d or cfg.lr, parts.schedule(run.step))
        if changes and rank == 0:
            changed = ", ".join(f"{key} {old!r} -> {new!r}" for key, (old, new) in changes.items())
            print(f"resume at step {run.step} with changed settings: {changed} (config.yaml says so)")
        return run

    def keep_finite(self, step: int) -> str:
        """After a non-finite (or too large) loss at ``step``: see ``_keep_finite_checkpoint``."""
        return _keep_finite_checkpoint(self.last, self.prev, self.saved_step, step)


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
