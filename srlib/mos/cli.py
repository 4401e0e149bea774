"""``srlib mos kit`` and ``srlib mos summarize``."""

from __future__ import annotations

from pathlib import Path

from srlib.mos.kit import build_kit, load_key, load_kit
from srlib.mos.rate import load_ratings
from srlib.mos.stats import summarize
from srlib.mos.tables import write_summary
from srlib.utils import arg_values, positive_int


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
        **arg_values(args, "images", "lr", "raters", "seed", "repeats", "calibration", "scale", "embed"),
        references=not args.no_references,
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
