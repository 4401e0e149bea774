"""Datasets: roots and names, pairing, crops and augmentation, workers, downloads (local server), mini."""

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from srlib import cli, data
from srlib.data import degrade
from srlib.imresize import imresize
from srlib.io import read_image, write_image
from srlib.train import loop
from srlib.train.config import TrainConfig


@pytest.fixture
def roots(tmp_path, monkeypatch):
    first, second = tmp_path / "root1", tmp_path / "root2"
    monkeypatch.setenv("SRLIB_DATA_DIR", f"{first}{__import__('os').pathsep}{second}")
    return first, second


def _write_set(folder: Path, sizes, scale=None, lr_folder=None, seed=0):
    rng = np.random.default_rng(seed)
    for i, (h, w) in enumerate(sizes):
        hr = rng.random((h, w, 3)).astype(np.float32)
        write_image(folder / f"{i + 1:04d}.png", hr)
        if lr_folder is not None:
            write_image(
                lr_folder / f"{i + 1:04d}x{scale}.png", imresize(read_image(folder / f"{i + 1:04d}.png"), 1 / scale)
            )


def test_roots_and_resolution(roots, benchmarks_dir, monkeypatch):
    first, second = roots
    assert data.data_roots() == [first, second]
    _write_set(second / "Set5" / "HR", [(8, 8)])
    assert data.resolve_dataset("Set5") == second / "Set5" / "HR"
    _write_set(first / "DIV2K" / "DIV2K_valid_HR", [(8, 8)])
    assert data.resolve_dataset("DIV2K_valid") == first / "DIV2K" / "DIV2K_valid_HR"
    assert data.resolve_dataset(second / "Set5") == second / "Set5" / "HR"  # a path: its HR/ subfolder
    with pytest.raises(FileNotFoundError, match="srlib data fetch Urban100"):
        data.resolve_dataset("Urban100")
    monkeypatch.setenv("SRLIB_DATA_DIR", str(benchmarks_dir))
    assert len(list(data.resolve_dataset("BSD100").iterdir())) >= 100


def test_one_lookup_order_and_folders_holding_images_directly(roots):
    first, second = roots
    _write_set(first / "T91", [(8, 8)])  # images directly in <root>/<name>/, as T91 and BSD200 come
    assert data.resolve_dataset("T91") == first / "T91"
    _write_set(second / "T91" / "HR", [(8, 8)])  # an HR/ layout in any root comes first
    assert data.resolve_dataset("T91") == second / "T91" / "HR"
    assert data.registry.candidates("T91") == [
        first / "T91" / "HR",
        second / "T91" / "HR",
        first / "T91",
        second / "T91",
    ]
    with pytest.raises(FileNotFoundError, match="mini/train"):
        data.resolve_dataset("mini/train", build=False)  # `srlib data list` builds nothing
    assert not (first / "mini").exists()


def test_resolve_lr_names_the_known_kinds(roots):
    first, _ = roots
    (first / "Set5" / "LR_bicubic" / "X4").mkdir(parents=True)
    assert data.resolve_lr("Set5", "bicubic_x4") == first / "Set5" / "LR_bicubic" / "X4"
    with pytest.raises(ValueError, match="known kinds: bicubic_x2, bicubic_x3, bicubic_x4"):
        data.resolve_lr("Set5", "unknown_x4")
    with pytest.raises(ValueError, match="not a known dataset"):
        data.resolve_lr("T91", "bicubic_x4")
    with pytest.raises(FileNotFoundError, match="bicubic_x2 folder"):
        data.resolve_lr("Set5", "bicubic_x2")


def test_paired_folders_crops_align(tmp_path):
    _write_set(tmp_path / "HR", [(64, 48), (48, 64)], scale=4, lr_folder=tmp_path / "LR")
    ds = data.SRDataset(tmp_path / "HR", 4, patch_size=32, lr_dir=tmp_path / "LR", augment=True, seed=1)
    assert len(ds) == 2
    for i in range(len(ds)):
        item = ds[i]
        assert item["lr"].shape == (3, 8, 8) and item["hr"].shape == (3, 32, 32) and item["name"] == f"{i + 1:04d}"
        # aligned: the LR patch is (close to) the bicubic downscale of the HR patch, away from the border
        down = imresize(item["hr"], 1 / 4)
        assert (down - item["lr"])[:, 2:-2, 2:-2].abs().max() < 0.02
    whole = data.SRDataset(tmp_path / "HR", 4, lr_dir=tmp_path / "LR", augment=False)[0]
    assert whole["hr"].shape == (3, 64, 48) and whole["lr"].shape == (3, 16, 12)


def test_on_the_fly_degradations_and_determinism(tmp_path):
    _write_set(tmp_path / "HR", [(40, 40)])
    items = {}
    for name in ("bicubic", "fritsche_noise", "second_order"):
        ds = data.SRDataset(tmp_path / "HR", 4, patch_size=24, degradation=name, repeat=3)
        assert len(ds) == 3
        a, b = ds[1], ds[1]
        assert a["lr"].shape == (3, 6, 6) and a["hr"].shape == (3, 24, 24)
        assert torch.equal(a["lr"], b["lr"]) and torch.equal(a["hr"], b["hr"])
        items[name] = a
    # the crop is drawn before the degradation, so every name sees the same HR patch
    hr = items["bicubic"]["hr"]
    assert all(torch.equal(item["hr"], hr) for item in items.values())
    clean = items["bicubic"]["lr"]
    reference = degrade.bicubic(hr.permute(1, 2, 0).numpy(), 4)  # MATLAB bicubic of that patch
    np.testing.assert_allclose(clean.permute(1, 2, 0).numpy(), reference, atol=1e-6)
    noise = items["fritsche_noise"]["lr"] - clean  # Gaussian, sigma 8 on 0-255 (108 samples)
    assert 5 < noise.std() * 255 < 11 and abs(noise.mean()) * 255 < 3
    assert (items["second_order"]["lr"] - clean).abs().mean() > 0.02  # measured 0.05
    ds = data.SRDataset(tmp_path / "HR", 4, patch_size=24, seed=0)
    first = ds[0]["hr"]
    ds.set_epoch(1)
    assert not torch.equal(first, ds[0]["hr"])  # a new epoch, new crops
    custom = data.SRDataset(tmp_path / "HR", 2, degradation=lambda hr, rng: hr[1::2, 1::2])
    item = custom[0]  # the callable gets the (augmented) HR as HWC; its output is the LR, untouched
    assert item["lr"].shape == (3, 20, 20)
    assert torch.equal(item["lr"], item["hr"][:, 1::2, 1::2])


def test_augmentations_cover_the_dihedral_group(tmp_path):
    _write_set(tmp_path / "HR", [(16, 16)])
    ds = data.SRDataset(tmp_path / "HR", 4, patch_size=16, repeat=64, cache=True)
    seen = {tuple(ds[i]["hr"][0, :2, :2].flatten().tolist()) for i in range(len(ds))}
    assert len(seen) == 8


def test_bad_inputs_are_named(tmp_path):
    _write_set(tmp_path / "HR", [(32, 32)])
    write_image(tmp_path / "LR" / "0001x4.png", np.zeros((7, 8, 3)))
    with pytest.raises(ValueError, match=r"0001\.png.*0001x4\.png"):
        data.SRDataset(tmp_path / "HR", 4, lr_dir=tmp_path / "LR")[0]
    (tmp_path / "LR_empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no LR image for 0001.png"):
        data.SRDataset(tmp_path / "HR", 4, lr_dir=tmp_path / "LR_empty")
    write_image(tmp_path / "HR" / "0002.png", np.zeros((8, 40, 3)))
    with pytest.warns(UserWarning, match="skipping 0002.png"):
        assert len(data.SRDataset(tmp_path / "HR", 4, patch_size=16)) == 1
    with pytest.raises(ValueError, match="no usable images"), pytest.warns(UserWarning):
        data.SRDataset(tmp_path / "HR", 4, patch_size=64)


def test_workers_and_distributed_shards(tmp_path):
    _write_set(tmp_path / "HR", [(40, 40)] * 4)
    ds = data.SRDataset(tmp_path / "HR", 4, patch_size=16, repeat=2)
    single = [b["lr"] for b in DataLoader(ds, batch_size=4)]
    multi = [b["lr"] for b in DataLoader(ds, batch_size=4, num_workers=2)]
    assert all(torch.equal(a, b) for a, b in zip(single, multi, strict=True))
    # the training loop's loaders for two ranks: disjoint shards that together cover the dataset once,
    # each batch being the dataset's items at the shard's indices for that epoch
    cfg = TrainConfig(batch_size=2, seed=3)
    shards_by_epoch = []
    for epoch in (0, 1):
        loaders = [loop._batches(ds, cfg, epoch, 0, rank, 2) for rank in (0, 1)]
        shards = [list(loader.sampler) for loader in loaders]
        assert len(shards[0]) == len(shards[1]) == 4
        assert sorted(shards[0] + shards[1]) == list(range(8))
        assert ds.epoch == epoch
        for loader, shard in zip(loaders, shards, strict=True):
            got = torch.cat([b["hr"] for b in loader])
            assert torch.equal(got, torch.stack([ds[i]["hr"] for i in shard]))
        shards_by_epoch.append(shards)
    assert shards_by_epoch[0] != shards_by_epoch[1]  # reshuffled each epoch


def test_dihedral_has_eight_symmetries_undone_alike_in_numpy_and_torch():
    hwc = np.random.default_rng(0).random((5, 7, 3)).astype(np.float32)
    nchw = torch.from_numpy(hwc.transpose(2, 0, 1).copy())[None]
    outputs = set()
    for k in range(8):
        out = data.dataset.dihedral(hwc, k, axes=(0, 1))
        assert np.array_equal(data.dataset.undo_dihedral(out, k, axes=(0, 1)), hwc)
        assert torch.equal(data.dataset.dihedral(nchw, k)[0].permute(1, 2, 0), torch.from_numpy(out.copy()))
        assert torch.equal(data.dataset.undo_dihedral(data.dataset.dihedral(nchw, k), k), nchw)
        outputs.add(out.tobytes())
    assert len(outputs) == 8
    rotated = data.dataset.dihedral(hwc, 1 | 4, axes=(0, 1))  # flip left-right, then transpose: 90 degrees
    assert np.array_equal(rotated, np.rot90(hwc, k=1, axes=(0, 1)))


# --- downloads against a local server (conftest.server) ---------------------------------------------


def _zip_of_images(n=2) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for i in range(n):
            png = io.BytesIO()
            from PIL import Image

            Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(png, format="PNG")
            z.writestr(f"Tiny_HR/{i:04d}.png", png.getvalue())
    return buffer.getvalue()


def test_fetch_resume_and_checksum(tmp_path, server, monkeypatch):
    site, base, requests = server
    archive = _zip_of_images()
    (site / "tiny.zip").write_bytes(archive)
    sha = hashlib.sha256(archive).hexdigest()
    monkeypatch.setitem(
        data.DATASETS,
        "Tiny",
        data.Known("Tiny/HR", files=((f"{base}/tiny.zip", sha, None),), moves={"Tiny_HR": "Tiny/HR"}),
    )
    root = tmp_path / "root"
    part = root / "downloads" / "tiny.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(archive[:100])  # an interrupted download: the rest comes with a Range request
    hr = data.fetch_dataset("Tiny", root)
    assert hr == root / "Tiny" / "HR" and len(list(hr.iterdir())) == 2
    assert (root / "downloads" / "tiny.zip").read_bytes() == archive
    # one request, resuming after the 100 bytes already there; only the rest came over the wire
    assert requests == [("/tiny.zip", "bytes=100-", len(archive) - 100)]

    monkeypatch.setitem(data.DATASETS, "Bad", data.Known("Bad/HR", files=((f"{base}/tiny.zip", "0" * 64, None),)))
    with pytest.raises(RuntimeError, match="wrong sha256"):
        data.fetch_dataset("Bad", tmp_path / "other")


def test_a_complete_part_file_is_not_downloaded_again(tmp_path, server, monkeypatch):
    site, base, requests = server
    archive = _zip_of_images()
    (site / "tiny.zip").write_bytes(archive)
    known = data.Known("Tiny/HR", files=((f"{base}/tiny.zip", None, None),), moves={"Tiny_HR": "Tiny/HR"})
    monkeypatch.setitem(data.DATASETS, "Tiny", known)
    root = tmp_path / "root"
    part = root / "downloads" / "tiny.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(archive)  # complete, but the rename never happened
    assert len(list(data.fetch_dataset("Tiny", root).iterdir())) == 2
    assert requests == [("/tiny.zip", f"bytes={len(archive)}-", 0)]  # one 416, then done
    # a .part longer than the file is not its beginning: downloaded again from the start
    (root / "Tiny").rename(tmp_path / "moved")
    (root / "downloads" / "tiny.zip").unlink()
    part.write_bytes(archive + b"junk")
    assert len(list(data.fetch_dataset("Tiny", root).iterdir())) == 2
    assert requests[1:] == [("/tiny.zip", f"bytes={len(archive) + 4}-", 0), ("/tiny.zip", None, len(archive))]


def test_digests_sha256_its_prefix_or_md5_and_a_bad_file_moves_aside(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"payload")
    sha, md5 = hashlib.sha256(b"payload").hexdigest(), hashlib.md5(b"payload").hexdigest()
    for digest in (sha, sha[:8], f"md5:{md5}", None):
        data.download.check_digest(path, digest)
    with pytest.raises(RuntimeError, match=r"f\.bin has the wrong md5 .*expected 0000.*moved to f\.bin\.bad"):
        data.download.check_digest(path, "md5:" + "0" * 32)
    assert not path.exists() and (tmp_path / "f.bin.bad").read_bytes() == b"payload"


def test_fetch_offline_fails_fast_naming_url(tmp_path, monkeypatch):
    url = "http://127.0.0.1:9/nowhere/big.zip"  # port 9 (discard): connection refused at once
    monkeypatch.setitem(data.DATASETS, "Gone", data.Known("Gone/HR", files=((url, None, None),)))
    with pytest.raises(RuntimeError, match=r"nowhere/big\.zip.*put it at .*downloads"):
        data.fetch_dataset("Gone", tmp_path, timeout=2)
    with pytest.raises(RuntimeError, match="registration"):
        data.fetch_dataset("NTIRE2020_Track1", tmp_path)


# --- the embedded mini set and the CLI -----------------------------------------------------------------


def test_build_mini_is_deterministic(tmp_path, monkeypatch):
    small = {
        "train": {"chelsea": data.MINI_SOURCES["train"]["chelsea"]},
        "valid": {"coffee": data.MINI_SOURCES["valid"]["coffee"]},
    }
    monkeypatch.setattr(data.mini, "MINI_SOURCES", small)
    a, b = data.build_mini(tmp_path / "a", max_side=96), data.build_mini(tmp_path / "b", max_side=96)
    files = sorted(p.relative_to(a) for p in a.rglob("*.png"))
    assert len(files) == 2 * 6  # HR, LR x2/x3/x4, track1 x4, realesrgan x4
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    hr = read_image(a / "train" / "HR" / "chelsea.png")
    assert hr.shape[0] % 12 == 0 and hr.shape[1] % 12 == 0 and max(hr.shape) <= 96
    assert read_image(a / "train" / "LR_bicubic" / "X4" / "chelseax4.png").shape[0] == hr.shape[0] // 4
    ds = data.SRDataset(a / "train" / "HR", 4, lr_dir=a / "train" / "LR_track1" / "X4", patch_size=48)
    assert ds[0]["lr"].shape == (3, 12, 12)


def test_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SRLIB_DATA_DIR", str(tmp_path))
    assert cli.main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "DIV2K_train" in out and "missing" in out
    assert cli.main(["data", "fetch", "NTIRE2020_Track1"]) == 2
    assert "registration" in capsys.readouterr().err


# --- archives that try to write outside the data root ----------------------------------------------------


def _tar(path: Path, members: list[tuple[str, str | None, bytes]]) -> Path:
    """A tar of (name, symlink target or None, file bytes)."""
    import tarfile

    with tarfile.open(path, "w") as t:
        for name, link, payload in members:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                t.addfile(info)
            else:
                info.size = len(payload)
                t.addfile(info, io.BytesIO(payload))
    return path


def test_a_link_inside_the_archive_cannot_write_outside_the_root(tmp_path):
    # benchmark/Set5/esc -> ../.. stays inside the staging folder (tarfile's "data" filter accepts it), but
    # once benchmark/Set5 is moved to ROOT/Set5 it points at ROOT/..; Set5/esc/victim/ was then merged
    # through it, to ROOT/../victim.
    archive = _tar(
        tmp_path / "benchmark.tar",
        [
            ("benchmark/Set5/HR/0001.png", None, b"not really a png"),
            ("benchmark/Set5/esc", "../..", b""),
            ("Set5/esc/victim/evil.txt", None, b"outside the root"),
        ],
    )
    root = tmp_path / "root"
    with pytest.raises(RuntimeError, match=r"benchmark\.tar holds a link \(benchmark/Set5/esc\)"):
        data.download.extract_archive(archive, root, {"benchmark/Set5": "Set5"})
    assert not (tmp_path / "victim").exists()
    assert not (root / "downloads" / "benchmark.tar.extract").exists()  # no staging folder left behind


def test_merging_never_follows_a_link_already_in_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "Set5").mkdir(parents=True)
    (root / "Set5" / "esc").symlink_to(tmp_path)  # left by anything else
    staging = tmp_path / "staging"
    (staging / "Set5" / "esc" / "victim").mkdir(parents=True)
    (staging / "Set5" / "esc" / "victim" / "evil.txt").write_text("outside the root")
    with pytest.raises(RuntimeError, match=r"Set5/esc is a link"):
        data.download._move(staging / "Set5", root / "Set5", root)
    assert not (tmp_path / "victim").exists()


def test_tar_filter_errors_are_one_line_and_leave_no_staging_folder(tmp_path):
    archive = _tar(tmp_path / "bad.tar", [("../outside.txt", None, b"x")])
    root = tmp_path / "root"
    with pytest.raises(RuntimeError, match=r"bad\.tar: refused to extract .*outside\.txt"):
        data.download.extract_archive(archive, root, {})
    assert not (tmp_path / "outside.txt").exists()
    assert not (root / "downloads" / "bad.tar.extract").exists()


def test_known_archives_carry_checksums():
    for name in ("Set5", "Set14", "BSD100", "Urban100", "Flickr2K"):
        assert all(digest for _url, digest, _size in data.DATASETS[name].files), name


def test_teacher_outputs_are_cropped_and_turned_with_the_hr(tmp_path):
    _write_set(tmp_path / "HR", [(66, 50), (50, 66)])  # not multiples of 4: the teacher's HR is modcropped
    (tmp_path / "teacher").mkdir()
    for path in sorted((tmp_path / "HR").iterdir()):  # a "teacher" whose output is the (modcropped) HR itself
        hr = read_image(path)
        write_image(tmp_path / "teacher" / path.name, hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4])
    ds = data.SRDataset(tmp_path / "HR", 4, patch_size=32, augment=True, seed=3, teacher_dir=tmp_path / "teacher")
    for i in range(len(ds)):
        item = ds[i]
        assert item["teacher"].shape == item["hr"].shape == (3, 32, 32) and item["lr"].shape == (3, 8, 8)
        assert torch.equal(item["teacher"], item["hr"])
    whole = data.SRDataset(tmp_path / "HR", 4, augment=False, teacher_dir=tmp_path / "teacher")[0]
    assert whole["teacher"].shape == whole["hr"].shape == (3, 64, 48)

    write_image(tmp_path / "teacher" / "0001.png", np.zeros((64, 52, 3), np.float32))
    with pytest.raises(ValueError, match="recompute the teacher outputs"):
        data.SRDataset(tmp_path / "HR", 4, patch_size=32, teacher_dir=tmp_path / "teacher")[0]
    (tmp_path / "teacher" / "0002.png").unlink()
    with pytest.raises(FileNotFoundError, match="no teacher output for 0002.png"):
        data.SRDataset(tmp_path / "HR", 4, patch_size=32, teacher_dir=tmp_path / "teacher")
    with pytest.raises(ValueError, match="on-the-fly degradation"):
        data.SRDataset(tmp_path / "HR", 4, lr_dir=tmp_path / "HR", teacher_dir=tmp_path / "teacher")
