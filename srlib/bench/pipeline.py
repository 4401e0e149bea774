"""The rows around the models: srlib's PSNR / SSIM against scikit-image, and the training data loader."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from srlib.bench.timing import bench_device


def synthetic_pair(rng: np.random.Generator, hr_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A natural-looking uint8 HR image (smooth colour field, edges, texture) and its bicubic x4 round trip."""
    h, w = hr_size
    base = torch.from_numpy(rng.random((1, 3, h // 32 + 2, w // 32 + 2), dtype=np.float32))
    img = torch.nn.functional.interpolate(base, size=(h, w), mode="bicubic", align_corners=False)
    yy, xx = np.mgrid[0:h, 0:w]
    stripes = (np.sin(xx * rng.uniform(0.05, 0.3) + yy * rng.uniform(0.05, 0.3)) > 0).astype(np.float32)
    img = img + 0.25 * torch.from_numpy(stripes) + 0.05 * torch.randn(1, 3, h, w)
    img = img.clamp(0, 1)
    lr = torch.nn.functional.interpolate(img, scale_factor=0.25, mode="bicubic", antialias=True)
    sr = torch.nn.functional.interpolate(lr, size=(h, w), mode="bicubic").clamp(0, 1)
    to_u8 = lambda t: (t[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return to_u8(img), to_u8(sr)


def bench_metrics(cfg: dict) -> list[dict]:
    """srlib PSNR+SSIM (Y, RGB uint8 in) against scikit-image on the Y images srlib computes."""
    try:
        from skimage.metrics import peak_signal_noise_ratio, structural_similarity

        from srlib import metrics
    except ImportError as error:
        return [dict(impl="-", error=f"not available ({error})")]
    device = bench_device()

    def on_device(image: np.ndarray):  # HWC numpy as it is on the CPU, else a CHW tensor already on the GPU
        return image if device.type == "cpu" else torch.from_numpy(image).permute(2, 0, 1).to(device)

    rng = np.random.default_rng(0)
    torch.manual_seed(0)  # synthetic_pair's noise: the same 100 pairs in every run
    warm = [on_device(x) for x in synthetic_pair(rng, (64, 64))]
    metrics.psnr(*warm), metrics.ssim(*warm)  # first-call set-up is not part of the per-pair cost
    t_srlib = t_srlib_y = t_skimage = 0.0
    diffs_psnr, diffs_ssim = [], []
    for _ in range(cfg["metric_pairs"]):
        hr, sr = synthetic_pair(rng, cfg["metric_hr"])
        hr_in, sr_in = on_device(hr), on_device(sr)
        start = time.perf_counter()  # psnr and ssim return Python floats: the GPU has finished
        p, s = metrics.psnr(sr_in, hr_in, crop_border=4), metrics.ssim(sr_in, hr_in, crop_border=4)
        t_srlib += time.perf_counter() - start
        # the same Y images (BT.601, rounded, border cropped) for scikit-image; conversion not timed
        ya = np.asarray(metrics.rgb_to_y(sr)).round()[4:-4, 4:-4]
        yb = np.asarray(metrics.rgb_to_y(hr)).round()[4:-4, 4:-4]
        y_sr, y_hr = ya.astype(np.uint8)[..., None], yb.astype(np.uint8)[..., None]  # rounded Y: exact in uint8
        y_sr, y_hr = on_device(y_sr), on_device(y_hr)
        start = time.perf_counter()
        p_y, s_y = metrics.psnr(y_sr, y_hr), metrics.ssim(y_sr, y_hr)
        t_srlib_y += time.perf_counter() - start
        start = time.perf_counter()
        p_ref = peak_signal_noise_ratio(yb, ya, data_range=255)
        s_ref = structural_similarity(
            yb, ya, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
        t_skimage += time.perf_counter() - start
        diffs_psnr.append(max(abs(p - p_ref), abs(p_y - p_ref)))
        diffs_ssim.append(max(abs(s - s_ref), abs(s_y - s_ref)))
    n = cfg["metric_pairs"]
    size = "x".join(map(str, cfg["metric_hr"]))
    srlib = "srlib" if device.type == "cpu" else f"srlib on {device.type} (inputs already there)"
    return [
        dict(impl=f"{srlib} (RGB uint8 in, Y inside)", pairs=f"{n} x {size}", seconds=t_srlib, per_pair=t_srlib / n),
        dict(
            impl=f"{srlib} (Y given)",
            pairs=f"{n} x {size}",
            seconds=t_srlib_y,
            per_pair=t_srlib_y / n,
            speedup_vs_skimage=t_skimage / t_srlib_y,
        ),
        dict(
            impl="scikit-image (Y given)",
            pairs=f"{n} x {size}",
            seconds=t_skimage,
            per_pair=t_skimage / n,
            speedup=t_skimage / t_srlib,
            max_dpsnr=max(diffs_psnr),
            max_dssim=max(diffs_ssim),
        ),
    ]


def bench_data(cfg: dict, tmp: Path) -> list[dict]:
    """Patches per second out of a 2-worker DataLoader over ``SRDataset`` (HR 128 px, x4), after warm-up."""
    try:
        from PIL import Image

        from srlib.data import SRDataset
    except ImportError as error:
        return [dict(degradation="-", error=f"srlib.data.SRDataset not available ({error})")]
    folder = tmp / "data_hr"
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    side = 480 if cfg["data_patches"] > 32 else 96
    for i in range(8):  # natural-looking images, decoded once per worker (cache=True)
        hr, _ = synthetic_pair(rng, (side, side))
        Image.fromarray(hr).save(folder / f"{i:04d}.png")
    patch, batch = (128, 16) if side > 128 else (32, 4)
    repeat = -(-cfg["data_patches"] // 8) + 2 * batch  # enough for the timed patches plus the warm-up batch
    rows = []
    for degradation in ("bicubic", "second_order"):
        try:
            dataset = SRDataset(folder, scale=4, patch_size=patch, degradation=degradation, repeat=repeat)
        except (ValueError, RuntimeError) as error:
            rows.append(dict(degradation=degradation, error=str(error)[:120]))
            continue
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=2)
        batches = iter(loader)
        next(batches)  # workers started, first images decoded
        start, count = time.perf_counter(), 0
        while count < cfg["data_patches"]:
            count += len(next(batches)["hr"])
        seconds = time.perf_counter() - start
        rows.append(
            dict(degradation=degradation, hr_patch=f"{patch}px x{batch}", patches=count, patches_per_s=count / seconds)
        )
    return rows
