"""``srlib upscale``: files and folders, names, modes and bit depths kept, inputs never overwritten, one-line
errors, ``--model-arg`` for what a checkpoint cannot carry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from srlib import cli, hub, infer, infer_cli
from srlib.imresize import imresize
from srlib.models import build_model

# --- srlib upscale ------------------------------------------------------------------------------------


@pytest.fixture
def image_folder(tmp_path):
    from srlib.io import write_image

    folder = tmp_path / "in"
    rng = np.random.default_rng(0)
    write_image(folder / "a.png", rng.random((10, 12, 3)))
    write_image(folder / "b.png", rng.random((8, 8, 4)))  # RGBA stays RGBA
    write_image(folder / "c.png", rng.random((9, 11, 1)), bit_depth=16)  # 16-bit grey stays so
    return folder


def test_cli_upscale_folder_keeps_names_modes_and_depth(image_folder, tmp_path):
    from srlib.io import load_image

    out = tmp_path / "out"
    assert cli.main(["upscale", str(image_folder), "-o", str(out), "--model", "bicubic", "--tile", "5"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]
    a, depth_a = load_image(out / "a.png")
    b, _ = load_image(out / "b.png")
    c, depth_c = load_image(out / "c.png")
    assert a.shape == (40, 48, 3) and b.shape == (32, 32, 4) and c.shape == (36, 44, 1)
    assert (depth_a, depth_c) == (8, 16)


def test_cli_upscale_single_file_to_file(image_folder, tmp_path):
    from srlib.io import load_image

    target = tmp_path / "big.png"
    assert cli.main(["upscale", str(image_folder / "a.png"), "-o", str(target), "--model", "bicubic"]) == 0
    big, depth = load_image(target)
    assert big.shape == (40, 48, 3) and depth == 8
    small, _ = load_image(image_folder / "a.png")
    expected = np.clip(imresize(small, 4), 0, 1)  # MATLAB bicubic x4, then 8-bit rounding
    assert np.abs(big - expected).max() <= 0.5 / 255 + 1e-6


def test_cli_upscale_never_overwrites_inputs(image_folder, capsys):
    assert cli.main(["upscale", str(image_folder), "-o", str(image_folder), "--model", "bicubic"]) == 2
    assert "input folder" in capsys.readouterr().err
    single = image_folder / "a.png"
    assert cli.main(["upscale", str(single), "-o", str(single), "--model", "bicubic"]) == 2
    assert "overwrite" in capsys.readouterr().err
    assert cli.main(["upscale", str(single), "-o", str(image_folder.parent / "o"), "--model", "edsr"]) == 2
    assert "random weights" in capsys.readouterr().err


def test_cli_upscale_refuses_two_inputs_with_one_name(image_folder, tmp_path):
    from srlib.io import write_image

    other = tmp_path / "other"
    write_image(other / "a.png", np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="both be written"):
        infer_cli.plan_outputs([str(image_folder), str(other)], str(tmp_path / "out"))


def test_cli_upscale_goes_on_past_bad_files_and_exits_non_zero(image_folder, tmp_path, capsys):
    (image_folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    from srlib.io import write_image

    write_image(image_folder / "large.png", np.zeros((30, 30, 3)))  # over the --max-pixels below at x4
    out = tmp_path / "out"
    argv = ["upscale", str(image_folder), "-o", str(out), "--model", "bicubic", "--max-pixels", "8000"]
    assert cli.main(argv) == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]  # no partial files either
    captured = capsys.readouterr()
    assert "broken.png: not a readable image" in captured.err and "large.png: the x4 output" in captured.err
    assert "2 image(s) failed" in captured.err and "wrote 3 of 5" in captured.out


def test_the_output_size_limit_is_checked_before_any_work():
    model = hub.resolve_model("bicubic", 4)
    with pytest.raises(ValueError, match=r"would be 40x40 = 1,600 pixels .*over the limit of 1,000"):
        infer.upscale(model, np.zeros((10, 10, 3), np.float32), max_output_pixels=1000)
    assert infer.upscale(model, np.zeros((10, 10, 3), np.float32), max_output_pixels=1600).shape == (40, 40, 3)


def test_cli_upscale_refuses_existing_outputs_unless_overwrite(image_folder, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["upscale", str(image_folder / "a.png"), "-o", str(out), "--model", "bicubic"]
    assert cli.main(argv) == 0
    before = (out / "a.png").read_bytes()
    assert cli.main(argv) == 2 and "exist(s) already; pass --overwrite" in capsys.readouterr().err
    assert cli.main([*argv, "--overwrite"]) == 0 and (out / "a.png").read_bytes() == before


def test_a_hard_link_to_the_input_is_never_written_through(image_folder, tmp_path, capsys):
    import os

    out = tmp_path / "out"
    out.mkdir()
    os.link(image_folder / "a.png", out / "a.png")  # the output name is the input under another path
    before = (image_folder / "a.png").read_bytes()
    for extra in ([], ["--overwrite"]):
        argv = ["upscale", str(image_folder / "a.png"), "-o", str(out), "--model", "bicubic", *extra]
        assert cli.main(argv) == 2 and "would overwrite an input" in capsys.readouterr().err
    assert (image_folder / "a.png").read_bytes() == before


def test_cli_upscale_bad_scale_and_unwritable_output_are_one_line(image_folder, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["upscale", str(image_folder), "-o", str(tmp_path / "o"), "--model", "bicubic", "--scale", "0"])
    assert "argument --scale: must be a positive integer, got '0'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="positive integer"):
        hub.resolve_model("bicubic", 0)
    (tmp_path / "file").write_text("a file where a folder should be")
    argv = ["upscale", str(image_folder), "-o", str(tmp_path / "file" / "out"), "--model", "bicubic"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write to" in err and "choose another -o" in err


def edsr_checkpoint(path, res_scale: float = 0.1) -> nn.Module:
    """A small EDSR trained (here: initialised) with res_scale 0.1, saved as a bare state dict, which
    cannot record its res_scale (so loading it guesses 1.0 from the width)."""
    torch.manual_seed(0)
    model = build_model("edsr_baseline", num_feat=8, num_block=2, res_scale=res_scale).eval()
    torch.save(model.state_dict(), path)
    return model


def test_cli_model_arg_sets_what_the_checkpoint_cannot_carry(image_folder, tmp_path, capsys):
    from srlib.io import load_image

    ckpt = tmp_path / "edsr_rs01.pth"
    model = edsr_checkpoint(ckpt)
    source = image_folder / "a.png"
    argv = ["upscale", str(source), "--model", str(ckpt), "-o"]
    assert cli.main([*argv, str(tmp_path / "set.png"), "--model-arg", "res_scale=0.1"]) == 0
    with pytest.warns(UserWarning, match="res_scale=1.0 is a guess.*--model-arg res_scale"):
        assert cli.main([*argv, str(tmp_path / "guessed.png")]) == 0
    expected = np.clip(infer.upscale(model, load_image(source)[0], scale=4), 0, 1)
    got_set, got_guessed = load_image(tmp_path / "set.png")[0], load_image(tmp_path / "guessed.png")[0]
    assert np.abs(got_set - expected).max() <= 0.5 / 255 + 1e-6
    assert np.abs(got_guessed - expected).max() > 2 / 255  # the guess is wrong for this checkpoint

    assert cli.main([*argv, str(tmp_path / "x.png"), "--model-arg", "res_scale"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="is a guess"):  # res_scale was not given: guessed, then the typo fails
        assert cli.main([*argv, str(tmp_path / "x.png"), "--model-arg", "res_scael=0.1"]) == 2
    assert "res_scael" in capsys.readouterr().err
    assert infer_cli.parse_model_args(["scale=3", "res_scale=1e-1", "flag=false", "name=x"]) == dict(
        scale=3, res_scale=0.1, flag=False, name="x"
    )
