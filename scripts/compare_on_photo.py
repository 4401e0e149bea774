"""Look at models on a photograph nobody picked for them: HR crop -> MATLAB bicubic x4 LR -> each model, side by side.

    .venv/bin/python scripts/compare_on_photo.py PHOTO OUT.png MODEL [MODEL ...] [--crop 512] [--zoom 192]

MODEL: a course checkpoint stem (``srgan_x4_course``), a zoo name (``realsr-df2k``) or a weights file. The top
row shows the centre crop, the bottom row a nearest-neighbour zoom of its middle, where a grid or a colour cast
shows. Debian's wallpaper packages (e.g. ``apt-get download mate-backgrounds``) hold real photographs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from srlib.hub import resolve_model
from srlib.imresize import imresize, modcrop
from srlib.infer import upscale
from srlib.io import read_image


def label(spec: str) -> str:
    path = Path(spec)
    return path.parent.name[:28] if path.stem in ("final", "best") else path.stem


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("photo")
    parser.add_argument("out")
    parser.add_argument("models", nargs="+")
    parser.add_argument("--crop", type=int, default=512, help="side of the HR centre crop")
    parser.add_argument("--zoom", type=int, default=192, help="side of the zoomed middle")
    args = parser.parse_args(argv)
    hr = read_image(args.photo)
    h, w = hr.shape[:2]
    top, left = max(0, (h - args.crop) // 2), max(0, (w - args.crop) // 2)
    crop = modcrop(hr[top : top + args.crop, left : left + args.crop], 4)
    lr = np.clip(imresize(crop, 0.25), 0, 1)
    columns = [("HR crop", crop), ("bicubic", np.clip(imresize(lr, 4), 0, 1))]
    for spec in args.models:
        columns.append((label(spec), np.clip(upscale(resolve_model(spec), lr, precision="fp32"), 0, 1)))
    mid_y, mid_x, half = crop.shape[0] // 2, crop.shape[1] // 2, args.zoom // 2
    zoom = (slice(mid_y - half, mid_y + half), slice(mid_x - half, mid_x + half))
    fig, axes = plt.subplots(2, len(columns), figsize=(3.2 * len(columns), 6.6), squeeze=False)
    for i, (name, image) in enumerate(columns):
        axes[0, i].imshow(image)
        axes[0, i].set_title(name, fontsize=9)
        axes[1, i].imshow(image[zoom], interpolation="nearest")
        for ax in axes[:, i]:
            ax.axis("off")
    fig.suptitle(
        f"{Path(args.photo).name}: centre {crop.shape[1]}x{crop.shape[0]}, x4 MATLAB-bicubic LR; "
        f"bottom: the middle {args.zoom} px, nearest-neighbour",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
