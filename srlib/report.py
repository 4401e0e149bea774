"""Regenerate the report: run every notebook headless with papermill, then assemble one HTML page.

``srlib report --mode quick`` runs ``notebooks/NN_*.ipynb`` in order with the overrides in
``params/quick.yaml``, writes the executed notebooks and ``report.html`` to ``build/report/quick/``,
and the figures to ``figures/``. The page follows the original course report's outline.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

import yaml

from srlib.utils import PROJECT_ROOT, data_roots, figures_dir

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
PARAMS_DIR = PROJECT_ROOT / "params"

# The original report's outline: (heading, notebook stem or None, text shown before the notebook).
OUTLINE = [
    ("1. The problem", None, "problem.md"),
    ("2. The data", "01_data_prep", None),
    ("3. The methods compared and the final architecture", "02_models", None),
    ("4. Training", "03_training", None),
    ("5. Results in three image groups", "04_visual_comparison", None),
    ("6. Evaluation: objective (PSNR/SSIM) and subjective (MOS)", "05_metrics_mos", None),
    ("7. Discussion and conclusions", None, "discussion.md"),
]


MODE_NOTES = {
    "quick": "small models, short runs, cropped images: a lecture demo, not the paper numbers",
    "full": "paper settings, all benchmark sets: for a GPU",
}


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def load_params(mode: str) -> dict[str, dict]:
    """Per-notebook parameter overrides for ``mode`` (``params/<mode>.yaml``), checked against each notebook."""
    import papermill

    path = PARAMS_DIR / f"{mode}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no parameter file {path}; modes: {[p.stem for p in PARAMS_DIR.glob('*.yaml')]}")
    params = yaml.safe_load(path.read_text()) or {}
    stems = {p.stem: p for p in notebook_paths()}
    for stem, overrides in params.items():
        if stem not in stems:
            raise ValueError(f"{path}: {stem!r} is not a notebook in {NOTEBOOKS_DIR}")
        known = papermill.inspect_notebook(str(stems[stem]))
        unknown = sorted(set(overrides or {}) - set(known))
        if unknown:  # papermill itself would only warn and run with the defaults
            raise ValueError(f"{path}: {stem} has no parameter(s) {unknown}; it has {sorted(known)}")
    return {stem: dict(params.get(stem) or {}) for stem in stems}


def machine_summary() -> str:
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.node() or 'unknown host'}: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPU cores, {device}; Python {platform.python_version()}, torch {torch.__version__}"
    )


def weights_summary() -> list[str]:
    """One line per set of weights a reader should know about: course checkpoints and cached pretrained models."""
    lines = []
    for card in sorted((PROJECT_ROOT / "data" / "weights").glob("*.md")):
        first = card.read_text().strip().splitlines()[0].lstrip("# ") if card.stat().st_size else card.stem
        lines.append(f"course checkpoint {card.stem}: {first}")
    try:
        from srlib import zoo

        lines += [f"pretrained {m['name']} ({m['source']})" for m in zoo.list_models() if m.get("cached")]
    except Exception as error:  # the zoo is optional for the report header
        lines.append(f"pretrained models: not listed ({error.__class__.__name__})")
    return lines or ["none found (figures that need weights say so)"]


def run(mode: str = "quick", out_dir: Path | None = None, only: list[str] | None = None) -> Path:
    """Execute the notebooks for ``mode`` and write ``report.html``; returns its path."""
    import papermill

    out_dir = Path(out_dir or PROJECT_ROOT / "build" / "report" / mode)
    executed = out_dir / "notebooks"
    executed.mkdir(parents=True, exist_ok=True)
    params = load_params(mode)
    timings = {}
    for path in notebook_paths():
        if only and path.stem not in only:
            continue
        print(f"[report] running {path.name} ({mode})", file=sys.stderr, flush=True)
        start = time.perf_counter()
        papermill.execute_notebook(
            str(path),
            str(executed / path.name),
            parameters=params.get(path.stem, {}),
            kernel_name="python3",
            cwd=str(NOTEBOOKS_DIR),
            progress_bar=False,
        )
        timings[path.stem] = time.perf_counter() - start
    html = assemble_html(mode, executed, timings)
    print(f"[report] wrote {html} and figures in {figures_dir()}", file=sys.stderr)
    return html


def assemble_html(mode: str, executed: Path, timings: dict[str, float]) -> Path:
    """One page: a header (mode, data, weights, machine), then each outline section in order."""
    import nbformat
    from nbconvert import HTMLExporter

    report = nbformat.v4.new_notebook()
    header = [
        "# Real-world image super-resolution (x4): EDSR, SRGAN and ESRGAN",
        "",
        f"*Regenerated by `srlib report --mode {mode}` on {dt.datetime.now():%Y-%m-%d %H:%M}.*",
        "",
        f"- **Mode:** {mode} ({MODE_NOTES.get(mode, 'custom parameters')})",
        f"- **Data roots:** {', '.join(str(p) for p in data_roots())}",
        "- **Weights:**",
        *[f"  - {line}" for line in weights_summary()],
        f"- **Machine:** {machine_summary()}",
        f"- **Notebook run times:** {', '.join(f'{k} {v:.0f} s' for k, v in timings.items()) or 'n/a'}",
    ]
    report.cells.append(nbformat.v4.new_markdown_cell("\n".join(header)))
    for heading, stem, text_file in OUTLINE:
        report.cells.append(nbformat.v4.new_markdown_cell(f"# {heading}"))
        if text_file:
            report.cells.append(
                nbformat.v4.new_markdown_cell((PROJECT_ROOT / "srlib" / "assets" / text_file).read_text())
            )
        if stem and (executed / f"{stem}.ipynb").is_file():
            notebook = nbformat.read(executed / f"{stem}.ipynb", as_version=4)
            report.cells.append(nbformat.v4.new_markdown_cell(f"*From `notebooks/{stem}.ipynb`.*"))
            report.cells += [cell for cell in notebook.cells if "parameters" not in cell.metadata.get("tags", [])]
        elif stem:
            report.cells.append(nbformat.v4.new_markdown_cell(f"*`{stem}` was not run in this build.*"))
    exporter = HTMLExporter(exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(report)
    path = executed.parent / "report.html"
    path.write_text(body)
    return path


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser("report", help="run every notebook headless and assemble the HTML report")
    parser.add_argument("--mode", default="quick", help="parameter set in params/<mode>.yaml (quick or full)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default build/report/<mode>)")
    parser.add_argument("--only", nargs="*", help="run only these notebook stems (e.g. 02_models)")
    parser.set_defaults(func=lambda args: run(args.mode, args.out, args.only) and 0)
