"""``srlib bench``: run the sections in order, print each table, append the run to BENCHMARKS.md."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch

from srlib.bench.ceilings import bench_ceilings
from srlib.bench.models import bench_models, bench_train
from srlib.bench.pipeline import bench_data, bench_metrics
from srlib.bench.report import append_run, markdown_table, run_log_entry
from srlib.bench.sizes import SIZES
from srlib.bench.tiling import bench_tiling
from srlib.bench.timing import bench_device
from srlib.utils import machine_info

SECTIONS = ("ceilings", "models", "tiling", "train", "metrics", "data")


def run(quick: bool = False, only: list[str] | None = None, tmp: Path | None = None) -> dict[str, list[dict]]:
    """Measure the chosen sections; returns {section: rows} and prints each table as it completes."""
    import tempfile

    cfg = SIZES["quick" if quick else "full"]
    if bench_device().type == "cuda" and not quick:
        cfg = dict(cfg, conv_sizes=(256, 1024))  # a GPU needs larger convs to reach its ceiling
    sections = only or list(SECTIONS)
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        tmp = tmp or Path(scratch)
        for section in sections:
            start = time.perf_counter()
            if section == "ceilings":
                rows = bench_ceilings(cfg)
            elif section == "models":
                rows = bench_models(cfg)
            elif section == "tiling":
                rows = bench_tiling(cfg, tmp)
            elif section == "train":
                rows = bench_train(cfg)
            elif section == "metrics":
                rows = bench_metrics(cfg)
            else:
                rows = bench_data(cfg, tmp)
            results[section] = rows
            print(f"\n{section} ({time.perf_counter() - start:.0f} s)\n{markdown_table(rows)}", flush=True)
    return results


def _cli_bench(args) -> int:
    unknown = set(args.only or []) - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown section {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the subprocess rows inherit it
    os.environ["SRLIB_BENCH_CLOCK"] = args.clock
    if args.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: no CUDA device is visible to torch here; run on a GPU machine or drop it")
    os.environ["SRLIB_BENCH_DEVICE"] = args.device  # the subprocess rows inherit it
    info = dict(machine_info(), device=str(bench_device()))
    command = "srlib bench " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["bench"] else "srlib bench"
    start = time.perf_counter()
    results = run(quick=args.quick, only=args.only)
    info["load_end"] = machine_info()["load"]
    text = run_log_entry(results, info, command.strip(), time.perf_counter() - start)
    if not args.no_append:
        append_run(Path(args.output), text)
        print(f"\nappended to {args.output}")
    return 0


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench", help="speed and memory table against this machine's ceilings, appended to BENCHMARKS.md"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds (numbers mean nothing)")
    parser.add_argument("--only", nargs="+", metavar="SECTION", help=f"run only these ({', '.join(SECTIONS)})")
    parser.add_argument("--no-append", action="store_true", help="print the tables, leave BENCHMARKS.md alone")
    parser.add_argument("--output", default="BENCHMARKS.md", help="file whose run log gets the tables")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    parser.add_argument(
        "--clock", choices=("wall", "cpu"), default="wall", help="wall time, or CPU time (with --threads 1)"
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where ceilings, models, tiling, training and srlib's metrics run (the data loader is CPU work)",
    )
    parser.set_defaults(func=_cli_bench)
