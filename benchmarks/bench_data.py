"""Data-side benchmarks for BENCHMARKS.md, section "Data and metrics".

    .venv/bin/python benchmarks/bench_data.py resize   # imresize vs PIL vs resize-right, MPixel/s
    .venv/bin/python benchmarks/bench_data.py loader   # SRDataset patches/s, 192 px HR, 2 workers
    .venv/bin/python benchmarks/bench_data.py agree    # imresize vs PIL and resize-right, PSNR (dB)

MPixel/s counts HR pixels (the large side of the resize), median of repeated runs. The loader runs on the
mini set (built if missing) unless ``--data`` names another HR folder or dataset.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch
from PIL import Image

from srlib import data
from srlib.imresize import imresize, modcrop
from srlib.utils import machine_summary


def _time(fn, repeat: int = 5) -> float:
    fn()
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def bench_resize() -> None:
    from resize_right import resize

    image = np.random.default_rng(0).random((1356, 2040, 3)).astype(np.float32)  # a DIV2K-size HR
    small = imresize(image, 1 / 4)
    u8, u8_small = Image.fromarray((image * 255).astype(np.uint8)), Image.fromarray((small * 255).astype(np.uint8))
    tensor = torch.from_numpy(image).permute(2, 0, 1)[None].contiguous()
    tensor_small = imresize(tensor, 1 / 4)
    mpix = image.shape[0] * image.shape[1] / 1e6
    cases = [
        ("down x4", "srlib imresize, numpy float32", lambda: imresize(image, 1 / 4)),
        ("down x4", "srlib imresize, torch float32", lambda: imresize(tensor, 1 / 4)),
        ("down x4", "resize-right, numpy (symmetric pad)", lambda: resize(image, 1 / 4, pad_mode="symmetric")),
        ("down x4", "resize-right, torch", lambda: resize(tensor, 1 / 4)),
        ("down x4", "PIL bicubic, uint8", lambda: u8.resize((510, 339), Image.BICUBIC)),
        ("up x4", "srlib imresize, numpy float32", lambda: imresize(small, 4)),
        ("up x4", "srlib imresize, torch float32", lambda: imresize(tensor_small, 4)),
        ("up x4", "resize-right, numpy (symmetric pad)", lambda: resize(small, 4, pad_mode="symmetric")),
        ("up x4", "resize-right, torch", lambda: resize(tensor_small, 4)),
        ("up x4", "PIL bicubic, uint8", lambda: u8_small.resize((2040, 1356), Image.BICUBIC)),
    ]
    print(f"# imresize speed, 2040x1356 RGB ({machine_summary()})")
    print("| resize | implementation | ms | MPixel/s (HR) |")
    print("|---|---|---|---|")
    for kind, name, fn in cases:
        seconds = _time(fn)
        print(f"| {kind} | {name} | {seconds * 1000:.1f} | {mpix / seconds:.0f} |")


def bench_agree(benchmarks: str) -> None:
    from resize_right import resize

    from srlib.io import list_images, read_image

    def db(a, b):
        return 10 * np.log10(1 / np.mean((np.asarray(a, np.float64) - b) ** 2))

    rows = {"PIL float, whole image": [], "PIL float, 2 px border excluded": [], "PIL uint8": []}
    rows.update({"resize-right numpy symmetric": [], "resize-right numpy default": []})
    rows["resize-right torch reflect"] = []
    for path in list_images(os.path.join(benchmarks, "Set5", "HR")) + list_images(
        os.path.join(benchmarks, "Set14", "HR")
    ):
        hr = modcrop(read_image(path), 4)
        h, w = hr.shape[:2]
        ours = imresize(hr, 1 / 4)
        pil = np.stack(
            [
                np.asarray(Image.fromarray(hr[..., c], mode="F").resize((w // 4, h // 4), Image.BICUBIC))
                for c in range(3)
            ],
            -1,
        )
        pil8 = (
            np.asarray(Image.fromarray(np.round(hr * 255).astype(np.uint8)).resize((w // 4, h // 4), Image.BICUBIC))
            / 255
        )
        t = torch.from_numpy(hr).permute(2, 0, 1)[None]
        rows["PIL float, whole image"].append(db(ours, pil))
        rows["PIL float, 2 px border excluded"].append(db(ours[2:-2, 2:-2], pil[2:-2, 2:-2]))
        rows["PIL uint8"].append(db(ours, pil8))
        rows["resize-right numpy symmetric"].append(db(ours, resize(hr, 1 / 4, pad_mode="symmetric")))
        rows["resize-right numpy default"].append(db(ours, resize(hr, 1 / 4)))
        rows["resize-right torch reflect"].append(
            db(ours, resize(t, 1 / 4, pad_mode="reflect")[0].permute(1, 2, 0).numpy())
        )
    print("# agreement of srlib imresize (x4 down) with other resizers, Set5 + Set14 (19 images)")
    print("| compared with | mean PSNR (dB) | min PSNR (dB) |")
    print("|---|---|---|")
    for name, values in rows.items():
        print(f"| {name} | {np.mean(values):.1f} | {np.min(values):.1f} |")


def bench_loader(dataset: str, batches: int) -> None:
    from torch.utils.data import DataLoader

    print(f"# SRDataset throughput, 192x192 HR patches, batch 16, 2 workers ({machine_summary()})")
    print("| degradation | patches/s |")
    print("|---|---|")
    for degradation in ("bicubic", "second_order"):
        ds = data.SRDataset(dataset, 4, patch_size=192, degradation=degradation, repeat=100)
        loader = DataLoader(ds, batch_size=16, num_workers=2, shuffle=True, persistent_workers=True)
        iterator = iter(loader)
        next(iterator)  # start the workers, fill their caches
        start = time.perf_counter()
        for _ in range(batches):
            next(iterator)
        seconds = time.perf_counter() - start
        print(f"| {degradation} | {batches * 16 / seconds:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["resize", "loader", "agree"])
    parser.add_argument("--data", default="mini/train", help="HR folder or dataset name for the loader")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument(
        "--benchmarks", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "benchmarks")
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.what == "resize":
        bench_resize()
    elif args.what == "agree":
        bench_agree(args.benchmarks)
    else:
        bench_loader(args.data, args.batches)


if __name__ == "__main__":
    main()
