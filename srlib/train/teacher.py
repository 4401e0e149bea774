"""Knowledge distillation's targets: a pretrained teacher's outputs on the training images, computed once.

A GAN-trained generator's texture is not a function of the HR image (many textures fit one LR), which is why
a pixel loss against HR cannot teach it and a GAN must. Against a teacher's output it is a function of the LR:
the student can learn it by regression, with no critic to fool. ``teacher_outputs`` runs the teacher on the
LR of each whole training image (the same clean bicubic LR the dataset makes, so there are no patch borders
in what the teacher sees) and caches the results as 8-bit PNGs beside the weights cache; ``SRDataset``
crops them with the HR (``teacher_dir``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from srlib.data import degrade
from srlib.data.registry import resolve_dataset
from srlib.imresize import modcrop
from srlib.io import list_images, read_image
from srlib.models.fast import inference_model
from srlib.utils import cache_dir


def teacher_tag(teacher: str) -> str:
    """``realsrdf2k`` for "realsr-df2k" or ".../realsr-df2k.safetensors": the name in run names and caches."""
    return Path(teacher).stem.replace("-", "").replace("_", "")


def teacher_outputs(teacher: str, dataset, scale: int = 4, precision: str = "auto", progress: bool = True) -> Path:
    """The folder of ``teacher``'s outputs on the bicubic x``scale`` LR of every image of ``dataset``.

    teacher: a zoo name or a weights file (``srlib.hub.resolve_model``). dataset: a folder or dataset name.
    precision: "fp32", "bf16", or "auto" (bf16 where the CPU or GPU runs it natively). bf16 runs through
    ``srlib.models.fast.inference_model``, whose bf16 RRDBNet stays within 2 levels of fp32 (BENCHMARKS.md);
    plain autocast of the same network drifts up to 16 levels on a T91 image.
    Computed once per (teacher, dataset, scale, precision) under ``cache_dir()/teacher``; images already there
    are kept, so an interrupted run continues where it stopped.
    """
    from srlib.hub import resolve_model
    from srlib.train.config import resolve_amp

    hr_dir = resolve_dataset(dataset)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    amp = "bf16" if precision == "bf16" else resolve_amp("auto", device)[0] if precision == "auto" else "none"
    out_dir = cache_dir() / "teacher" / f"{teacher_tag(teacher)}_bicubicx{scale}_{'bf16' if amp == 'bf16' else 'fp32'}"
    out_dir = out_dir / hr_dir.name
    todo = [p for p in list_images(hr_dir) if not (out_dir / f"{p.stem}.png").is_file()]
    if not todo:
        return out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    model = resolve_model(teacher, scale=scale).eval().to(device)  # refuses a teacher of another scale
    net = inference_model(model, "bf16" if amp == "bf16" else "fp32")
    for path in tqdm(todo, desc=f"teacher {teacher_tag(teacher)} on {hr_dir.name}", disable=not progress):
        hr = modcrop(read_image(path), scale)
        lr = torch.from_numpy(np.ascontiguousarray(degrade.bicubic(hr, scale).transpose(2, 0, 1)))[None]
        with torch.inference_mode():
            sr = net(lr.float().to(device)).float().clamp(0, 1)[0].cpu().numpy().transpose(1, 2, 0)
        partial = out_dir / f"{path.stem}.part.png"  # renamed when whole: a killed run leaves no half image
        Image.fromarray(np.round(sr * 255).astype(np.uint8)).save(partial)
        partial.replace(out_dir / f"{path.stem}.png")
    return out_dir
