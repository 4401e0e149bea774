"""Building a blinded MOS rating kit (``srlib mos kit``), and reading one back.

A kit is a folder::

    KIT/key.json          secret: which method and image each item id is (keep it away from raters)
    KIT/rate/index.html   the rating page (open in any browser, no server)
    KIT/rate/kit.json     public manifest: item ids, image files, one order per rater, fingerprint
    KIT/rate/images/      one PNG per item, named by its opaque id

Every item is one of four kinds: ``test`` (a method's image), ``reference`` (the NN or HR version of an
image, rated among the tests), ``repeat`` (a test item shown again under another id, for consistency) and
``calibration`` (NN and HR anchors shown first with their anchor score).
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import zlib
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from srlib.io import IMAGE_EXTENSIONS
from srlib.utils import file_digest

REFERENCES = {"NN": 1, "HR": 5}  # anchor methods and the score they calibrate
SUMMARIZED_KINDS = ("test", "reference")  # calibration and repeated items are not part of a MOS


def _images_by_stem(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    return {p.stem: p for p in files}


def _load_rgb(path: Path) -> Image.Image:
    """Upright (EXIF orientation applied) RGB pixels, and nothing else: no ICC profile, text or EXIF is
    carried into the kit, where it could tell a method apart."""
    with Image.open(path) as image:
        upright = ImageOps.exif_transpose(image)
        return Image.fromarray(np.asarray(upright.convert("RGB")))


def _png_bytes(pixels: np.ndarray, rng: np.random.Generator) -> bytes:
    """An RGB PNG with the critical chunks only (IHDR, IDAT, IEND), encoded in a way drawn from ``rng``.

    The row filter (None, Sub or Up), the zlib level and the IDAT chunk size vary, so two files of the same
    pixels get other bytes (and sizes): a repeated or calibration item is not given away by its bytes.
    Written by hand rather than with pypng (``srlib.io``'s 16-bit writer), which filters every row with None.
    """
    height, width, _ = pixels.shape
    rows = pixels.reshape(height, width * 3).astype(np.int16)
    kind = int(rng.integers(3))
    if kind == 1:  # Sub: minus the byte of the pixel to the left
        rows[:, 3:] -= rows[:, :-3].copy()
    elif kind == 2:  # Up: minus the byte above
        rows[1:] -= rows[:-1].copy()
    filtered = np.concatenate([np.full((height, 1), kind, np.int16), rows % 256], axis=1).astype(np.uint8)
    stream = zlib.compress(filtered.tobytes(), int(rng.integers(1, 10)))
    size = int(rng.integers(1 << 10, 1 << 16))

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))  # 8-bit RGB
    data = b"".join(chunk(b"IDAT", stream[i : i + size]) for i in range(0, len(stream), size))
    return b"\x89PNG\r\n\x1a\n" + header + data + chunk(b"IEND", b"")


def _versions(stem: str, folders: dict, hr_files: dict, lr_files: dict, scale: int) -> dict[str, Image.Image]:
    """Every version of one image (methods, NN anchor, HR), cropped to their common size."""
    hr_image = _load_rgb(hr_files[stem])
    versions = {name: _load_rgb(files[stem]) for name, files in folders.items()}
    width, height = hr_image.size
    for name, image in versions.items():
        if abs(image.width - width) > scale or abs(image.height - height) > scale:
            raise ValueError(
                f"{folders[name][stem]} ({name}) is {image.width}x{image.height} but the HR image is "
                f"{width}x{height}: is that folder the x{scale} SR output?"
            )
    if stem in lr_files:
        small = _load_rgb(lr_files[stem])
    else:
        small = hr_image.resize((width // scale, height // scale), Image.Resampling.BICUBIC)
    versions["NN"] = small.resize((small.width * scale, small.height * scale), Image.Resampling.NEAREST)
    versions["HR"] = hr_image
    w = min(image.width for image in versions.values())
    h = min(image.height for image in versions.values())
    return {name: image.crop((0, 0, w, h)) for name, image in versions.items()}


def _shuffled(items: list[str], repeat_of: dict[str, str], rng: np.random.Generator) -> list[str]:
    """A random order of ``items`` in which every repeat comes after its first showing."""
    order = [items[i] for i in rng.permutation(len(items))]
    for repeat, first in repeat_of.items():
        i, j = order.index(first), order.index(repeat)
        if j < i:
            order[i], order[j] = order[j], order[i]
    return order


def build_kit(
    methods: dict[str, str | Path],
    hr: str | Path,
    out: str | Path,
    images: list[str] | None = None,
    lr: str | Path | None = None,
    raters: int = 10,
    seed: int = 0,
    repeats: int = 3,
    calibration: int = 1,
    scale: int = 4,
    references: bool = True,
    embed: bool = False,
) -> Path:
    """Build a blinded rating kit in ``out`` from SR output folders; return the path of ``key.json``.

    ``methods`` maps a method name to a folder of its SR outputs; files are matched by name (without
    extension) with each other and with ``hr``. ``images`` picks names (default: every image of the first
    method). The nearest-neighbour anchor upscales the LR image from ``lr`` when given, else a bicubic
    (PIL, antialiased) x``scale`` downscale of HR. All versions of an image are cropped to their common
    size so that the size does not give the method away. Every rater rates every item, in their own
    seeded order: ``calibration`` images as NN and HR anchors first (shown with their anchor score), then
    the test items (and the NN and HR versions of every image when ``references``), with ``repeats`` test
    items shown a second time under another id to measure consistency.
    """
    out, hr = Path(out), Path(hr)
    if (out / "key.json").exists():
        raise ValueError(f"{out} already holds a kit; build a new kit in a new folder")
    clash = set(methods) & set(REFERENCES)
    if clash:
        raise ValueError(f"method names {sorted(clash)} are reserved for the anchors; rename them")
    if not methods:
        raise ValueError("give at least one method as NAME=FOLDER")
    folders = {name: _images_by_stem(Path(folder)) for name, folder in methods.items()}
    hr_files = _images_by_stem(hr)
    lr_files = _images_by_stem(Path(lr)) if lr else {}
    names = list(images) if images else list(next(iter(folders.values())))
    missing = [
        f"{name}: no {stem!r} in {folder}"
        for name, folder in [*methods.items(), ("HR", hr), *([("LR", lr)] if lr else [])]
        for stem in names
        if stem not in (hr_files if name == "HR" else lr_files if name == "LR" else folders[name])
    ]
    if missing:
        raise ValueError("images missing from the kit's folders:\n  " + "\n  ".join(missing))
    if not names:
        raise ValueError("no images to rate")
    rng = np.random.default_rng(seed)
    ids: set[str] = set()

    def new_id() -> str:  # opaque, seeded, unique
        while (item := "".join(rng.choice(list("0123456789abcdef"), size=8))) in ids:
            pass
        ids.add(item)
        return item

    image_dir = out / "rate" / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    key_items: dict[str, dict] = {}
    by_version: dict[tuple[str, str], str] = {}  # (method, image) -> id of the rated item
    versions_of = {stem: _versions(stem, folders, hr_files, lr_files, scale) for stem in names}
    encoding_rng = np.random.default_rng([seed, 1])  # apart from the ids' and orders' stream
    written: set[bytes] = set()  # sha256 of every file so far: no two files of a kit have the same bytes

    def add(method: str, stem: str, kind: str, **extra) -> str:
        item = new_id()
        pixels = np.asarray(versions_of[stem][method], dtype=np.uint8)
        while True:  # the same pixels (a repeat, an anchor, a method equal to HR) get another encoding
            data = _png_bytes(pixels, encoding_rng)
            digest = hashlib.sha256(data).digest()
            if digest not in written:
                break
        written.add(digest)
        (image_dir / f"{item}.png").write_bytes(data)
        key_items[item] = {"method": method, "image": stem, "kind": kind, **extra}
        return item

    shown = list(methods) + (list(REFERENCES) if references else [])
    for stem in names:
        for method in shown:
            kind = "reference" if method in REFERENCES else "test"
            by_version[method, stem] = add(method, stem, kind)
    tests = [item for item, info in key_items.items() if info["kind"] == "test"]
    repeated = [tests[i] for i in rng.choice(len(tests), size=min(repeats, len(tests)), replace=False)]
    repeat_ids = [
        add(key_items[item]["method"], key_items[item]["image"], "repeat", repeat_of=item) for item in repeated
    ]
    calibration_ids = []
    for stem in [names[i] for i in rng.choice(len(names), size=min(calibration, len(names)), replace=False)]:
        for method, anchor in REFERENCES.items():
            calibration_ids.append(add(method, stem, "calibration", anchor=anchor))

    main = [by_version[version] for version in sorted(by_version)] + repeat_ids
    repeat_of = {item: key_items[item]["repeat_of"] for item in repeat_ids}
    orders = {f"r{r + 1:02d}": calibration_ids + _shuffled(main, repeat_of, rng) for r in range(raters)}

    public_items = {}
    for item in sorted(key_items):
        public_items[item] = {"file": f"images/{item}.png"}
        if key_items[item]["kind"] == "calibration":
            public_items[item]["anchor"] = key_items[item]["anchor"]
    # the fingerprint covers the pixels too, but their hashes stay out of the public manifest (equal hashes
    # would tell a curious rater which items are repeats)
    pixels = {item: file_digest(image_dir / f"{item}.png") for item in public_items}
    fingerprint = hashlib.sha256(
        json.dumps({"items": public_items, "pixels": pixels, "orders": orders}, sort_keys=True).encode()
    ).hexdigest()[:16]
    manifest = {
        "format": "srlib-mos-kit/1",
        "fingerprint": fingerprint,
        "items": public_items,
        "orders": orders,
    }
    (out / "rate" / "kit.json").write_text(json.dumps(manifest, indent=1))
    write_html(out / "rate", manifest, embed=embed)
    key = {
        "format": "srlib-mos-key/1",
        "fingerprint": fingerprint,
        "seed": seed,
        "scale": scale,
        "methods": list(methods),
        "references": list(REFERENCES) if references else [],
        "images": names,
        "raters": list(orders),
        "sources": {name: str(Path(folder).resolve()) for name, folder in methods.items()}
        | {"HR": str(hr.resolve())}
        | ({"LR": str(Path(lr).resolve())} if lr else {}),
        "nn_anchor_from": "LR folder" if lr else f"PIL bicubic x1/{scale} of HR",
        "items": {item: key_items[item] for item in sorted(key_items)},
    }
    (out / "key.json").write_text(json.dumps(key, indent=1))
    return out / "key.json"


def write_html(rate_dir: str | Path, manifest: dict, embed: bool = False) -> Path:
    """Write ``index.html`` (the template ``srlib/assets/mos_rater.html`` with the manifest inside).

    With ``embed`` the images go into the page as data URLs (one file to send, but a large one).
    """
    rate_dir = Path(rate_dir)
    page_kit = json.loads(json.dumps(manifest))
    if embed:
        for entry in page_kit["items"].values():
            data = base64.b64encode((rate_dir / entry["file"]).read_bytes()).decode()
            entry["data"] = "data:image/png;base64," + data
    template = resources.files("srlib").joinpath("assets/mos_rater.html").read_text(encoding="utf-8")
    text = json.dumps(page_kit).replace("</", "<\\/")  # never close the <script> early
    path = rate_dir / "index.html"
    path.write_text(template.replace("/*KIT_JSON*/", text), encoding="utf-8")
    return path


def kit_rate_dir(kit: str | Path) -> Path:
    """The ``rate`` folder of a kit given as KIT, KIT/rate or KIT/rate/kit.json."""
    kit = Path(kit)
    for candidate in (kit, kit / "rate", kit.parent):
        if (candidate / "kit.json").is_file():
            return candidate
    raise FileNotFoundError(f"no kit.json in {kit} or {kit / 'rate'}: build one with `srlib mos kit`")


def load_kit(kit: str | Path) -> dict:
    """The public manifest of a kit (what raters see): items, per-rater orders, fingerprint."""
    return json.loads((kit_rate_dir(kit) / "kit.json").read_text())


def load_key(key: str | Path) -> dict:
    """The secret key of a kit, given as ``KIT`` or ``KIT/key.json``."""
    key = Path(key)
    path = key / "key.json" if key.is_dir() else key
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the key is KIT/key.json written by `srlib mos kit`")
    data = json.loads(path.read_text())
    if data.get("format") != "srlib-mos-key/1":
        raise ValueError(f"{path} is not a srlib MOS key (format {data.get('format')!r})")
    return data
