"""``srlib zoo``: the list shows every pretrained model and what is cached; a manual model says where to get it."""

from __future__ import annotations

from test_hub import REQUIRED

from srlib import cli, hub


def test_cli_list_and_fetch_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SRLIB_CACHE_DIR", str(tmp_path / "cache"))
    cached = hub.pretrained_path("realsr-df2k")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")  # one model in the (otherwise empty) cache
    assert cli.main(["zoo", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "name" and lines[0].split()[-1] == "cached"
    status = {line.split()[0]: line.split()[-1] for line in lines[1:] if line.split()[0] in hub.PRETRAINED}
    assert set(REQUIRED) <= set(status)
    assert status == {name: "yes" if name == "realsr-df2k" else "no" for name in hub.PRETRAINED}
    assert cli.main(["zoo", "fetch", "esrgan-rrdb-psnr-x4"]) == 2
    assert "RRDB_PSNR_x4.pth" in capsys.readouterr().err
