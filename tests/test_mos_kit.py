"""srlib.mos.kit: the kit's layout, orders and blinding, seeding, refused folders, and what its image
files could leak (metadata chunks, equal bytes, orientation).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mos_helpers import IMAGES, METHODS
from PIL import Image

from srlib import mos


def test_kit_layout_orders_and_blinding(kit):
    key, manifest = mos.load_key(kit), mos.load_kit(kit)
    assert key["fingerprint"] == manifest["fingerprint"] and set(key["items"]) == set(manifest["items"])
    kinds = [info["kind"] for info in key["items"].values()]
    n_versions = len(IMAGES) * (len(METHODS) + 2)  # methods plus the NN and HR references
    assert kinds.count("test") + kinds.count("reference") == n_versions
    assert kinds.count("repeat") == 2 and kinds.count("calibration") == 2
    for item, info in key["items"].items():
        assert len(item) == 8 and all(c in "0123456789abcdef" for c in item)
        if info["kind"] == "calibration":
            assert manifest["items"][item]["anchor"] == mos.REFERENCES[info["method"]]
    # nothing a rater sees names a method or an image
    public = (kit / "rate" / "kit.json").read_text() + (kit / "rate" / "index.html").read_text()
    for secret in (*METHODS, *IMAGES):
        assert secret not in public
    assert sorted(p.stem for p in (kit / "rate" / "images").iterdir()) == sorted(key["items"])
    # all versions of an image share one size (the shorter SR output sets it)
    sizes = {}
    for item, info in key["items"].items():
        with Image.open(kit / "rate" / "images" / f"{item}.png") as image:
            sizes.setdefault(info["image"], set()).add(image.size)
    assert all(s == {(36, 37)} for s in sizes.values())
    # every rater sees everything once, calibration first, a repeat after its first showing, own order
    orders = manifest["orders"]
    assert list(orders) == ["r01", "r02", "r03", "r04"]
    for order in orders.values():
        assert sorted(order) == sorted(key["items"])
        assert [key["items"][i]["kind"] for i in order[:2]] == ["calibration"] * 2
        for item, info in key["items"].items():
            if info["kind"] == "repeat":
                assert order.index(info["repeat_of"]) < order.index(item)
    assert len({tuple(order) for order in orders.values()}) == 4


def test_kit_is_seeded(folders, kit, tmp_path):
    methods = {name: folders / name for name in METHODS}
    same = mos.build_kit(methods, folders / "HR", tmp_path / "a", raters=4, seed=1, repeats=2)
    other = mos.build_kit(methods, folders / "HR", tmp_path / "b", raters=4, seed=2, repeats=2)
    first, second, third = mos.load_key(kit), mos.load_key(same), mos.load_key(other)
    assert (second["fingerprint"], second["items"]) == (first["fingerprint"], first["items"])
    assert third["fingerprint"] != first["fingerprint"]


def test_kit_with_lr_folder_and_embedded_images(folders, tmp_path):
    lr = tmp_path / "LR"
    lr.mkdir()
    for stem in IMAGES:  # a flat grey LR: its NN anchor must be flat grey too
        Image.new("RGB", (9, 10), (90, 90, 90)).save(lr / f"{stem}.png")
    methods = {name: folders / name for name in METHODS}
    key = mos.load_key(mos.build_kit(methods, folders / "HR", tmp_path / "k", lr=lr, embed=True, raters=1))
    nn = next(item for item, info in key["items"].items() if info["method"] == "NN")
    with Image.open(tmp_path / "k" / "rate" / "images" / f"{nn}.png") as image:
        assert image.size == (36, 37) and np.all(np.asarray(image) == 90)
    assert (tmp_path / "k" / "rate" / "index.html").read_text().count("data:image/png;base64,") == len(key["items"])


def test_kit_refuses_bad_folders(folders, kit, tmp_path):
    methods = {name: folders / name for name in METHODS}
    with pytest.raises(ValueError, match="already holds a kit"):
        mos.build_kit(methods, folders / "HR", kit)
    with pytest.raises(ValueError, match="reserved"):
        mos.build_kit({"HR": folders / "HR"}, folders / "HR", tmp_path / "k1")
    with pytest.raises(ValueError, match=r"(?s)no 'nothere'.*no 'nothere'"):
        mos.build_kit(methods, folders / "HR", tmp_path / "k2", images=["baby", "nothere"])
    with pytest.raises(FileNotFoundError):
        mos.build_kit({"x": tmp_path / "missing"}, folders / "HR", tmp_path / "k3")


def _chunks(path: Path) -> list[bytes]:
    import struct

    data, tags, at = path.read_bytes(), [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        tags.append(data[at + 4 : at + 8])
        at += 12 + length
    return tags


def test_kit_images_carry_no_metadata_and_repeats_have_other_bytes(folders, tmp_path):
    from PIL import PngImagePlugin

    tagged = tmp_path / "Tagged"  # one method's outputs carry an ICC profile, a text chunk and EXIF
    tagged.mkdir()
    text = PngImagePlugin.PngInfo()
    text.add_text("Software", "method-that-must-stay-secret")
    for path in sorted((folders / METHODS[0]).iterdir()):
        with Image.open(path) as image:
            image.save(tagged / path.name, icc_profile=b"an ICC profile of one method", pnginfo=text,
                       exif=Image.Exif())  # fmt: skip
    methods = {"Tagged": tagged, METHODS[1]: folders / METHODS[1]}
    kit = tmp_path / "KIT"
    key = mos.load_key(mos.build_kit(methods, folders / "HR", kit, raters=2, seed=3, repeats=3, calibration=2))
    images = kit / "rate" / "images"
    for item in key["items"]:
        assert set(_chunks(images / f"{item}.png")) == {b"IHDR", b"IDAT", b"IEND"}, item
    assert len({(images / f"{item}.png").read_bytes() for item in key["items"]}) == len(key["items"])
    first_of = {}  # (method, image) -> the test or reference item
    for item, info in key["items"].items():
        if info["kind"] in mos.SUMMARIZED_KINDS:
            first_of[info["method"], info["image"]] = item
    others = [(item, info) for item, info in key["items"].items() if info["kind"] in ("repeat", "calibration")]
    assert len(others) == 3 + 2 * 2
    for item, info in others:
        twin = first_of[info["method"], info["image"]]
        assert (images / f"{item}.png").read_bytes() != (images / f"{twin}.png").read_bytes()
        with Image.open(images / f"{item}.png") as a, Image.open(images / f"{twin}.png") as b:
            assert np.array_equal(np.asarray(a), np.asarray(b))


def test_kit_images_are_upright(folders, tmp_path):
    turned = tmp_path / "Turned"
    turned.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    for path in sorted((folders / METHODS[0]).iterdir()):
        with Image.open(path) as image:  # stored turned a quarter counterclockwise
            Image.fromarray(np.rot90(np.asarray(image), k=1).copy()).save(turned / path.name, exif=exif)
    key = mos.load_key(mos.build_kit({"Turned": turned}, folders / "HR", tmp_path / "K", raters=1, repeats=0))
    item = next(i for i, info in key["items"].items() if info["method"] == "Turned" and info["image"] == "baby")
    with Image.open(tmp_path / "K" / "rate" / "images" / f"{item}.png") as image, \
            Image.open(folders / METHODS[0] / "baby.png") as original:  # fmt: skip
        assert np.array_equal(np.asarray(image), np.asarray(original))
