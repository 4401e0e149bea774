"""Figures used by more than one notebook: image rows, side-by-side comparisons with zoomed crops, and
block diagrams drawn from the modules."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle
from torch import nn

from srlib.io import to_numpy


def as_display(image) -> np.ndarray:
    """HWC float in [0, 1] for imshow, from a torch (1)CHW tensor or a numpy array."""
    if isinstance(image, torch.Tensor):
        image = to_numpy(image)
    image = np.asarray(image, dtype=np.float32)
    return np.clip(image.squeeze(-1) if image.ndim == 3 and image.shape[-1] == 1 else image, 0, 1)


def image_row(images, titles, suptitle: str | None = None, width: float = 3.2):
    """Images side by side, each with its title; returns the figure."""
    fig, axes = plt.subplots(1, len(images), figsize=(width * len(images), width * 1.05), squeeze=False)
    for ax, image, title in zip(axes[0], images, titles, strict=True):
        ax.imshow(as_display(image), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    return fig


def panel_title(method: str, origin: str, metrics: dict | None = None, width: int = 34) -> str:
    """ "Method — origin" wrapped to ``width``, then "PSNR dB / SSIM" (Y) when metrics are given."""
    lines = textwrap.wrap(f"{method} — {origin}" if origin else method, width)
    if metrics:
        lines.append(f"{metrics['psnr_y']:.2f} dB / {metrics['ssim_y']:.4f}")
    return "\n".join(lines)


def comparison_figure(panels: list[tuple[str, np.ndarray]], boxes, suptitle: str | None = None, size: float = 2.5):
    """Columns of (title, image), all the same size: the full view with the crop boxes drawn, then one zoomed
    row per box. ``boxes``: (x, y, side) in pixels of these images. Returns the figure."""
    colors = ("#e41a1c", "#1f78b4", "#33a02c", "#ff7f00")
    height, width = panels[0][1].shape[:2]
    ratio = height / width
    fig, axes = plt.subplots(1 + len(boxes), len(panels), squeeze=False,
                             figsize=(size * len(panels), size * (ratio + len(boxes)) + 0.9),
                             gridspec_kw=dict(height_ratios=[ratio] + [1] * len(boxes)))  # fmt: skip
    for col, (title, image) in enumerate(panels):
        shown = as_display(image)
        axes[0, col].imshow(shown, cmap="gray", vmin=0, vmax=1)
        axes[0, col].set_title(title, fontsize=7)
        for row, (x, y, side) in enumerate(boxes, start=1):
            side = min(side, height, width)
            x, y = min(max(x, 0), width - side), min(max(y, 0), height - side)  # keep the box inside
            color = colors[(row - 1) % len(colors)]
            axes[0, col].add_patch(Rectangle((x - 0.5, y - 0.5), side, side, fill=False, edgecolor=color, lw=1.2))
            axes[row, col].imshow(shown[y : y + side, x : x + side], cmap="gray", vmin=0, vmax=1)
            for spine in axes[row, col].spines.values():
                spine.set_edgecolor(color)
                spine.set_linewidth(2)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[0]:
        ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    return fig


def _describe(name: str, layer: nn.Module) -> str:
    if isinstance(layer, nn.Conv2d):
        k = layer.kernel_size[0]
        return f"{name}: conv {k}x{k}, {layer.in_channels}→{layer.out_channels}"
    return f"{name}: {type(layer).__name__}"


def block_diagram(block: nn.Module, title: str, skip_label: str | None = None, dense: bool = False, ax=None):
    """Draw ``block``'s layers top to bottom, as registered in the module (so the picture follows the code).

    ``dense=True`` draws DenseNet-style links from the input and every conv to each later conv;
    ``skip_label`` draws the residual connection around the whole block.
    """
    layers = [(name, layer) for name, layer in block.named_children() if not isinstance(layer, nn.LeakyReLU)]
    if isinstance(block, nn.Sequential) or (len(layers) == 1 and isinstance(layers[0][1], nn.Sequential)):
        inner = block if isinstance(block, nn.Sequential) else layers[0][1]
        layers = [(f"{i}", layer) for i, layer in enumerate(inner)]
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 0.65 * (len(layers) + 2)))
    n = len(layers) + 2
    ys = np.linspace(n - 1, 0, n)
    labels = ["input x"] + [_describe(name, layer) for name, layer in layers] + ["output"]
    for y, label in zip(ys, labels, strict=True):
        ax.add_patch(FancyBboxPatch((0.05, y - 0.3), 0.9, 0.6, boxstyle="round,pad=0.02", fc="#e8eef7", ec="#335"))
        ax.text(0.5, y, label, ha="center", va="center", fontsize=7.5)
    for y0, y1 in zip(ys[:-1], ys[1:], strict=True):
        ax.add_patch(FancyArrowPatch((0.5, y0 - 0.3), (0.5, y1 + 0.3), arrowstyle="-|>", mutation_scale=8))
    if dense:
        convs = [i + 1 for i, (_, layer) in enumerate(layers) if isinstance(layer, nn.Conv2d)]
        sources = [0] + convs[:-1]
        for j, target in enumerate(convs[1:], start=1):
            for source in sources[:j]:
                ax.add_patch(
                    FancyArrowPatch(
                        (0.95, ys[source]),
                        (0.95, ys[target]),
                        connectionstyle="arc3,rad=-0.4",
                        arrowstyle="-|>",
                        mutation_scale=6,
                        color="#c66",
                        lw=0.6,
                    )
                )
    if skip_label:
        ax.add_patch(
            FancyArrowPatch(
                (0.05, ys[0]),
                (0.05, ys[-1]),
                connectionstyle="arc3,rad=0.5",
                arrowstyle="-|>",
                mutation_scale=8,
                color="#363",
                lw=1.2,
            )
        )
        ax.text(
            -0.22, (ys[0] + ys[-1]) / 2, skip_label, ha="center", va="center", fontsize=7.5, color="#363", rotation=90
        )
    ax.set_xlim(-0.35, 1.35)
    ax.set_ylim(-0.6, n - 0.4)
    ax.axis("off")
    ax.set_title(title, fontsize=9)
    return ax
