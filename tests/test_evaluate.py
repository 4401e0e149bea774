"""srlib.evaluate: the published bicubic figure, LR folders, CSV/JSON output, the LPIPS note."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from srlib import cli, evaluate
from srlib.imresize import imresize
from srlib.io import write_image


@pytest.fixture
def hr_folder(tmp_path):
    """Three small smooth images (one grayscale), sizes not multiples of 4."""
    folder = tmp_path / "HR"
    rng = np.random.default_rng(0)
    for name, channels in (("0001", 3), ("0002", 3), ("0003", 1)):
        small = rng.random((9, 10, channels))
        write_image(folder / f"{name}.png", imresize(small, output_shape=(50, 43)).clip(0, 1))
    return folder


def test_bicubic_set5_gives_the_published_figure(benchmarks_dir, capsys):
    """Acceptance (issue 3 / 6): srlib evaluate --model bicubic --data Set5 --scale 4 --json."""
    argv = ["evaluate", "--model", "bicubic", "--data", str(benchmarks_dir / "Set5" / "HR"), "--scale", "4", "--json"]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert len(result["images"]) == 5 and result["dataset"] == "Set5"
    assert result["mean"]["psnr_y"] == pytest.approx(28.42, abs=0.02)
    assert result["mean"]["ssim_y"] == pytest.approx(0.8104, abs=0.001)
    assert result["mean"]["psnr_rgb"] < result["mean"]["psnr_y"] - 1  # RGB is well below Y
    # the original report's progress line, with running means
    assert "[converting LR images to SR images] PSNR: 28.4" in captured.err
    assert any(n.startswith("LPIPS") for n in result["notes"])


def test_lr_folder_gives_the_same_numbers_as_bicubic(hr_folder, tmp_path):
    from srlib.imresize import modcrop
    from srlib.io import load_image

    lr_folder = tmp_path / "LR"
    for path in sorted(hr_folder.iterdir()):
        hr, _ = load_image(path)
        write_image(lr_folder / f"{path.stem}x4.png", imresize(modcrop(hr, 4), 1 / 4))  # DIV2K naming
    made = evaluate.evaluate("bicubic", hr_folder, progress=False, lpips=False)
    given = evaluate.evaluate("bicubic", hr_folder, lr=lr_folder, progress=False, lpips=False)
    assert given["mean"] == pytest.approx(made["mean"], abs=1e-9)
    assert [r["image"] for r in given["images"]] == ["0001.png", "0002.png", "0003.png"]
    write_image(lr_folder / "0002x4.png", np.zeros((5, 5, 3)))
    with pytest.raises(ValueError, match="0002x4.png.*0002.png"):
        evaluate.evaluate("bicubic", hr_folder, lr=lr_folder, progress=False, lpips=False)


def test_csv_rows_and_mean(hr_folder, tmp_path):
    out = tmp_path / "results" / "metrics.csv"
    result = evaluate.evaluate("bicubic", hr_folder, out_csv=out, progress=False, lpips=False, crop_border=0)
    rows = list(csv.DictReader(open(out)))
    assert [r["image"] for r in rows] == ["0001.png", "0002.png", "0003.png", "MEAN"]
    assert rows[0]["model"] == "bicubic" and rows[0]["dataset"] == tmp_path.name and rows[0]["scale"] == "4"
    for key in ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"):  # the MEAN row is the mean of the image rows
        assert float(rows[-1][key]) == pytest.approx(np.mean([float(r[key]) for r in rows[:-1]]), rel=1e-6)
    assert float(rows[-1]["psnr_y"]) == pytest.approx(result["mean"]["psnr_y"])
    assert result["crop_border"] == 0


def test_lpips_skipped_visibly_or_required(hr_folder, monkeypatch):
    monkeypatch.setattr(evaluate, "lpips_status", lambda: (False, "LPIPS skipped: no weights here"))
    result = evaluate.evaluate("bicubic", hr_folder, progress=False)
    assert "lpips" not in result["mean"] and "LPIPS skipped: no weights here" in result["notes"]
    assert "note: LPIPS skipped" in evaluate.format_table(result)
    with pytest.raises(RuntimeError, match="LPIPS skipped"):
        evaluate.evaluate("bicubic", hr_folder, progress=False, lpips=True)


def test_lpips_column_when_available(hr_folder, monkeypatch):
    monkeypatch.setattr(evaluate, "lpips_status", lambda: (True, "LPIPS: stand-in"))
    monkeypatch.setattr(evaluate, "load_lpips", lambda device: lambda sr, hr: float(np.abs(sr - hr).mean()))
    result = evaluate.evaluate("bicubic", hr_folder, progress=False, max_images=2)
    assert len(result["images"]) == 2
    per_image = [row["lpips"] for row in result["images"]]  # the stand-in's value on each SR/HR pair
    assert all(value > 0 for value in per_image) and result["mean"]["lpips"] == pytest.approx(np.mean(per_image))
    assert "LPIPS" in evaluate.format_table(result).splitlines()[1]


def test_custom_degradation_and_bad_names(hr_folder):
    nearest = lambda hr: hr[::4, ::4]  # noqa: E731
    result = evaluate.evaluate("bicubic", hr_folder, degradation=nearest, progress=False, lpips=False)
    bicubic = evaluate.evaluate("bicubic", hr_folder, progress=False, lpips=False)
    assert result["degradation"] == "<lambda>" and result["mean"]["psnr_y"] < bicubic["mean"]["psnr_y"]
    with pytest.raises(ValueError, match="degradation"):
        evaluate.evaluate("bicubic", hr_folder, degradation="jpeg", progress=False)
    with pytest.raises(ValueError, match="random weights"):
        evaluate.evaluate("edsr", hr_folder, progress=False)


def test_cli_table_and_csv(hr_folder, tmp_path, capsys):
    out = tmp_path / "m.csv"
    argv = ["evaluate", "--model", "bicubic", "--data", str(hr_folder), "--csv", str(out), "--no-progress"]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "PSNR-Y" in text and "mean" in text and "note: LPIPS" in text and out.is_file()


@pytest.fixture
def photo_pair(tmp_path):
    """Two 256x256 photographs and their 8-bit bicubic LR in folders, for a nearest x4 upsampler whose SR
    image is known without srlib: (HR folder, LR folder, {name: (HR, LR)})."""
    import skimage.data

    hr_dir, lr_dir = tmp_path / "big" / "HR", tmp_path / "big" / "LR"
    hr_dir.mkdir(parents=True), lr_dir.mkdir()
    pairs = {}
    for name, photo in (("coffee", skimage.data.coffee()), ("chelsea", skimage.data.chelsea())):
        hr = photo[:256, :256].astype(np.float32) / 255
        lr = np.round(imresize(hr, 1 / 4).clip(0, 1) * 255) / 255  # what an 8-bit LR file holds
        write_image(hr_dir / f"{name}.png", hr)
        write_image(lr_dir / f"{name}.png", lr)
        pairs[name] = (hr, lr)
    return hr_dir, lr_dir, pairs


def _nearest(lr):
    return lr.repeat(4, axis=0).repeat(4, axis=1)


def test_niqe_joins_the_table(photo_pair, hr_folder):
    """Each row's NIQE is that of the SR image the model made, crop 4 as PSNR; images under 192 px are left
    out with a note."""
    import skimage.data
    import torch

    from srlib.niqe import fit_niqe, niqe

    hr_dir, lr_dir, pairs = photo_pair
    model = fit_niqe([skimage.data.astronaut().astype(np.float32) / 255])
    nearest = torch.nn.Upsample(scale_factor=4, mode="nearest")
    result = evaluate.evaluate(nearest, hr_dir, lr=lr_dir, progress=False, lpips=False, niqe_model=model)
    assert result["niqe_model"] == "fitted"
    assert any(n.startswith("NIQE*: pristine model fitted by srlib") for n in result["notes"])
    expected = {name: niqe(_nearest(lr), model, crop_border=4) for name, (_, lr) in pairs.items()}
    got = {Path(row["image"]).stem: row["niqe"] for row in result["images"]}
    assert got == pytest.approx(expected, rel=1e-6)
    assert result["mean"]["niqe"] == pytest.approx(np.mean(list(expected.values())), rel=1e-6)
    assert "NIQE*" in evaluate.format_table(result)

    small = evaluate.evaluate("bicubic", hr_folder, progress=False, lpips=False, niqe_model=model)
    assert np.isnan(small["mean"]["niqe"])  # 50x43 images are too small: left out, with a note each
    assert sum("NIQE left out" in n for n in small["notes"]) == 3


def test_cli_csv_is_not_replaced_without_overwrite_and_scale_must_be_positive(hr_folder, tmp_path, capsys):
    out = tmp_path / "m.csv"
    out.write_text("an earlier result\n")
    argv = ["evaluate", "--model", "bicubic", "--data", str(hr_folder), "--csv", str(out), "--no-progress"]
    assert cli.main(argv) == 2 and "pass --overwrite" in capsys.readouterr().err
    assert out.read_text() == "an earlier result\n"
    assert cli.main([*argv, "--overwrite"]) == 0 and "MEAN" in out.read_text()
    with pytest.raises(SystemExit):
        cli.main(["evaluate", "--model", "bicubic", "--data", str(hr_folder), "--scale", "0"])
    assert "must be a positive integer" in capsys.readouterr().err


def test_cli_official_niqe_and_artefacts(photo_pair, tmp_path, capsys, unavailable):
    """`srlib evaluate --niqe --artefacts`: the published model's NIQE and both artefact measures per image."""
    from srlib import niqe as niqe_module
    from srlib.artefacts import artefact_metrics

    try:
        niqe_module.fetch_official(verbose=False)
    except RuntimeError as error:
        unavailable(f"official NIQE parameters unavailable: {error}")
    hr_dir, lr_dir, pairs = photo_pair
    out = tmp_path / "m.csv"
    argv = ["evaluate", "--model", "bicubic", "--data", str(hr_dir), "--niqe", "--artefacts", "--no-lpips",
            "--no-progress", "--csv", str(out)]  # fmt: skip
    assert cli.main(argv) == 0
    header = capsys.readouterr().out.splitlines()[1].split()
    assert header[-3:] == ["NIQE", "colour", "periodic"]
    with open(out) as f:
        rows = {row["image"]: row for row in csv.DictReader(f)}
    for name, (hr, _) in pairs.items():
        sr = evaluate.quantize(imresize(evaluate.make_lr(hr, 4), 4))  # what the bicubic model makes
        row = rows[f"{name}.png"]
        assert float(row["niqe"]) == pytest.approx(niqe_module.niqe(sr, crop_border=4), rel=1e-6)
        for key, value in artefact_metrics(sr, hr, 4).items():
            assert float(row[key]) == pytest.approx(value, rel=1e-6, abs=1e-12)
    assert 3 < float(rows["MEAN"]["niqe"]) < 15  # the standard scale, not a fitted model's tens


def test_official_niqe_offline_fails_before_any_image(hr_folder, tmp_path, monkeypatch, capsys):
    from srlib.data import download

    def offline(entry, dest, verbose):
        raise RuntimeError("pip download basicsr==1.4.2 failed (is the package index reachable?): no network")

    monkeypatch.setenv("SRLIB_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(download, "_pip_download", offline)
    argv = ["evaluate", "--model", "bicubic", "--data", str(hr_folder), "--niqe", "--no-progress"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "official NIQE needs its published parameters" in err and "--niqe-fit" in err


def test_cli_model_arg_reaches_the_evaluated_model(hr_folder, tmp_path, capsys):
    import torch

    from srlib.models import build_model

    torch.manual_seed(0)
    model = build_model("edsr_baseline", num_feat=8, num_block=2, res_scale=0.1).eval()
    torch.save(model.state_dict(), tmp_path / "edsr.pth")  # a bare state dict: res_scale not recorded
    argv = ["evaluate", "--model", str(tmp_path / "edsr.pth"), "--data", str(hr_folder), "--json", "--no-progress"]
    assert cli.main([*argv, "--no-lpips", "--model-arg", "res_scale=0.1"]) == 0
    got = json.loads(capsys.readouterr().out)["mean"]["psnr_y"]
    expected = evaluate.evaluate(model, hr_folder, progress=False, lpips=False)["mean"]["psnr_y"]
    assert got == pytest.approx(expected, abs=1e-9)
    with pytest.warns(UserWarning, match="res_scale=1.0 is a guess"):
        guessed = evaluate.evaluate(str(tmp_path / "edsr.pth"), hr_folder, progress=False, lpips=False)
    assert abs(guessed["mean"]["psnr_y"] - expected) > 1e-3  # another model: the guess is wrong here
