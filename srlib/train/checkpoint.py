"""Checkpoints that resume exactly, written atomically, and the weight files other modules load.

A checkpoint (``checkpoints/last.pt``) holds the generator, the discriminator, their optimisers and
schedulers, the EMA copy, the grad scaler, the step, the data position and every RNG state. It is written to
a temporary file and renamed, so a crash while saving leaves the previous checkpoint intact; the one before
is kept as ``prev.pt`` (a truncated ``last.pt`` can then be replaced by it).

Checkpoints are untrusted input like any ``.pth``: they are read with ``torch.load(..., weights_only=True)``
through ``srlib.weights`` (tensors, containers and plain values only), so a crafted ``last.pt`` or
``init_from`` file cannot run code. For that, everything srlib writes into them is such a value (the numpy
RNG state is stored as a tensor, not as a pickled array).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn


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
    """A training checkpoint (or any ``.pt``/``.pth`` dict), read safely with ``srlib.weights``' loader.

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

    Written by ``srlib.weights.save_weights`` (so ``srlib.weights.load_model(path)`` rebuilds the model);
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
