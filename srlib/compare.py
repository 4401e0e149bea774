"""Helpers of the comparison notebooks (04 visual, 05 metrics): the first weights of a method that load,
ESRGAN network interpolation, one image through several methods, our metric table beside the published one, and
the perception-distortion figure of the evaluated methods.

Measuring is ``srlib.evaluate``'s job (``evaluate``, ``make_lr``, ``image_metrics``); this module arranges
its results for the notebooks' figures and tables.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import nn

from srlib.evaluate import image_metrics, make_lr, quantize
from srlib.published import PUBLISHED_X4
from srlib.utils import course_weights_dir


def _available(spec: str, download: bool) -> bool:
    from srlib import hub

    if spec == "bicubic" or Path(spec).is_file() or (course_weights_dir() / f"{spec}.safetensors").is_file():
        return True
    if spec in hub.PRETRAINED:
        return hub.is_cached(spec) or (download and hub.PRETRAINED[spec].source != "manual")
    return False


def load_method(candidates: str | list[str], scale: int = 4, download: bool = True):
    """The first candidate that loads, never random weights: (model or None, spec, origin for titles).

    candidates: course checkpoint stems (``edsr_x4_course``), checkpoint paths, zoo names or "bicubic", in
    order of preference. A fallback says so in its origin ("... instead of edsr_x4_course (missing)"); when
    nothing loads the model is None and the origin says why, so the notebook skips the column with a note.
    """
    from srlib import hub

    candidates = [candidates] if isinstance(candidates, str) else list(candidates)
    missing = []
    for spec in candidates:
        if not _available(spec, download):
            missing.append(f"{spec} (missing)")
            continue
        try:
            model = hub.resolve_model(spec, scale)
        except (FileNotFoundError, RuntimeError, ValueError, OSError) as error:
            missing.append(f"{spec} ({str(error)[:80]})")
            continue
        origin = hub.describe_model(spec)
        if missing:
            origin += f"; fallback, instead of {', '.join(missing)}"
        return model, spec, origin
    return None, "", f"not shown: none of {', '.join(missing)} could be loaded (random weights are never shown)"


def interpolate_models(psnr_model: nn.Module, gan_model: nn.Module, alpha: float) -> nn.Module:
    """ESRGAN network interpolation: a copy of the pair with theta = (1 - alpha) theta_PSNR + alpha theta_GAN."""
    import copy

    from srlib.train import interpolate_networks

    model = copy.deepcopy(gan_model)
    model.load_state_dict(interpolate_networks(psnr_model.state_dict(), gan_model.state_dict(), alpha))
    return model.eval()


def compare_methods(methods: dict, hr: np.ndarray, scale: int = 4, device=None) -> tuple[list, list[dict]]:
    """Each method on the bicubic LR of one HR image: panels [(title, SR)] + the HR panel, and metric rows.

    methods: name -> (model, origin). Titles carry the method, the weights' origin and PSNR / SSIM (Y,
    crop = scale) on this image; SR images are rounded to 8 bits before measuring, as saved files would be.
    """
    from srlib import infer
    from srlib.plots import panel_title

    lr = make_lr(hr, scale)
    panels, rows = [], []
    for name, (model, origin) in methods.items():
        sr = quantize(infer.upscale(model, lr, scale=scale, device=device, precision="fp32"))
        metrics = image_metrics(sr, hr, scale)
        panels.append((panel_title(name, origin, metrics), sr))
        rows.append(dict(method=name, weights=origin, **metrics))
    panels.append(("HR (ground truth)", hr))
    return panels, rows


ARTEFACT_COLUMNS = {"colour_shift": "colour shift", "periodic_energy": "periodic"}  # metrics_table's labels


def metrics_table(results: list[dict], published: bool = True):
    """One row per (method, source) with "<dataset> PSNR" / "SSIM" (/ "LPIPS" / "NIQE" / "colour shift" /
    "periodic") columns, ours then published.

    results: ``evaluate`` outputs whose ``model`` is a method name (Bicubic, EDSR, SRGAN, ESRGAN). Published
    rows (REFERENCE.md section 5, same evaluation setting) follow each method for the datasets evaluated.
    """
    import pandas as pd

    datasets = list(dict.fromkeys(r["dataset"] for r in results))
    rows: dict[tuple, dict] = {}
    for r in results:
        row = rows.setdefault((r["model"], "ours"), dict(method=r["model"], source="ours", weights=r["weights"]))
        row[f"{r['dataset']} PSNR"] = r["mean"]["psnr_y"]
        row[f"{r['dataset']} SSIM"] = r["mean"]["ssim_y"]
        for key, label in (("lpips", "LPIPS"), ("niqe", "NIQE"), *ARTEFACT_COLUMNS.items()):
            if key in r["mean"]:
                row[f"{r['dataset']} {label}"] = r["mean"][key]
    table = []
    for method in dict.fromkeys(r["model"] for r in results):
        table.append(rows[(method, "ours")])
        for name, trained_on, source, values in PUBLISHED_X4.get(method, []) if published else []:
            if any(d in values for d in datasets):
                weights = "no weights" if trained_on == "-" else f"trained on {trained_on}"
                row = dict(method=name, source=f"published: {source}", weights=weights)
                for d in datasets:
                    if d in values:
                        row[f"{d} PSNR"], row[f"{d} SSIM"] = values[d]
                table.append(row)
    return pd.DataFrame(table)


def perception_distortion_figure(
    results: list[dict],
    scale: int = 4,
    niqe_label: str = "published model",
    methods: list[str] | None = None,
    datasets: list[str] | None = None,
):
    """Notebook 05's perception-distortion plane: PSNR against each perceptual score that every result has.

    results: ``evaluate`` outputs whose ``model`` is a method name and ``weights`` its origin (as for
    ``metrics_table``); one point per result, labelled "<method> <dataset>". One panel per score, NIQE then
    LPIPS (lower is better, so the y axis is inverted: better is up and to the right); with neither, one
    PSNR-SSIM panel whose title says it is NOT a perception-distortion plot. niqe_label: which pristine model
    the NIQE axis uses. methods / datasets: the orders that give each method its colour and each dataset its
    marker (default: order of appearance), so that a method left out does not recolour the others.
    Returns (figure, scores): scores are the panels' keys ("niqe", "lpips" or "ssim_y"), for the file name.
    """
    import matplotlib.pyplot as plt

    scores = [key for key in ("niqe", "lpips") if results and all(key in r["mean"] for r in results)] or ["ssim_y"]
    labels = {
        "niqe": f"NIQE, {niqe_label} (Y, crop 4; lower = more natural)",
        "lpips": "LPIPS (AlexNet v0.1, lower = perceptually closer)",
        "ssim_y": "SSIM (Y)",
    }
    methods = methods or list(dict.fromkeys(r["model"] for r in results))
    datasets = datasets or list(dict.fromkeys(r["dataset"] for r in results))
    fig, axes = plt.subplots(1, len(scores), figsize=(6.5 * len(scores), 5), squeeze=False)
    colors = dict(zip(methods, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    markers = dict(zip(datasets, "os^Dv", strict=False))
    setting = f"x{scale} from MATLAB-bicubic LR"
    for ax, score in zip(axes[0], scores, strict=True):
        for r in results:
            x, y = r["mean"]["psnr_y"], r["mean"][score]
            ax.scatter(x, y, color=colors[r["model"]], marker=markers[r["dataset"]], s=50)
            ax.annotate(f"{r['model']} {r['dataset']}", (x, y), fontsize=7, xytext=(4, 2), textcoords="offset points")
        ax.set_xlabel("PSNR (dB, Y, crop 4; higher = closer to HR)")
        ax.set_ylabel(labels[score])
        if score == "ssim_y":
            title = f"No perceptual score available: PSNR vs SSIM ({setting}),\nNOT a perception-distortion plot"
        else:
            ax.invert_yaxis()
            title = f"Perception-distortion ({setting}): better is up and to the right"
        ax.set_title(title, fontsize=9)
    # which weights each point is: the legend under the axes
    weights = {r["model"]: r["weights"] for r in results}
    handles = [plt.Line2D([], [], color=colors[m], marker="o", ls="", label=f"{m}: {w}") for m, w in weights.items()]
    fig.legend(handles=handles, loc="lower center", fontsize=6.5, frameon=False, ncol=1)
    fig.tight_layout(rect=(0, 0.01 + 0.035 * len(handles), 1, 1))
    return fig, scores
