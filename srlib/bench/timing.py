"""Timing on the bench device, peak memory, and rows run in a fresh subprocess (so a row's peak memory is its own)."""

from __future__ import annotations

import importlib
import json
import os
import resource
import subprocess
import sys
import time

import torch

MALLOC_ENV = {  # glibc: keep freed large blocks for reuse instead of unmapping them (no page faults)
    "MALLOC_MMAP_THRESHOLD_": str(2**31 - 1),
    "MALLOC_TRIM_THRESHOLD_": str(2**31 - 1),
}


def bench_device() -> torch.device:
    """Where the model, training and metric rows run: ``SRLIB_BENCH_DEVICE`` (``--device``), default CPU.

    An environment variable rather than an argument so the subprocess rows inherit it.
    """
    return torch.device(os.environ.get("SRLIB_BENCH_DEVICE", "cpu"))


def sync() -> None:
    """Wait for queued GPU work, so that a clock read after it measures the work (no-op on the CPU)."""
    if bench_device().type == "cuda":
        torch.cuda.synchronize()


def best_time(fn, repeat: int = 3, warmup: int = 1) -> float:
    """Best seconds of ``repeat`` calls after ``warmup`` calls (the least disturbed run).

    Wall clock, or with ``SRLIB_BENCH_CLOCK=cpu`` (``--clock cpu``) this process's CPU time: on a shared,
    loaded machine that leaves out the time other processes held the cores, but it only equals the
    compute time with one thread (``--threads 1``; idle OpenMP threads spin and count). On a GPU each
    call is timed to the end of its kernels.
    """
    clock = time.process_time if os.environ.get("SRLIB_BENCH_CLOCK") == "cpu" else time.perf_counter
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeat):
        start = clock()
        fn()
        sync()
        times.append(clock() - start)
    return min(times)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports KB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def run_child(job: dict, env: dict | None = None) -> dict:
    """Run ``job`` (a JSON-able dict; ``job["job"]`` names its function as "module:function") in a fresh Python
    with ``env`` added: the function's row plus the child's peak memory, or ``{"error": last line of output}``."""
    code = "import sys; from srlib.bench import timing; timing.child(sys.argv[1])"
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(job)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return dict(error=tail[0][:200])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def child(job_json: str) -> None:
    """The subprocess side of :func:`run_child`: run the job's function and print its row as the last line."""
    job = json.loads(job_json)
    if job.get("threads"):
        torch.set_num_threads(job["threads"])
    result = dict(rss_start_mb=peak_rss_mb())
    module, _, function = job["job"].partition(":")  # e.g. "srlib.bench.models:job_model"
    result.update(getattr(importlib.import_module(module), function)(job))
    result["peak_rss_mb"] = peak_rss_mb()
    if bench_device().type == "cuda":
        result["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(result))
