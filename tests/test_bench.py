"""Smoke test of the benchmark's table code with minuscule sizes (seconds, numbers meaningless)."""

from pathlib import Path

import pytest
import torch

from srlib import bench
from srlib.bench import ceilings, models, report

TINY_RRDB = dict(num_block=1, num_feat=8, num_grow_ch=4)


def test_ceilings_and_model_row():
    rows = ceilings.bench_ceilings(dict(bench.SIZES["quick"], matmul=32, conv_sizes=(8,), repeat=1))
    measured = [r for r in rows if "gflops" in r and not r["what"].startswith("peak")]
    assert len(measured) == 1 + 2 * len(ceilings.CONV_FORMATS)  # matmul, then every format in both layouts
    assert all(r["gflops"] > 0 for r in measured)
    assert all("vs_fp32" in r for r in measured if "fp32" not in r["what"])
    for variant, fmt in (("fast", "fp32"), ("upscale-bf16", "bf16")):
        job = dict(name="rrdbnet", overrides=TINY_RRDB, variant=variant, lr=8, repeat=1, conv_sizes=[8])
        row = models.job_model(job)
        assert row["format"] == fmt and row["gflop"] > 0 and row["seconds"] > 0 and 0 < row["ratio"]


def test_theoretical_peak_reads_zen4_and_amx(monkeypatch, tmp_path):
    zen4 = "vendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\ncpu MHz\t\t: 2600.000\nflags\t\t: avx512_bf16\n"
    real_read = Path.read_text
    monkeypatch.setattr(ceilings.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(ceilings.torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(
        Path, "read_text", lambda self, *a, **k: zen4 if str(self) == "/proc/cpuinfo" else real_read(self)
    )
    peak = {r["what"].split()[1]: r["gflops"] for r in ceilings.theoretical_peak()}
    assert peak == pytest.approx({"fp32": 2 * 2.6 * 32, "bf16": 2 * 2.6 * 64, "int8": 2 * 2.6 * 128})
    other = zen4.replace("AuthenticAMD", "SomethingElse")
    monkeypatch.setattr(
        Path, "read_text", lambda self, *a, **k: other if str(self) == "/proc/cpuinfo" else real_read(self)
    )
    assert ceilings.theoretical_peak() == []


def test_fast_rrdbnet_matches_eager():
    from srlib.models import build_model
    from srlib.models.fast import optimize_for_inference

    torch.manual_seed(0)
    for scale, unshuffle in ((4, True), (2, True), (2, False), (3, False)):  # False: KAIR's one upsampling stage
        model = build_model("rrdbnet", scale=scale, pixel_unshuffle=unshuffle, num_block=2, num_feat=16, num_grow_ch=8)
        model.eval()
        fast = optimize_for_inference(model)
        assert list(fast.state_dict()) == list(model.state_dict())
        x = torch.rand(1, 3, 12, 16)
        with torch.no_grad():
            assert (fast(x) - model(x)).abs().max() < 1e-5


def test_fast_srresnet_folds_batchnorm_exactly():
    """BN with non-trivial running statistics, so that a wrong fold cannot pass."""
    from srlib.models import build_model
    from srlib.models.fast import FastSRResNet, optimize_for_inference

    torch.manual_seed(0)
    model = build_model("srresnet", scale=4, num_block=3, num_feat=16)
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.2, 0.2)
    model.eval()
    fast = optimize_for_inference(model)
    assert isinstance(fast, FastSRResNet)
    assert all(torch.equal(a, b) for a, b in zip(fast.state_dict().values(), model.state_dict().values(), strict=True))
    x = torch.rand(2, 3, 12, 10)
    with torch.no_grad():
        expected = model(x)
    assert (fast(x) - expected).abs().max() < 1e-5


def test_table_and_run_log(tmp_path):
    table = report.markdown_table([dict(a=1.23456, b="x"), dict(a=1234.5, c=1e-4)])
    assert table.splitlines()[0] == "| a | b | c |" and "1.23" in table and "1.0e-04" in table
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n## Summary against the targets\n\n" + report.RUN_LOG + "\n\n## Training\n\nx\n")
    report.append_run(path, "#### run 1")
    report.append_run(path, "#### run 2")
    text = path.read_text()
    assert text.index("#### run 1") < text.index("#### run 2") < text.index("## Training")
    fresh = tmp_path / "NEW.md"
    report.append_run(fresh, "#### run 1")
    assert report.RUN_LOG in fresh.read_text()


def test_every_section_runs_at_quick_sizes(tmp_path):
    """`srlib bench --quick`: each section gives rows without errors, and srlib's metrics equal scikit-image's."""
    results = bench.run(quick=True, tmp=tmp_path)
    assert list(results) == list(bench.SECTIONS)
    for section, rows in results.items():
        assert rows and not any("error" in row for row in rows), (section, rows)
    reference = results["metrics"][-1]
    assert reference["max_dpsnr"] < 1e-10 and reference["max_dssim"] < 1e-10
    assert all(row["patches_per_s"] > 0 for row in results["data"] + results["train"])


def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch, capsys):
    from srlib import cli

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli.main(["bench", "--device", "cuda", "--quick", "--no-append"]) != 0
    assert "no CUDA device" in capsys.readouterr().err
