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
    "artifact",
    "teacher",
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
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
    else:
        fig = axes[0].figure
    for key in ("loss", "pixel", "perceptual", "adversarial", "loss_d"):
        xs, ys = _series(rows, key)
        if xs:
            axes[0].plot(xs, ys, label=key, lw=1)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("step")
    axes[0].set_title("training losses (terms unweighted, loss = weighted total)", fontsize=9)
    if axes[0].get_legend_handles_labels()[0]:  # a run shorter than one log interval has no curve yet
        axes[0].legend(fontsize=7)
    xs, ys = _series(rows, "val_psnr")
    axes[1].plot(xs, ys, "o-", ms=3)
    if ys:  # the weights kept as best.safetensors
        best = max(range(len(ys)), key=ys.__getitem__)
        right_half = best > len(ys) / 2  # label on the inner side of the point
        axes[1].annotate(f"best {ys[best]:.2f} dB", (xs[best], ys[best]), fontsize=7, textcoords="offset points",
                         xytext=(-6 if right_half else 6, -10), ha="right" if right_half else "left")  # fmt: skip
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("Y-PSNR (dB)")
    axes[1].set_title("validation Y-PSNR (crop = scale)", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def validation_figure(models: dict, dataset, scale: int, index: int = 0, crop: int = 96, title: str = ""):
    """One validation image: bicubic, each model's output and HR, on the same centre crop (HR pixels).

    models: panel label -> model (say in the label which weights: run, steps). A caption under the images
    names the image, its folder, how its LR was made and what the dB figures measure.
    """
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
    # fixed margins in inches (a layout engine misplaces the titles of fixed-aspect image axes):
    # 0.3 for the suptitle, 0.55 for three-line panel titles, 2.2 for the images, 0.3 for the caption
    height = 0.3 + 0.55 + 2.2 + 0.3
    fig, axes = plt.subplots(1, len(outputs), figsize=(2.3 * len(outputs), height))
    fig.subplots_adjust(left=0.01, right=0.99, wspace=0.06, top=1 - 0.85 / height, bottom=0.3 / height)
    for ax, (name, image) in zip(axes, outputs.items(), strict=True):
        ax.imshow(image[0, :, top : top + crop, left : left + crop].permute(1, 2, 0).numpy())
        score = "" if name == "HR" else f"\n{float(psnr(image, hr, crop_border=scale)[0]):.2f} dB"
        ax.set_title(f"{name}{score}", fontsize=8)
        ax.axis("off")
    degradation = getattr(dataset, "degradation", None)
    lr_source = f"{degradation!r} LR" if degradation is not None else "LR from its folder"
    parts = Path(getattr(dataset, "hr_dir", "dataset")).parts
    folder = "/".join(parts[:-1][-2:] if parts[-1] == "HR" else parts[-2:])  # e.g. mini/valid, benchmarks/Set5
    facts = (
        f"{item['name']} of {folder}, x{scale}, {lr_source}; dB = Y-PSNR of the whole image (crop {scale}), "
        f"centre {crop} px shown"
    )
    if title:
        fig.suptitle(title, fontsize=9)
    fig.supxlabel(facts, fontsize=8)  # a caption under the images
    return fig
