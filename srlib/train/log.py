"""The CSV training log and the loss / validation curves drawn from it."""

from __future__ import annotations

import csv
import math
from pathlib import Path

COLUMNS = [
    "step",
    "epoch",
    "lr",
    "loss",
    "pixel",
    "perceptual",
    "adversarial",
    "loss_d",
    "d_real",
    "d_fake",
    "val_psnr",
    "val_ssim",
    "patches_per_s",
    "elapsed_s",
]


class CSVLog:
    """Append rows to ``log.csv``; on resume, rows after the checkpoint's step are dropped first."""

    def __init__(self, path: str | Path, resume_step: int | None = None, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled
        if not enabled:
            return
        rows = read_log(self.path) if resume_step is not None and self.path.is_file() else []
        rows = [row for row in rows if int(float(row["step"])) <= (resume_step or 0)]
        with open(self.path, "w", newline="") as f:
            writer = csv.DictWriter(f, COLUMNS)
            writer.writeheader()
            writer.writerows({k: row.get(k, "") for k in COLUMNS} for row in rows)

    def write(self, **row) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, COLUMNS).writerow({k: _fmt(row.get(k, "")) for k in COLUMNS})


def _fmt(value):
    return f"{value:.6g}" if isinstance(value, float) else value


def read_log(path: str | Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _series(rows: list[dict], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for row in rows:
        if row.get(key) not in (None, ""):
            value = float(row[key])
            if math.isfinite(value):
                xs.append(float(row["step"]))
                ys.append(value)
    return xs, ys


def plot_curves(log_path: str | Path, title: str = "", axes=None):
    """Losses (left) and validation Y-PSNR (right) against the step; returns the figure."""
    import matplotlib.pyplot as plt

    rows = read_log(log_path)
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    else:
        fig = axes[0].figure
    for key in ("loss", "pixel", "perceptual", "adversarial", "loss_d"):
        xs, ys = _series(rows, key)
        if xs:
            axes[0].plot(xs, ys, label=key, lw=1)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("step")
    axes[0].set_title("training losses (each term unweighted; loss = weighted total)")
    if axes[0].get_legend_handles_labels()[0]:  # a run shorter than one log interval has no curve yet
        axes[0].legend(fontsize=7)
    xs, ys = _series(rows, "val_psnr")
    axes[1].plot(xs, ys, "o-", ms=3)
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("Y-PSNR (dB)")
    axes[1].set_title("validation")
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def validation_figure(models: dict, dataset, scale: int, index: int = 0, crop: int = 96, title: str = ""):
    """One validation image: bicubic, each model's output and HR, on the same centre crop (HR pixels)."""
    import matplotlib.pyplot as plt
    import torch

    from srlib.imresize import imresize
    from srlib.metrics import psnr

    item = dataset[index]
    lr, hr = item["lr"][None], item["hr"][None]
    outputs = {"bicubic": imresize(lr, scale=scale).clamp(0, 1)}
    with torch.no_grad():
        for name, model in models.items():
            was_training = model.training
            outputs[name] = model.eval()(lr).clamp(0, 1)
            model.train(was_training)
    outputs["HR"] = hr
    h, w = hr.shape[-2:]
    top, left = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
    fig, axes = plt.subplots(1, len(outputs), figsize=(2.2 * len(outputs), 2.6))
    for ax, (name, image) in zip(axes, outputs.items(), strict=True):
        ax.imshow(image[0, :, top : top + crop, left : left + crop].permute(1, 2, 0).numpy())
        score = "" if name == "HR" else f"\n{float(psnr(image, hr, crop_border=scale)[0]):.2f} dB"
        ax.set_title(f"{name}{score}", fontsize=8)
        ax.axis("off")
    fig.suptitle(title or f"{item['name']} (x{scale}), Y-PSNR of the whole image", fontsize=9)
    return fig
