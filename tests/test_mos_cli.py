"""srlib mos kit / srlib mos summarize (srlib.mos.cli), through srlib.cli.main."""

from __future__ import annotations

from mos_helpers import METHODS, rating_rows, synthetic, write_rows

from srlib import cli, mos


def test_cli_kit_and_summarize(folders, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "COMMANDS", {"mos": "srlib.mos"})  # only this command, whatever the others do
    methods = [f"{name}={folders / name}" for name in METHODS]
    out = tmp_path / "KIT"
    assert (
        cli.main(["mos", "kit", "--methods", *methods, "--hr", str(folders / "HR"), "-o", str(out), "--raters", "2"])
        == 0
    )
    ratings = tmp_path / "ratings"
    synthetic(out, ratings, lambda rater, info: 4 if info["method"] == METHODS[1] else 2)
    code = cli.main(["mos", "summarize", str(ratings), "--key", str(out / "key.json"), "--out", str(tmp_path / "s"),
                     "--boot", "100", "--zscore"])  # fmt: skip
    assert code == 0 and (tmp_path / "s" / "mos_table_z.csv").exists() and (tmp_path / "s" / "mos_plot_z.png").exists()
    assert "Wilcoxon" in capsys.readouterr().out
    with open(ratings / "r01.csv", "a") as handle:
        handle.write(f"r01,ffffffff,9,t,1,99,{mos.load_key(out)['fingerprint']}\n")
    assert cli.main(["mos", "summarize", str(ratings), "--key", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unknown item id 'ffffffff'" in err and "score '9'" in err and "r01.csv:" in err


def test_cli_summarize_refuses_to_overwrite_a_summary(kit, tmp_path, capsys):
    key = mos.load_key(kit)
    ratings = write_rows(tmp_path / "r" / "r01.csv", rating_rows(key, "r01", mos.load_kit(kit)["orders"]["r01"],
                                                            lambda info: 3))  # fmt: skip
    args = ["mos", "summarize", str(ratings), "--key", str(kit), "--boot", "20", "--out", str(tmp_path / "s")]
    assert cli.main(args) == 0
    assert cli.main(args) == 2 and "already holds a summary" in capsys.readouterr().err
    assert cli.main([*args, "--overwrite"]) == 0
