"""Mean opinion scores: a blinded rating kit, two rating interfaces, and an honest summary.

The protocol follows the SRGAN MOS study (Ledig et al., 2017): raters score images 1 (bad) to 5
(excellent), calibrated with nearest-neighbour upscaling = 1 and the original HR image = 5, images shown
in random order, methods compared with paired two-sided Wilcoxon signed-rank tests.

A kit (``srlib mos kit``) is a folder::

    KIT/key.json          secret: which method and image each item id is (keep it away from raters)
    KIT/rate/index.html   the rating page (open in any browser, no server)
    KIT/rate/kit.json     public manifest: item ids, image files, one order per rater, fingerprint
    KIT/rate/images/      one PNG per item, named by its opaque id

Both interfaces (the HTML page and :func:`rate_in_notebook`) write the same CSV columns
(:data:`COLUMNS`); :func:`load_ratings` checks them against the key and :func:`summarize` gives MOS with
bootstrap and normal 95% intervals, rater consistency and Wilcoxon-Holm tests.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import html
import json
import struct
import time
import zlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from srlib import utils
from srlib.io import IMAGE_EXTENSIONS
from srlib.utils import file_digest, positive_int

COLUMNS = ["rater", "item_id", "score", "time", "seconds", "order", "kit"]  # one rating per row
REFERENCES = {"NN": 1, "HR": 5}  # anchor methods and the score they calibrate
SUMMARIZED_KINDS = ("test", "reference")  # calibration and repeated items are not part of a MOS

# The original course report's MOS table (1-5, higher is better). Raters, images and protocol were not
# reported, so these numbers carry no interval and cannot be compared with a new study.
REPORTED_MOS = {"EDSR": 4.0, "SRGAN": 4.3, "ESRGAN": 4.6}
# SRGAN paper (Ledig et al., CVPR 2017), MOS study: 26 raters, 1-5, x4, NN = 1 and HR = 5 calibration.
PUBLISHED_SRGAN_MOS = {
    "Set5": {"bicubic": 1.97, "SRResNet": 3.37, "SRGAN": 3.58, "HR": 4.32},
    "Set14": {"bicubic": 1.80, "SRResNet": 2.98, "SRGAN": 3.72, "HR": 4.32},
    "BSD100": {"bicubic": 1.47, "SRResNet": 2.29, "SRGAN": 3.56, "HR": 4.46},
}


# ----------------------------------------------------------------------------------------- building a kit
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


def _kit_dir(kit: str | Path) -> Path:
    """The ``rate`` folder of a kit given as KIT, KIT/rate or KIT/rate/kit.json."""
    kit = Path(kit)
    for candidate in (kit, kit / "rate", kit.parent):
        if (candidate / "kit.json").is_file():
            return candidate
    raise FileNotFoundError(f"no kit.json in {kit} or {kit / 'rate'}: build one with `srlib mos kit`")


def load_kit(kit: str | Path) -> dict:
    """The public manifest of a kit (what raters see): items, per-rater orders, fingerprint."""
    return json.loads((_kit_dir(kit) / "kit.json").read_text())


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


# --------------------------------------------------------------------------------------------- rating
def _read_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as handle:  # -sig: a spreadsheet may add a BOM
        return list(csv.DictReader(handle))


def append_rating(csv_path: str | Path, row: dict) -> None:
    """Append one rating to ``csv_path`` (header first if new), flushed to disk at once."""
    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    new = not csv_path.exists() or csv_path.stat().st_size == 0
    with open(csv_path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow({column: row[column] for column in COLUMNS})


class NotebookRater:
    """The Jupyter rating widget: one image at a time, buttons 1-5, keys 1-5 typed in the key box.

    Every answer is appended to ``csv_path`` at once; a new rater object for the same CSV resumes at the
    first item of the rater's order that has no answer yet.
    """

    def __init__(self, kit: str | Path, rater: str, csv_path: str | Path | None = None):
        import ipywidgets as widgets

        self.rate_dir = _kit_dir(kit)
        self.manifest = load_kit(self.rate_dir)
        if rater not in self.manifest["orders"]:
            raise ValueError(f"rater {rater!r} is not in this kit; use one of {sorted(self.manifest['orders'])}")
        self.rater = rater
        self.order = self.manifest["orders"][rater]
        self.csv_path = Path(csv_path) if csv_path else self.rate_dir / "ratings" / f"mos_{rater}.csv"
        previous = _read_rows(self.csv_path) if self.csv_path.exists() else []
        for number, row in enumerate(previous, start=2):
            if row.get("kit") != self.manifest["fingerprint"] or row.get("rater") != rater:
                raise ValueError(f"{self.csv_path}:{number} belongs to another kit or rater; pick a new csv_path")
        self.answered = {row["item_id"] for row in previous}
        self.position = -1
        self._shown_at = time.monotonic()

        self.progress = widgets.HTML()
        self.hint = widgets.HTML()
        self.image = widgets.Image(format="png")
        labels = {1: "bad", 2: "poor", 3: "fair", 4: "good", 5: "excellent"}
        self.buttons = [widgets.Button(description=f"{s} {labels[s]}") for s in range(1, 6)]
        for score, button in enumerate(self.buttons, start=1):
            button.on_click(lambda _button, score=score: self.answer(score))
        # ipywidgets has no key events; a text box that reacts to every key press gives the shortcuts
        self.keys = widgets.Text(placeholder="click here, then type 1-5", continuous_update=True)
        self.keys.observe(self._on_key, names="value")
        self.widget = widgets.VBox(
            [widgets.HBox([self.progress, self.hint]), widgets.HBox([*self.buttons, self.keys]), self.image]
        )
        self._advance()

    @property
    def done(self) -> bool:
        return self.position < 0

    def _on_key(self, change) -> None:
        typed = change["new"]
        if typed:
            self.keys.value = ""
            if typed[-1] in "12345":
                self.answer(int(typed[-1]))

    def _advance(self) -> None:
        remaining = [i for i, item in enumerate(self.order) if item not in self.answered]
        later = [i for i in remaining if i > self.position]
        self.position = (later or remaining or [-1])[0]
        if self.done:
            self.progress.value = f"<b>Rater {self.rater}: all {len(self.order)} images rated. Thank you.</b>"
            self.hint.value = ""
            self.image.layout.display = "none"
            for button in self.buttons:
                button.disabled = True
            return
        item = self.order[self.position]
        entry = self.manifest["items"][item]
        self.image.value = (self.rate_dir / entry["file"]).read_bytes()
        self.progress.value = f"Rater {html.escape(self.rater)}: image {len(self.answered) + 1} of {len(self.order)}"
        anchor = entry.get("anchor")
        self.hint.value = (
            f"&nbsp;<b style='background:#ffd966'>Calibration: this image is a {anchor}</b>" if anchor else ""
        )
        self._shown_at = time.monotonic()
        self.keys.focus()

    def answer(self, score: int) -> None:
        """Record ``score`` (1-5) for the image on screen and show the next one."""
        if self.done:
            return
        if score not in (1, 2, 3, 4, 5):
            raise ValueError(f"score must be 1-5, not {score!r}")
        item = self.order[self.position]
        row = {
            "rater": self.rater,
            "item_id": item,
            "score": score,
            "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "seconds": f"{time.monotonic() - self._shown_at:.2f}",
            "order": self.position + 1,
            "kit": self.manifest["fingerprint"],
        }
        append_rating(self.csv_path, row)
        self.answered.add(item)
        self._advance()


def rate_in_notebook(kit: str | Path, rater: str, csv_path: str | Path | None = None) -> NotebookRater:
    """Show the rating widget for ``rater`` in a notebook cell; answers go to ``KIT/rate/ratings/``."""
    from IPython.display import display

    rater_widget = NotebookRater(kit, rater, csv_path)
    display(rater_widget.widget)
    return rater_widget


# ------------------------------------------------------------------------------------------- checking
class Ratings(list):
    """What :func:`load_ratings` returns: a list of rating dicts, plus ``notes`` on what was accepted but
    deserves a look (empty files, raters the kit does not know, incomplete, constant or reversed raters)."""

    def __init__(self, rows=(), notes=()):
        super().__init__(rows)
        self.notes = list(notes)


def load_ratings(paths, key: str | Path | dict) -> Ratings:
    """Read rating CSVs (files or folders of ``*.csv``) and join them with the key.

    Returns one dict per rating with the CSV columns plus ``method``, ``image``, ``kind``, ``file`` and
    ``row``. Unknown ids, scores outside 1-5, duplicate answers (same rater and item, in one file or across
    files), another kit's fingerprint, missing columns and rows with too few or too many fields raise one
    ``ValueError`` that lists every problem by file and row; nothing is dropped or merged silently. What is
    legal but suspicious is listed in the result's ``notes`` (see :func:`rating_notes`); no ratings at all
    is a ValueError.
    """
    key = key if isinstance(key, dict) else load_key(key)
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(path.glob("*.csv"))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path} not found (give rating CSV files or folders of them)")
    if not files:
        raise FileNotFoundError(f"no rating CSV files in {', '.join(map(str, paths))}")
    problems, ratings, seen, notes = [], [], {}, []
    for path in files:
        with open(path, newline="", encoding="utf-8-sig") as handle:  # -sig: a spreadsheet may add a BOM
            reader = csv.DictReader(handle)
            rows, header = list(reader), reader.fieldnames
        if header is None:
            notes.append(f"{path}: empty file (no header, no ratings)")
            continue
        absent = [column for column in COLUMNS if column not in header]
        if absent:
            problems.append(f"{path}: missing columns {absent} (expected {','.join(COLUMNS)})")
            continue
        if not rows:
            notes.append(f"{path}: a header and no ratings")
        for number, row in enumerate(rows, start=2):  # row 1 is the header
            where = f"{path}:{number}"
            if None in row or None in row.values():  # DictReader: extra fields go under None, missing ones are None
                fields = sum(v is not None for k, v in row.items() if k is not None) + len(row.get(None, []))
                problems.append(f"{where}: {fields} fields where the header has {len(header)} (a cut or joined row)")
                continue
            item, rater = row["item_id"], row["rater"]
            if row["kit"] != key["fingerprint"]:
                problems.append(f"{where}: kit fingerprint {row['kit']!r} is not this key's {key['fingerprint']!r}")
            if item not in key["items"]:
                problems.append(f"{where}: unknown item id {item!r}")
            try:
                score = int(row["score"])
                if str(score) != row["score"].strip() or not 1 <= score <= 5:
                    raise ValueError
            except ValueError:
                problems.append(f"{where}: score {row['score']!r} is not an integer 1-5")
                score = None
            if not rater:
                problems.append(f"{where}: empty rater")
            if (rater, item) in seen:
                problems.append(
                    f"{where}: duplicate answer of rater {rater!r} for item {item!r} (first at {seen[rater, item]})"
                )
            else:
                seen[rater, item] = where
            info = key["items"].get(item, {})
            ratings.append(
                {
                    **row,
                    "score": score,
                    "method": info.get("method"),
                    "image": info.get("image"),
                    "kind": info.get("kind"),
                    "repeat_of": info.get("repeat_of"),
                    "file": str(path),
                    "row": number,
                }
            )
    if problems:
        raise ValueError(f"{len(problems)} problem(s) in the ratings:\n  " + "\n  ".join(problems))
    if not ratings:
        raise ValueError(f"no ratings in {', '.join(map(str, files))}: nothing to summarize")
    return Ratings(ratings, notes + rating_notes(ratings, key))


def rating_notes(ratings: list[dict], key: dict) -> list[str]:
    """What is legal in ``ratings`` but may make a MOS mean less, one line each.

    Raters the kit does not name (keys from before srlib listed raters are not checked for that), raters
    who did not rate every item, raters who gave one score throughout, and raters whose calibration (or
    reference) scores put the NN anchor above HR.
    """
    notes = []
    raters = sorted({r["rater"] for r in ratings})
    known = key.get("raters")
    if known is not None:
        strangers = [rater for rater in raters if rater not in known]
        if strangers:
            notes.append(f"raters {strangers} are not among the kit's ({', '.join(known)}): typed by hand?")
    total = len(key["items"])
    for rater in raters:
        mine = [r for r in ratings if r["rater"] == rater]
        if len(mine) < total:
            notes.append(f"rater {rater!r} rated {len(mine)} of {total} items (incomplete)")
        scores = {r["score"] for r in mine}
        if len(mine) > 1 and len(scores) == 1:
            notes.append(f"rater {rater!r} gave every item the same score ({scores.pop()}): no information")
        for kinds in (("calibration",), SUMMARIZED_KINDS):
            anchors = {m: [r["score"] for r in mine if r["method"] == m and r["kind"] in kinds] for m in REFERENCES}
            if all(anchors.values()):
                nn, hr = (float(np.mean(anchors[m])) for m in REFERENCES)
                if nn > hr:
                    notes.append(f"rater {rater!r} scored the NN anchor {nn:g} and HR {hr:g}: scale reversed?")
                break
    return notes


# ------------------------------------------------------------------------------------------ statistics
def bootstrap_ci(
    scores, raters, images, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean score, resampling raters and images jointly.

    Each replicate draws raters with replacement and images with replacement, and averages every rating
    of a drawn (rater, image) pair as often as the pair is drawn. Ratings by one rater are correlated, so
    this is wider (and more honest) than an interval over ratings treated as independent.
    """
    scores = np.asarray(scores, dtype=np.float64)
    rater_codes, r = np.unique(np.asarray(raters), return_inverse=True)
    image_codes, i = np.unique(np.asarray(images), return_inverse=True)
    sums = np.zeros((len(rater_codes), len(image_codes)))
    counts = np.zeros_like(sums)
    np.add.at(sums, (r, i), scores)
    np.add.at(counts, (r, i), 1)
    rng = np.random.default_rng(seed)
    rater_w = rng.multinomial(len(rater_codes), np.full(len(rater_codes), 1 / len(rater_codes)), size=n_boot)
    image_w = rng.multinomial(len(image_codes), np.full(len(image_codes), 1 / len(image_codes)), size=n_boot)
    numerator = np.einsum("br,ri,bi->b", rater_w, sums, image_w)
    denominator = np.einsum("br,ri,bi->b", rater_w, counts, image_w)
    means = numerator[denominator > 0] / denominator[denominator > 0]  # a draw can miss every rating
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def normal_ci(scores, confidence: float = 0.95) -> tuple[float, float]:
    """Normal interval mean +- z sd / sqrt(n) over ratings treated as independent (the usual one).

    NaN for fewer than two ratings (no spread to estimate).
    """
    from scipy.stats import norm

    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) < 2:
        return float("nan"), float("nan")
    half = norm.ppf(0.5 + confidence / 2) * scores.std(ddof=1) / np.sqrt(len(scores))
    return float(scores.mean() - half), float(scores.mean() + half)


def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values.

    With p sorted ascending, the i-th adjusted value is max over j <= i of min(1, (m - j + 1) p_(j)).
    """
    pvalues = np.asarray(pvalues, dtype=np.float64)
    m = len(pvalues)
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(np.argsort(pvalues, kind="stable")):
        running = max(running, min(1.0, (m - rank) * pvalues[index]))
        adjusted[index] = running
    return adjusted


def zscore_ratings(ratings: list[dict]) -> list[dict]:
    """Copies of ``ratings`` with ``score`` replaced by the rater's z-score (mean and sd of the rater's
    test and reference ratings). A rater who gave one score to everything gets 0 throughout."""
    stats = {}
    for rater in {r["rater"] for r in ratings}:
        own = np.array([r["score"] for r in ratings if r["rater"] == rater and r["kind"] in SUMMARIZED_KINDS], float)
        sd = own.std(ddof=1) if len(own) > 1 else 0.0
        stats[rater] = (own.mean() if len(own) else 0.0, sd if sd > 0 else np.inf)
    return [
        {**r, "raw_score": r["score"], "score": (r["score"] - stats[r["rater"]][0]) / stats[r["rater"]][1]}
        for r in ratings
    ]


def _paired(ratings: list[dict], a: str, b: str, pair_by: str) -> tuple[np.ndarray, np.ndarray]:
    """Scores of methods a and b paired by (rater, image), by image (mean over raters) or by rater."""
    unit = {
        "rating": lambda r: (r["rater"], r["image"]),
        "image": lambda r: r["image"],
        "rater": lambda r: r["rater"],
    }
    if pair_by not in unit:
        raise ValueError(f"pair_by must be one of {sorted(unit)}, not {pair_by!r}")
    means = {}
    for method in (a, b):
        groups: dict = {}
        for r in ratings:
            if r["method"] == method and r["kind"] in SUMMARIZED_KINDS:
                groups.setdefault(unit[pair_by](r), []).append(r["score"])
        means[method] = {u: float(np.mean(s)) for u, s in groups.items()}
    common = sorted(set(means[a]) & set(means[b]), key=str)
    return np.array([means[a][u] for u in common]), np.array([means[b][u] for u in common])


def wilcoxon_holm(
    ratings: list[dict], methods: list[str] | None = None, pair_by: str = "rating", alpha: float = 0.05
) -> list[dict]:
    """Paired two-sided Wilcoxon signed-rank tests between every pair of methods, Holm-corrected.

    ``pair_by="rating"`` pairs the two methods' scores given by the same rater to the same image (the most
    pairs, but one rater's pairs are not independent); ``"image"`` or ``"rater"`` pair the means per image
    or per rater (fewer pairs, fewer assumptions).
    Zero differences are dropped (Wilcoxon's convention); a pair with no non-zero difference gets p = 1.
    """
    from scipy.stats import wilcoxon

    if methods is None:
        methods = sorted({r["method"] for r in ratings if r["kind"] == "test"})
    rows = []
    for index, a in enumerate(methods):
        for b in methods[index + 1 :]:
            x, y = _paired(ratings, a, b, pair_by)
            diff = x - y
            if np.any(diff != 0):
                result = wilcoxon(x, y, alternative="two-sided", zero_method="wilcox")
                statistic, p = float(result.statistic), float(result.pvalue)
            else:
                statistic, p = float("nan"), 1.0
            mean_diff = float(diff.mean()) if len(diff) else float("nan")
            rows.append(
                {
                    "method_a": a,
                    "method_b": b,
                    "pairs": len(diff),
                    "nonzero": int(np.sum(diff != 0)),
                    "mean_diff": mean_diff,
                    "statistic": statistic,
                    "p": p,
                }
            )
    for row, adjusted in zip(rows, holm([row["p"] for row in rows]), strict=True):
        row["p_holm"] = float(adjusted)
        row["significant"] = bool(adjusted < alpha)
        row["better"] = (row["method_a"] if row["mean_diff"] > 0 else row["method_b"]) if row["significant"] else ""
    return rows


def consistency(ratings: list[dict]) -> list[dict]:
    """Per rater: repeated items (pairs, mean |difference|, exact agreement) and the calibration scores."""
    by_key = {(r["rater"], r["item_id"]): r for r in ratings}
    rows = []
    raters = sorted({r["rater"] for r in ratings})
    for rater in [*raters, "all"]:
        mine = [r for r in ratings if rater in ("all", r["rater"])]
        diffs = [
            abs(r["score"] - by_key[r["rater"], r["repeat_of"]]["score"])
            for r in mine
            if r["kind"] == "repeat" and (r["rater"], r["repeat_of"]) in by_key
        ]
        anchors = {m: [r["score"] for r in mine if r["kind"] == "calibration" and r["method"] == m] for m in REFERENCES}
        rows.append(
            {
                "rater": rater,
                "ratings": len(mine),
                "repeat_pairs": len(diffs),
                "repeat_mean_abs_diff": float(np.mean(diffs)) if diffs else float("nan"),
                "repeat_agreement": float(np.mean(np.array(diffs) == 0)) if diffs else float("nan"),
                **{f"calibration_{m}": float(np.mean(s)) if s else float("nan") for m, s in anchors.items()},
            }
        )
    return rows


@dataclass
class MosSummary:
    """The result of :func:`summarize`: the MOS table, the pairwise tests and rater consistency."""

    table: list[dict]
    tests: list[dict]
    consistency: list[dict]
    zscore: bool = False
    settings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what deserves a look before the numbers are used

    def markdown(self) -> str:
        unit = "per-rater z-scores" if self.zscore else "scores 1-5"
        s = self.settings
        return "\n\n".join(
            [
                f"MOS ({unit}), {round(100 * s.get('confidence', 0.95))}% intervals: bootstrap over raters "
                f"and images ({s.get('n_boot')} draws, seed {s.get('seed')}) and normal over ratings",
                markdown_table(self.table),
                f"Paired two-sided Wilcoxon signed-rank tests (pairs by {s.get('pair_by')}), Holm-corrected",
                markdown_table(self.tests),
                "Rater consistency (repeated items) and calibration anchors (NN should be 1, HR 5)",
                markdown_table(self.consistency),
                *(["Notes", "\n".join(f"- {note}" for note in self.notes)] if self.notes else []),
            ]
        )


def summarize(
    ratings: list[dict],
    zscore: bool = False,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    pair_by: str = "rating",
    methods: list[str] | None = None,
) -> MosSummary:
    """MOS per method with bootstrap and normal intervals, Wilcoxon-Holm tests and rater consistency.

    Rows follow ``methods`` (default: the rated methods in alphabetical order; the CLI uses the key's
    order), then the NN and HR references. With ``zscore`` every score is first replaced by the rater's
    z-score (see :func:`zscore_ratings`); consistency is always judged on the raw 1-5 scores. A method in
    ``methods`` without ratings is left out, with a line in ``notes`` (after those ``ratings`` carries).
    """
    notes = list(getattr(ratings, "notes", []))
    consistency_rows = consistency(ratings)
    if zscore:
        ratings = zscore_ratings(ratings)
    table = []
    rated = {r["method"] for r in ratings if r["kind"] in SUMMARIZED_KINDS}
    if methods is None:
        methods = sorted({r["method"] for r in ratings if r["kind"] == "test"})
    for method in methods:
        if method not in rated:
            notes.append(f"method {method!r} has no ratings: left out of the table and the tests")
    methods = [m for m in methods if m in rated]
    references = [m for m in REFERENCES if any(r["method"] == m and r["kind"] == "reference" for r in ratings)]
    for method in methods + references:
        mine = [r for r in ratings if r["method"] == method and r["kind"] in SUMMARIZED_KINDS]
        scores = np.array([r["score"] for r in mine], dtype=np.float64)
        boot = bootstrap_ci(scores, [r["rater"] for r in mine], [r["image"] for r in mine], n_boot, confidence, seed)
        table.append(
            {
                "method": method,
                "kind": "reference" if method in REFERENCES else "method",
                "ratings": len(scores),
                "raters": len({r["rater"] for r in mine}),
                "images": len({r["image"] for r in mine}),
                "mos": float(scores.mean()),
                "sd": float(scores.std(ddof=1)) if len(scores) > 1 else 0.0,
                "boot_low": boot[0],
                "boot_high": boot[1],
                **dict(zip(("normal_low", "normal_high"), normal_ci(scores, confidence), strict=True)),
            }
        )
    tests = wilcoxon_holm(ratings, methods, pair_by=pair_by)
    settings = {"n_boot": n_boot, "seed": seed, "confidence": confidence, "pair_by": pair_by}
    return MosSummary(table, tests, consistency_rows, zscore, settings, notes)


# ------------------------------------------------------------------------------------- tables and plots
def _format(value) -> str:
    if isinstance(value, float):
        return "nan" if np.isnan(value) else f"{value:.4g}" if abs(value) < 1e-3 and value else f"{value:.3f}"
    return str(value)


def markdown_table(rows: list[dict]) -> str:
    """A markdown table of a list of dicts (floats to 3 decimals)."""
    return utils.markdown_table(rows, _format)


def write_csv(rows: list[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)
    return path


def plot_mos(table: list[dict], ax=None, title: str | None = None):
    """Means with bootstrap intervals (thick) and normal intervals (thin); references in grey."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(1.2 + 0.9 * len(table), 3.2))
    for x, row in enumerate(table):
        color = "0.55" if row["kind"] == "reference" else "C0"
        ax.errorbar(
            x - 0.08,
            row["mos"],
            yerr=[[row["mos"] - row["boot_low"]], [row["boot_high"] - row["mos"]]],
            fmt="o",
            color=color,
            capsize=4,
            lw=2,
            label="bootstrap (raters x images)" if x == 0 else None,
        )
        ax.errorbar(
            x + 0.08,
            row["mos"],
            yerr=[[row["mos"] - row["normal_low"]], [row["normal_high"] - row["mos"]]],
            fmt="none",
            color=color,
            capsize=2,
            lw=0.8,
            label="normal over ratings" if x == 0 else None,
        )
    ax.set_xticks(range(len(table)), [row["method"] for row in table])
    ax.set_xlim(-0.6, len(table) - 0.4)
    ax.set_ylabel("MOS")
    ax.legend(fontsize=7, loc="best")
    if title:
        ax.set_title(title)
    return ax.figure


def reference_mos_rows() -> list[dict]:
    """The original report's MOS and the SRGAN study's published MOS as table rows, source on each row."""
    report = "original course report, as reported there (raters and protocol unknown)"
    rows = [{"source": report, "set": "not reported", "method": m, "mos": v} for m, v in REPORTED_MOS.items()]
    published = "SRGAN paper MOS study, published (26 raters)"
    for test_set, scores in PUBLISHED_SRGAN_MOS.items():
        rows += [{"source": published, "set": test_set, "method": m, "mos": v} for m, v in scores.items()]
    return rows


def plot_reference_mos(ax=None, title: str | None = None):
    """The reported and published MOS side by side (points only: no intervals were given)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.6))
    groups = {"original report (as reported:\nthird-party raters, protocol\nand set unknown)": REPORTED_MOS} | {
        f"SRGAN study, {name}\n(published: x4,\n26 raters)": scores for name, scores in PUBLISHED_SRGAN_MOS.items()
    }
    x, centres = 0, []
    for scores in groups.values():
        positions = np.arange(x, x + len(scores))
        ax.plot(positions, list(scores.values()), "o", color="0.3")
        for position, method in zip(positions, scores, strict=True):
            ax.annotate(method, (position, scores[method]), textcoords="offset points", xytext=(0, 6),
                        ha="center", fontsize=7)  # fmt: skip
        centres.append(positions.mean())
        x += len(scores) + 1
    ax.set_ylim(0.8, 5.3)
    ax.set_xticks(centres, list(groups), fontsize=7)  # group labels under the axis, not on it
    ax.tick_params(axis="x", length=0)
    ax.set_ylabel("MOS (1-5)")
    if title:
        ax.set_title(title, fontsize=9)
    ax.figure.tight_layout()
    return ax.figure


def write_summary(summary: MosSummary, out_dir: str | Path, overwrite: bool = True) -> list[Path]:
    """Write ``mos_table[_z].csv``, ``mos_tests[_z].csv``, ``mos_consistency.csv``, ``mos_summary[_z].md``
    and the plot ``mos_plot[_z].png`` into ``out_dir``; without ``overwrite``, a folder that already holds
    this kind of summary (``mos_summary[_z].md``) is refused (FileExistsError)."""
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    suffix = "_z" if summary.zscore else ""
    if not overwrite and (out_dir / f"mos_summary{suffix}.md").exists():
        raise FileExistsError(
            f"{out_dir} already holds a summary (mos_summary{suffix}.md); pass --overwrite or another --out"
        )
    paths = [
        write_csv(summary.table, out_dir / f"mos_table{suffix}.csv"),
        write_csv(summary.tests, out_dir / f"mos_tests{suffix}.csv"),
        write_csv(summary.consistency, out_dir / "mos_consistency.csv"),
    ]
    (out_dir / f"mos_summary{suffix}.md").write_text(summary.markdown() + "\n")
    paths.append(out_dir / f"mos_summary{suffix}.md")
    fig = plot_mos(summary.table, title="MOS (z-scores)" if summary.zscore else "MOS")
    if summary.zscore:
        fig.axes[0].set_ylabel("MOS (per-rater z-score)")
    from srlib.utils import save_figure

    paths.append(save_figure(fig, f"mos_plot{suffix}", out_dir))
    plt.close(fig)
    return paths


# ------------------------------------------------------------------------------------------------- CLI
def _method_pairs(values: list[str]) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, folder = value.partition("=")
        if not sep or not name or not folder:
            raise ValueError(f"--methods takes NAME=FOLDER, got {value!r}")
        if name in pairs:
            raise ValueError(f"method {name!r} given twice")
        pairs[name] = folder
    return pairs


def _cmd_kit(args) -> int:
    key = build_kit(
        _method_pairs(args.methods),
        args.hr,
        args.out,
        images=args.images,
        lr=args.lr,
        raters=args.raters,
        seed=args.seed,
        repeats=args.repeats,
        calibration=args.calibration,
        scale=args.scale,
        references=not args.no_references,
        embed=args.embed,
    )
    manifest = load_kit(Path(args.out))
    per_rater = len(next(iter(manifest["orders"].values())))
    print(
        f"kit {manifest['fingerprint']}: {len(manifest['items'])} items, {per_rater} per rater, "
        f"{len(manifest['orders'])} raters"
    )
    print(
        f"  give raters the folder {Path(args.out) / 'rate'} (open index.html) or use "
        f"srlib.mos.rate_in_notebook({str(Path(args.out))!r}, 'r01')"
    )
    print(f"  keep {key} away from raters; then: srlib mos summarize RATINGS... --key {key}")
    return 0


def _cmd_summarize(args) -> int:
    key = load_key(args.key)
    ratings = load_ratings(args.ratings, key)
    summary = summarize(
        ratings, zscore=args.zscore, n_boot=args.boot, seed=args.seed, pair_by=args.pair_by, methods=key["methods"]
    )
    print(summary.markdown())
    if args.out:
        for path in write_summary(summary, args.out, overwrite=args.overwrite):
            print(f"wrote {path}")
    return 0


def add_cli(subparsers) -> None:
    """Add ``srlib mos kit`` and ``srlib mos summarize``."""
    parser = subparsers.add_parser("mos", help="blinded MOS rating kit and its summary")
    commands = parser.add_subparsers(dest="mos_command", metavar="{kit,summarize}", required=True)

    kit = commands.add_parser("kit", help="build a blinded rating kit from SR output folders")
    kit.add_argument("--methods", nargs="+", required=True, metavar="NAME=FOLDER", help="SR outputs per method")
    kit.add_argument("--hr", required=True, help="folder of HR images (same file names)")
    kit.add_argument("--lr", help="folder of LR inputs for the NN anchor (default: bicubic downscale of HR)")
    kit.add_argument("--images", nargs="+", metavar="NAME", help="image names to use (default: all)")
    kit.add_argument("-o", "--out", required=True, help="new kit folder")
    kit.add_argument("--raters", type=int, default=10, help="number of rater orders (default 10)")
    kit.add_argument("--seed", type=int, default=0, help="seed of ids, orders and repeats")
    kit.add_argument("--repeats", type=int, default=3, help="test items shown twice per rater (default 3)")
    kit.add_argument("--calibration", type=int, default=1, help="images shown first as NN=1 / HR=5 anchors")
    kit.add_argument("--scale", type=positive_int, default=4)
    kit.add_argument("--no-references", action="store_true", help="do not rate NN and HR among the items")
    kit.add_argument("--embed", action="store_true", help="put the images inside index.html")
    kit.set_defaults(func=_cmd_kit)

    summary = commands.add_parser("summarize", help="MOS with intervals, consistency and Wilcoxon-Holm tests")
    summary.add_argument("ratings", nargs="+", help="rating CSV files or folders of them")
    summary.add_argument("--key", required=True, help="KIT/key.json (or the KIT folder)")
    summary.add_argument("--zscore", action="store_true", help="normalise scores per rater first")
    summary.add_argument("--out", help="folder for the tables (CSV, markdown) and the plot")
    summary.add_argument("--overwrite", action="store_true", help="replace a summary already in --out")
    summary.add_argument("--boot", type=int, default=2000, help="bootstrap draws (default 2000)")
    summary.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    summary.add_argument(
        "--pair-by",
        default="rating",
        choices=["rating", "image", "rater"],
        help="Wilcoxon pairing unit (default: same rater and image)",
    )
    summary.set_defaults(func=_cmd_summarize)
