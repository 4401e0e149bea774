"""Rating a kit and checking the ratings: the CSV format, the Jupyter widget, and the rating-file checks.

Both rating interfaces (the HTML page ``KIT/rate/index.html`` and :func:`rate_in_notebook`) write the same
CSV columns (:data:`RATING_COLUMNS`); :func:`load_ratings` checks every file against the kit's key.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import time
from pathlib import Path

import numpy as np

from srlib.mos.kit import REFERENCES, SUMMARIZED_KINDS, kit_rate_dir, load_key, load_kit

# one rating per row; the HTML page (srlib/assets/mos_rater.html) writes the same columns
RATING_COLUMNS = ["rater", "item_id", "score", "time", "seconds", "order", "kit"]


def _read_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as handle:  # -sig: a spreadsheet may add a BOM
        return list(csv.DictReader(handle))


def append_rating(csv_path: str | Path, row: dict) -> None:
    """Append one rating to ``csv_path`` (header first if new), flushed to disk at once."""
    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    new = not csv_path.exists() or csv_path.stat().st_size == 0
    with open(csv_path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=RATING_COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow({column: row[column] for column in RATING_COLUMNS})


class NotebookRater:
    """The Jupyter rating widget: one image at a time, buttons 1-5, keys 1-5 typed in the key box.

    Every answer is appended to ``csv_path`` at once; a new rater object for the same CSV resumes at the
    first item of the rater's order that has no answer yet.
    """

    def __init__(self, kit: str | Path, rater: str, csv_path: str | Path | None = None):
        import ipywidgets as widgets

        self.rate_dir = kit_rate_dir(kit)
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
        absent = [column for column in RATING_COLUMNS if column not in header]
        if absent:
            problems.append(f"{path}: missing columns {absent} (expected {','.join(RATING_COLUMNS)})")
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
