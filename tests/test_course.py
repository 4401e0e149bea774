"""``srlib.course``: the course checkpoints' model cards and their table."""


def test_course_card_says_what_the_perceptual_term_was(tmp_path):
    import json

    from srlib import course

    run = tmp_path / "run"
    run.mkdir()
    (run / "log.csv").write_text("step,elapsed_s,patches_per_s\n200,60,2.0\n")
    (run / "summary.json").write_text(json.dumps({"step": 200, "wall_s": 60.0, "stopped_early": False}))
    (run / "best_meta.json").write_text(json.dumps({"step": "200", "perceptual": "conv54random"}))
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"0" * 1000)
    scores = {"Set5": {"psnr": 25.5, "ssim": 0.77, "niqe": 5.25, "colour_shift": 0.5, "periodic_energy": 0.0012}}
    bicubic = {"Set5": {"psnr": 28.42, "ssim": 0.81, "niqe": 7.5}}
    card = course._card("esrgan_x4_course", "esrgan_course", run, weights, scores, bicubic)
    assert "conv54random" in card and "random-weight" in card
    assert "| Set5 | 25.50 | 0.7700 | 5.25 | 0.50 | 0.0012 | 28.42 / 0.8100 / 7.50 |" in card
    psnr_card = course._card("edsr_x4_course", "edsr_course", run, weights, scores, bicubic)
    assert "random-weight" not in psnr_card and "monitor set: Set5" in psnr_card
    assert "Distilled" not in psnr_card and "**Distilled from `realsr-df2k`.**" in card
    srgan_card = course._card("srgan_x4_course", "srgan_course", run, weights, scores, bicubic)
    assert "**Distilled from `realsr-df2k`.**" in srgan_card and "high-passed (sigma 1 px)" in srgan_card


def test_course_table_reads_every_card(tmp_path):
    import json

    from srlib import course

    scores = {s: {"psnr": 30.0 + i, "ssim": 0.8, "niqe": 6.5, "colour_shift": 0.4, "periodic_energy": 0.001}
              for i, s in enumerate(course.BENCHMARKS)}  # fmt: skip
    for name in course.COURSE_ORDER:
        (tmp_path / f"{name}.json").write_text(json.dumps(scores))
    bicubic = tmp_path / "bicubic.json"
    bicubic.write_text(json.dumps({s: {"psnr": 25.0, "ssim": 0.7} for s in course.BENCHMARKS}))
    lines = course.table(tmp_path, bicubic).splitlines()
    assert len(lines) == 2 + 1 + len(course.COURSE_ORDER)
    assert lines[2] == "| bicubic | 25.00 / 0.7000 | 25.00 / 0.7000 | 25.00 / 0.7000 | - | - | - |"
    assert lines[3] == "| edsr_x4_course | 30.00 / 0.8000 | 31.00 / 0.8000 | 32.00 / 0.8000 | 6.50 | 0.40 | 0.0010 |"
