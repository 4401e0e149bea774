"""benchmarks/peers.py: every installed peer runtime computes what srlib fp32 computes (tiny RRDBNet, 8x8 LR).

Runtimes that are not installed (`pip install -e ".[peers]"`) are skipped; no timings are checked.
"""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from srlib.models import build_model

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("peers", ROOT / "benchmarks" / "peers.py")
peers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(peers)

FP32_LEVELS = 0.05  # fp32 runtimes differ from srlib fp32 by float rounding only (measured: under 0.01 levels)


@pytest.fixture(scope="module")
def tiny():
    """(model, LR uint8 8x8, srlib fp32 output): RRDBNet with 1 block of 8 features, seeded weights."""
    torch.manual_seed(0)
    model = build_model("rrdbnet", num_block=1, num_feat=8, num_grow_ch=4).eval()
    with torch.no_grad():
        model.conv_last.bias.fill_(0.5)  # outputs around mid-grey: few are clipped, so agreement means something
    lr, _ = peers.test_image(8)
    reference = peers.run_srlib(model, lr, "fp32", threads=1, repeat=1)["out"]
    assert reference.shape == (32, 32, 3)
    assert ((reference > 0) & (reference < 1)).mean() > 0.9
    return model, lr, reference


def test_agreement_known_answers():
    a = np.full((4, 4, 3), 0.5, dtype=np.float32)
    assert peers.agreement(a, a) == (0.0, math.inf)
    levels, psnr = peers.agreement(a + 1 / 255, a)
    assert levels == pytest.approx(1.0, abs=1e-4)
    assert psnr == pytest.approx(20 * math.log10(255), abs=1e-3)  # one level everywhere: 48.13 dB
    b = a.copy()
    b[1, 2, 0] += 3 / 255  # one value of 48 three levels off: the largest difference is 3, not the mean
    levels, psnr = peers.agreement(b, a)
    assert levels == pytest.approx(3.0, abs=1e-4)
    assert psnr == pytest.approx(10 * math.log10(48 / (3 / 255) ** 2), abs=1e-3)


def test_image_is_8bit_lr():
    lr, note = peers.test_image(8)
    assert lr.shape == (8, 8, 3) and lr.dtype == np.uint8
    assert "8x8 LR" in note


def test_srlib_bf16_within_two_levels(tiny):
    model, lr, reference = tiny
    result = peers.run_srlib(model, lr, "bf16", threads=1, repeat=1)
    assert peers.agreement(result["out"], reference)[0] <= peers.MAX_LEVELS
    assert result["threads"] == 1 and result["best_s"] > 0


def test_onnxruntime_matches_srlib(tiny, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    model, lr, reference = tiny
    peers.export_onnx(model, (1, 3, 8, 8), tmp_path / "tiny.onnx")
    result = peers.run_onnxruntime(tmp_path / "tiny.onnx", lr, "fp32", threads=1, repeat=1)
    assert peers.agreement(result["out"], reference)[0] < FP32_LEVELS
    assert result["threads"] == 1


@pytest.mark.parametrize("config", ["default", "fp32"])
def test_openvino_matches_srlib(tiny, tmp_path, config):
    pytest.importorskip("onnx")
    pytest.importorskip("openvino")
    model, lr, reference = tiny
    peers.export_onnx(model, (1, 3, 8, 8), tmp_path / "tiny.onnx")
    result = peers.run_openvino(tmp_path / "tiny.onnx", lr, config, threads=1, repeat=1)
    levels = peers.agreement(result["out"], reference)[0]
    assert levels < (FP32_LEVELS if result["precision"] == "f32" else peers.MAX_LEVELS)
    assert config == "default" or result["precision"] == "f32"


@pytest.mark.slow  # pnnx converts through TorchScript and its own binary: about 10 s on 2 loaded cores
def test_ncnn_matches_srlib(tiny, tmp_path):
    pytest.importorskip("ncnn")
    pytest.importorskip("pnnx")
    model, lr, reference = tiny
    files = peers.export_ncnn(model, (1, 3, 8, 8), tmp_path)
    for config in ("default", "fp32", "bf16"):
        result = peers.run_ncnn(files, lr, config, threads=1, repeat=1)
        levels = peers.agreement(result["out"], reference)[0]
        assert levels < (peers.MAX_LEVELS if config == "bf16" else FP32_LEVELS), config


def test_failed_row_is_reported_not_raised(tmp_path):
    job = dict(runtime="ncnn", config="fp32", model="x", file=["a.param", "a.bin"], threads=1, repeat=1,
               input=str(tmp_path / "missing.npy"), output=str(tmp_path / "out.npy"))  # fmt: skip
    result, out = peers._run_row(job)
    assert out is None and result["status"].startswith("failed: ")


def test_table_has_one_cell_per_column_on_every_row():
    ok = dict(model="m", runtime="srlib", config="auto", status="ok", detail="ran bf16", threads=2, best_s=0.5,
              cpu_s=1.0, load_s=0.1, first_s=1.0, peak_rss_mib=900.0, imports_rss_mib=700.0, max_diff_levels=0.5,
              psnr_vs_srlib_fp32_db=60.0, within_2_levels=True, version="2")  # fmt: skip
    missing = dict(model="m", runtime="openvino", config="fp32", status="not installed")
    lines = peers.table([ok, missing]).splitlines()
    assert len({line.count("|") for line in lines}) == 1
    assert "not installed" in lines[-1] and "| 2.000 |" in lines[2]
    peer = dict(ok, runtime="onnxruntime", config="fp32", detail="CPU", best_s=1.0, cpu_s=1.5, within_2_levels=False)
    text = "\n".join(peers.summary([ok, peer, missing]))
    assert "fastest peer: onnxruntime fp32" in text and "2.00x its speed by wall time, 1.50x by CPU time" in text
    assert "within 2 levels:" not in text  # the only peer is further off
