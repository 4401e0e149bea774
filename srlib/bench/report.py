"""The tables and the run log: markdown tables of the rows, and the entry appended to BENCHMARKS.md."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from srlib import utils

RUN_LOG = "### Run log (appended by `srlib bench`)"


def _fmt(value) -> str:
    if isinstance(value, float):
        if value != value or abs(value) >= 100:
            return f"{value:.0f}"
        return f"{value:.3g}" if abs(value) >= 0.01 or value == 0 else f"{value:.1e}"
    return str(value)


def markdown_table(rows: list[dict]) -> str:
    return utils.markdown_table(rows, _fmt)


def append_run(path: Path, text: str) -> None:
    """Insert ``text`` at the end of the run log (before the next ``## `` section), creating it if absent."""
    lines = path.read_text().splitlines() if path.exists() else []
    if RUN_LOG not in lines:
        lines += ["", "## Summary against the targets", "", RUN_LOG]
    start = lines.index(RUN_LOG) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    new = lines[:end] + [""] + text.rstrip().splitlines() + [""] + lines[end:]
    path.write_text("\n".join(new).rstrip() + "\n")


def run_log_entry(results: dict[str, list[dict]], info: dict, command: str, seconds: float) -> str:
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    head = [
        f"#### {stamp}: `{command}` ({seconds / 60:.1f} min)",
        "",
        f"- machine: {info['cpu']}, {info['cores']} cores ({info['threads']} torch threads), "
        f"{info['memory_gb']} GB, CUDA: {info['cuda']}; rows on: {info['device']}"
        + (f" (TF32: {info['tf32']})" if info["device"].startswith("cuda") else ""),
        f"- versions: Python {info['python']}, torch {info['torch']}, numpy {info['numpy']}; "
        f"oneDNN (mkldnn) {info['mkldnn']}, MKL {info['mkl']}, CPU capability {info['cpu_capability']}",
        f"- load average at start (1, 5, 15 min): {info['load']}; at end: {info['load_end']}; "
        f"clock: {os.environ.get('SRLIB_BENCH_CLOCK', 'wall')}",
    ]
    body = [f"\n{section}:\n\n{markdown_table(rows)}" for section, rows in results.items()]
    return "\n".join(head + body)
