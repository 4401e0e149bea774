"""Checkpoints that resume exactly, written atomically, and the weight files other modules load.

A checkpoint (``checkpoints/last.pt``) holds the generator, the discriminator, their optimisers and
schedulers, the EMA copy, the grad scaler, the step, the data position and every RNG state. It is written to
a temporary file and renamed, so a crash while saving leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def atomic_save(obj, path: str | Path) -> Path:
    """``torch.save`` to ``path.tmp``, flush to disk, then rename over ``path`` (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path) -> dict:
    # Our own files: they hold RNG states and optimiser state (numpy arrays, tuples), not only tensors.
    return torch.load(path, map_location="cpu", weights_only=False)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside DistributedDataParallel (or the model itself)."""
    return model.module if hasattr(model, "module") else model


def save_generator(model: nn.Module, path: str | Path, metadata: dict | None = None, half: bool = False) -> Path:
    """Weights for inference as safetensors, with the arch name and constructor kwargs in the metadata.

    Written by ``srlib.weights.save_weights`` (so ``srlib.weights.load_model(path)`` rebuilds the model);
    ``half`` stores floating-point tensors as float16 (half the size, well below 8-bit image precision).
    """
    from srlib.weights import model_config, save_weights

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
    return state.get("ema") or state["G"]


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
