"""Evaluate a model on a dataset: per-image and mean PSNR / SSIM (Y and RGB), LPIPS when available.

The conventions are those of the published tables (REFERENCE.md section 4): HR cropped to a multiple of
the scale (modcrop), LR made from it by srlib's MATLAB-style ``imresize`` and stored as 8 bits (MATLAB's
``imresize`` on a uint8 image returns uint8), the SR output clipped and rounded to 8 bits (as a saved PNG),
``crop_border = scale`` pixels removed from every side, PSNR/SSIM on the BT.601 Y channel and on RGB.
A given LR folder (DIV2K ``LR_bicubic/X4``, the NTIRE 2020 Track 1 validation input) replaces the
bicubic LR; pairs are matched by name (``0801.png`` <-> ``0801x4.png``).

LPIPS (AlexNet, v0.1, the challenges' perceptual metric; lower is better) needs the ``lpips`` package
(which ships its linear layers) and torchvision's ImageNet AlexNet weights in torch's hub cache. Neither
is downloaded here: when they are missing the result says so in ``notes`` and the table prints the note,
never a silent blank. LPIPS is computed on the whole RGB image (no border crop), inputs in [-1, 1].

NIQE (``srlib.niqe``), a no-reference naturalness score (lower is better), is added with ``niqe_model``:
"official" (the published MATLAB model: the standard scale, natural photographs about 3-9) or a model
fitted by ``srlib.niqe.fit_niqe`` (the result's notes then say that values compare only within it). It is
measured as PIRM 2018 and BasicSR do: Y channel, ``crop_border`` pixels off each side.

``artefacts=True`` adds ``srlib.artefacts``' colour shift (8-bit levels of the 16x16 block-mean colours)
and periodic energy (share of the residual's power on the x4 grid frequencies), both on RGB after the crop.

The progress bar reproduces the original report's line, with running means:
``[converting LR images to SR images] PSNR: 24.7648 dB SSIM: 0.6971: 100%|...| 100/100``.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from srlib.artefacts import artefact_metrics
from srlib.niqe import fit_niqe, niqe
from srlib.niqe import resolve_model as resolve_niqe_model  # not infer.resolve_model (an SR model)
from srlib.utils import arg_values, positive_int, write_rows_csv

PROGRESS_DESC = "[converting LR images to SR images]"  # the original report's progress bar
METRICS = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")
ARTEFACTS = ("colour_shift", "periodic_energy")
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"  # torchvision's ImageNet AlexNet, LPIPS's backbone


# ---------------------------------------------------------------------------------------------------
# LPIPS, only when it can run offline


def lpips_status() -> tuple[bool, str]:
    """(available, what to say): LPIPS needs the ``lpips`` package and cached AlexNet weights."""
    if importlib.util.find_spec("lpips") is None:
        return False, "LPIPS skipped: the `lpips` package is not installed (pip install lpips)"
    weights = Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE
    if not weights.is_file():
        return False, (
            f"LPIPS skipped: torchvision's AlexNet weights are not at {weights} (offline here; fetch them once "
            "with torchvision.models.alexnet(weights='IMAGENET1K_V1') where the internet is reachable)"
        )
    return True, "LPIPS: AlexNet v0.1 (lower is better), whole RGB image"


def load_lpips(device: torch.device) -> Callable[[np.ndarray, np.ndarray], float]:
    """A function (sr, hr) -> LPIPS for HWC images in [0, 1] with 1 or 3 channels."""
    import lpips

    net = lpips.LPIPS(net="alex", version="0.1", verbose=False).eval().to(device)

    def score(sr: np.ndarray, hr: np.ndarray) -> float:
        pair = [torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].to(device) for a in (sr, hr)]
        pair = [t.expand(-1, 3, -1, -1) * 2 - 1 for t in pair]  # grey as RGB, [0, 1] -> [-1, 1]
        with torch.inference_mode():
            return float(net(*pair).item())

    return score


# ---------------------------------------------------------------------------------------------------
# the evaluation loop


def _dataset_name(folder: Path) -> str:
    return folder.parent.name if folder.name in ("HR", "GT", "hr") else folder.name


def _images(data) -> tuple[list[Path], str, str]:
    """(HR files, dataset name, where they are) for a name, a folder or a list of files."""
    from srlib.data import resolve_dataset
    from srlib.io import list_images

    if isinstance(data, (list, tuple)):
        files = [Path(f) for f in data]
        return files, "files", ", ".join(str(f) for f in files[:3]) + (" ..." if len(files) > 3 else "")
    folder = resolve_dataset(data)
    is_path = Path(str(data)).expanduser().is_dir()
    return list_images(folder), _dataset_name(folder) if is_path else str(data), str(folder)


def _lr_folder(lr, data) -> Path | None:
    if lr is None:
        return None
    if Path(lr).is_dir():
        return Path(lr)
    from srlib.data import resolve_lr

    return resolve_lr(str(data), str(lr))  # e.g. ("DIV2K_valid", "bicubic_x4")


def quantize(img: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    """Clip to [0, 1] and round to ``bit_depth`` bits, as saving a PNG would (float32 out)."""
    peak = 2**bit_depth - 1
    return (np.round(np.clip(img, 0, 1) * peak) / peak).astype(np.float32)


def make_lr(hr: np.ndarray, scale: int, degradation="bicubic", bit_depth: int = 8) -> np.ndarray:
    """LR from a modcropped HR: MATLAB bicubic (or ``degradation(hr)``), stored as ``bit_depth`` bits."""
    from srlib.imresize import imresize

    lr = degradation(hr) if callable(degradation) else imresize(hr, 1 / scale)
    return quantize(lr, bit_depth)  # as MATLAB's imresize on uint8 returns uint8


def image_metrics(sr: np.ndarray, hr: np.ndarray, crop_border: int) -> dict[str, float]:
    """PSNR and SSIM on Y and on RGB, ``crop_border`` pixels off each side."""
    from srlib.metrics import psnr, ssim

    return dict(
        psnr_y=psnr(sr, hr, crop_border, y_channel=True),
        ssim_y=ssim(sr, hr, crop_border, y_channel=True),
        psnr_rgb=psnr(sr, hr, crop_border, y_channel=False),
        ssim_rgb=ssim(sr, hr, crop_border, y_channel=False),
    )


def _mean(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]  # NaN: a score left out for one image (noted)
    return float(np.mean(values)) if values else math.nan


def evaluate(
    model: nn.Module | str,
    data="Set5",
    scale: int = 4,
    degradation: str | Callable[[np.ndarray], np.ndarray] = "bicubic",
    lr: str | Path | None = None,
    crop_border: int | None = None,
    device: str | torch.device | None = None,
    tile: int | None = None,
    tile_pad: int | None = None,
    ensemble: bool = False,
    precision: str = "fp32",
    lpips: bool | str = "auto",
    progress: bool = True,
    out_csv: str | Path | None = None,
    max_images: int | None = None,
    model_name: str | None = None,
    niqe_model: str | dict | None = None,
    artefacts: bool = False,
    model_args: dict | None = None,
) -> dict:
    """Run ``model`` over a dataset and measure it.

    model: a module, or a name / checkpoint path for ``srlib.hub.resolve_model``.
    data: a dataset name (``Set5``, ``mini/valid``, ``DIV2K_valid``), a folder of HR images, or a list of files.
    degradation: "bicubic" (MATLAB ``imresize``), or a function HR (HWC float) -> LR; ``lr``: a folder of
        LR images (or a known LR kind such as ``bicubic_x4``) instead.
    crop_border: pixels removed from each side before PSNR/SSIM (default: ``scale``).
    precision: as in ``srlib.infer.upscale``; fp32 by default here, so tables compare with published
        numbers to 0.01 dB whatever the CPU ("bf16" is several times faster where it is native).
    lpips: "auto" (when available, else a note), True (required: error if unavailable), False (skipped).
    niqe_model: "official" (the published model; fetched once, RuntimeError offline) or a dict from ``fit_niqe``
        adds the no-reference NIQE of each SR image (Y, ``crop_border`` off); None: no NIQE.
    artefacts: add each SR image's colour shift and periodic energy against its HR (``srlib.artefacts``).
    model_args: settings a checkpoint cannot carry, for ``srlib.infer.resolve_model`` (e.g. ``{"res_scale": 0.1}``).
    Returns {"model", "weights", "dataset", "data", "scale", "crop_border", "degradation", "images": [per-image
    rows], "mean": {...}, "notes": [...], "niqe_model": "official" / "fitted" / None}; ``out_csv`` also
    writes the rows and a "MEAN" row.
    """
    from tqdm import tqdm

    from srlib import hub, infer
    from srlib.imresize import modcrop
    from srlib.io import list_images, load_image, read_image
    from srlib.utils import pick_device

    if isinstance(model, (str, Path)):
        model_name = model_name or str(model)
        weights = hub.describe_model(model)
        model = hub.resolve_model(model, scale, **(model_args or {}))
    else:
        model_name = model_name or type(model).__name__
        weights = "given module"
    device = pick_device(str(device)) if device is not None else pick_device()
    crop = scale if crop_border is None else crop_border
    files, dataset, where = _images(data)
    files = files[:max_images] if max_images else files
    if not files:
        raise FileNotFoundError(f"no HR images in {where}")
    lr_dir = _lr_folder(lr, data)
    lr_files = {p.stem: p for p in list_images(lr_dir)} if lr_dir else {}
    if lr_dir:
        degradation_name = f"LR folder {lr_dir}"
    else:
        degradation_name = degradation if isinstance(degradation, str) else getattr(degradation, "__name__", "custom")
        if isinstance(degradation, str) and degradation != "bicubic":
            raise ValueError(f"degradation must be 'bicubic' or a function HR -> LR, got {degradation!r}")

    notes: list[str] = []
    if lpips is False:
        lpips_fn, lpips_note = None, "LPIPS not requested"
    else:
        available, lpips_note = lpips_status()
        if not available and lpips is True:
            raise RuntimeError(lpips_note)
        lpips_fn = load_lpips(device) if available else None
    notes.append(lpips_note)
    if niqe_model is not None:
        niqe_model = resolve_niqe_model(niqe_model)  # before any image: offline, fail now and say what to do
        if niqe_model["name"] == "official":
            notes.append(f"NIQE: {niqe_model['source']}, Y channel, crop {crop} (lower is more natural)")
        else:
            notes.append(
                f"NIQE*: pristine model fitted by srlib on {niqe_model['blocks']} sharp blocks of "
                f"{niqe_model['images']} images, not the published model: compare values only within this table"
            )
    if artefacts:
        notes.append(
            "colour shift: mean |SR - HR| of 16x16 block-mean RGB (8-bit levels); periodic: share of the "
            "residual's power at the x4 grid frequencies (multiples of H/8, W/8), crop as PSNR"
        )

    # one setting for every image of the table
    upscale = functools.partial(
        infer.upscale, scale=scale, tile=tile, tile_pad=tile_pad, ensemble=ensemble, device=device, precision=precision
    )
    rows: list[dict] = []
    bar = tqdm(files, desc=PROGRESS_DESC, disable=not progress, file=sys.stderr)
    for path in bar:
        hr, bit_depth = load_image(path)
        if hr.shape[2] == 4:
            notes.append(f"{path.name}: alpha channel dropped")
            hr = hr[:, :, :3]
        hr = np.ascontiguousarray(modcrop(hr, scale))
        if lr_dir:
            from srlib.data import find_lr_partner

            lr_path = find_lr_partner(path, lr_files, scale)
            lr_img = read_image(lr_path, mode="keep")[:, :, : hr.shape[2]]
            if lr_img.shape[0] * scale != hr.shape[0] or lr_img.shape[1] * scale != hr.shape[1]:
                raise ValueError(
                    f"{lr_path.name} is {lr_img.shape[1]}x{lr_img.shape[0]} but {path.name} (modcrop) is "
                    f"{hr.shape[1]}x{hr.shape[0]}: not a x{scale} pair"
                )
        else:
            lr_img = make_lr(hr, scale, degradation, bit_depth)
        sr = quantize(upscale(model, lr_img), bit_depth)  # as a saved PNG
        row = dict(image=path.name, **image_metrics(sr, hr, crop))
        if lpips_fn is not None:
            row["lpips"] = lpips_fn(sr, hr)
        if niqe_model is not None:
            try:
                row["niqe"] = niqe(sr, niqe_model, crop_border=crop)
            except ValueError as error:
                row["niqe"] = math.nan
                notes.append(f"{path.name}: NIQE left out ({error})")
        if artefacts:
            row.update(artefact_metrics(sr, hr, crop))
        rows.append(row)
        mean_psnr, mean_ssim = _mean([r["psnr_y"] for r in rows]), _mean([r["ssim_y"] for r in rows])
        bar.set_description(f"{PROGRESS_DESC} PSNR: {mean_psnr:.4f} dB SSIM: {mean_ssim:.4f}")
    bar.close()

    keys = list(METRICS) + ["lpips"] * (lpips_fn is not None) + ["niqe"] * (niqe_model is not None)
    keys += list(ARTEFACTS) * artefacts
    result = dict(
        model=model_name,
        weights=weights,
        dataset=dataset,
        data=where,
        scale=scale,
        crop_border=crop,
        degradation=degradation_name,
        images=rows,
        mean={k: _mean([r[k] for r in rows]) for k in keys},
        notes=notes,
        niqe_model=niqe_model["name"] if niqe_model is not None else None,
    )
    if out_csv is not None:
        write_csv(result, out_csv)
    return result


def write_csv(result: dict, path: str | Path) -> Path:
    """Per-image rows and a final "MEAN" row, with the model, dataset and scale on every row."""
    keys = list(result["mean"])
    fixed = dict(model=result["model"], dataset=result["dataset"], scale=result["scale"])
    rows = [{**fixed, **{k: row[k] for k in ["image", *keys]}} for row in result["images"]]
    return write_rows_csv([*rows, {**fixed, "image": "MEAN", **result["mean"]}], path)


def format_table(result: dict) -> str:
    """A plain-text table: one line per image, the mean, and every note (LPIPS skipped, ...)."""
    keys = list(result["mean"])
    labels = dict(psnr_y="PSNR-Y", ssim_y="SSIM-Y", psnr_rgb="PSNR-RGB", ssim_rgb="SSIM-RGB", lpips="LPIPS",
                  niqe="NIQE" if result.get("niqe_model") == "official" else "NIQE*", colour_shift="colour",
                  periodic_energy="periodic")  # fmt: skip
    width = max([len("image"), len("mean")] + [len(r["image"]) for r in result["images"]]) + 2

    def line(name, values):
        cells = "".join(f"{v:>10.4f}" if not math.isinf(v) else f"{'inf':>10}" for v in values)
        return f"{name:<{width}}{cells}"

    out = [
        f"{result['model']} ({result['weights']}) on {result['dataset']}: x{result['scale']}, "
        f"{result['degradation']} LR, crop {result['crop_border']}, {len(result['images'])} images",
        f"{'image':<{width}}" + "".join(f"{labels[k]:>10}" for k in keys),
    ]
    out += [line(r["image"], [r[k] for k in keys]) for r in result["images"]]
    out.append(line("mean", [result["mean"][k] for k in keys]))
    out += [f"note: {n}" for n in result["notes"]]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------------
# srlib evaluate


def _cli_evaluate(args) -> int:
    if args.csv and Path(args.csv).exists() and not args.overwrite:  # refused before the work, not after
        raise FileExistsError(f"{args.csv} exists already; pass --overwrite to replace it, or choose another --csv")
    from srlib import infer_cli

    niqe_model = "official" if args.niqe else None
    if args.niqe_fit:
        from srlib.data import resolve_dataset
        from srlib.io import list_images

        niqe_model = fit_niqe(list_images(resolve_dataset(args.niqe_fit)))
    result = evaluate(
        args.model,
        args.data,
        **arg_values(args, "scale", "lr", "crop_border", "device", "tile", "ensemble", "precision", "max_images"),
        lpips=False if args.no_lpips else "auto",
        progress=not args.no_progress,
        out_csv=args.csv,
        niqe_model=niqe_model,
        artefacts=args.artefacts,
        model_args=infer_cli.parse_model_args(args.model_arg),
    )
    print(json.dumps(result, indent=1) if args.json else format_table(result))
    return 0


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="PSNR/SSIM (Y and RGB) of a model on a dataset",
        description="Evaluate a model on a dataset: per-image and mean PSNR/SSIM (Y and RGB), LPIPS if available; "
        "NIQE and the artefact measures (colour shift, periodic energy) on request.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="'bicubic', a pretrained name or a checkpoint path")
    parser.add_argument("--data", default="Set5", help="dataset name (Set5, mini/valid, DIV2K_valid) or HR folder")
    parser.add_argument("--scale", type=positive_int, default=4, help="upscaling factor")
    parser.add_argument("--lr", default=None, help="LR folder (or known kind, e.g. bicubic_x4) instead of bicubic")
    parser.add_argument("--crop-border", type=int, default=None, help="border crop (default: the scale)")
    parser.add_argument("--tile", type=int, default=None, help="tile side in LR pixels (default: whole image)")
    parser.add_argument("--ensemble", action="store_true", help="x8 geometric self-ensemble")
    parser.add_argument(
        "--precision", choices=("fp32", "bf16", "fp16", "auto"), default="fp32", help="as for srlib upscale"
    )
    parser.add_argument("--device", default=None, help="cpu, cuda ... (default: CUDA if present)")
    parser.add_argument("--max-images", type=int, default=None, help="only the first N images")
    niqe_group = parser.add_mutually_exclusive_group()
    niqe_group.add_argument("--niqe", action="store_true", help="add NIQE (the published model, fetched once)")
    niqe_group.add_argument("--niqe-fit", default=None, help="add NIQE* (pristine model fitted on these HR images)")
    parser.add_argument("--artefacts", action="store_true", help="add colour shift and periodic (x4 grid) energy")
    parser.add_argument("--no-lpips", action="store_true", help="skip LPIPS even when it is available")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of the table")
    parser.add_argument("--csv", default=None, help="also write per-image rows and the mean to this CSV")
    parser.add_argument("--overwrite", action="store_true", help="replace the --csv file if it exists")
    from srlib.infer_cli import add_model_arg

    add_model_arg(parser)
    parser.set_defaults(func=_cli_evaluate)
