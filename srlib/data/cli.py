"""``srlib data``: list the known datasets, download one, build the embedded ``mini`` set."""

from __future__ import annotations

import os
from pathlib import Path

from srlib.data.mini import build_mini
from srlib.data.registry import DATASETS, fetch_dataset, resolve_dataset
from srlib.io import list_images
from srlib.utils import data_roots


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser("data", help="list, download or build datasets")
    commands = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    fetch_parser = commands.add_parser("fetch", help="download a known dataset into the data root")
    fetch_parser.add_argument("name", choices=sorted(DATASETS) + ["mini"])
    fetch_parser.add_argument("--root", default=None, help="data root (default: first of SRLIB_DATA_DIR)")
    fetch_parser.set_defaults(func=lambda a: _report(fetch_dataset(a.name, a.root)))
    mini_parser = commands.add_parser("mini", help="build the embedded mini train/valid set (offline)")
    mini_parser.add_argument("--root", default=None, help="data root (default: first of SRLIB_DATA_DIR)")
    mini_parser.set_defaults(func=lambda a: _report(build_mini(a.root)))
    list_parser = commands.add_parser("list", help="known datasets and where they are found")
    list_parser.set_defaults(func=_cli_list)


def _report(path: Path) -> int:
    print(path)
    return 0


def _cli_list(args) -> int:
    print("data roots: " + os.pathsep.join(str(r) for r in data_roots()))
    for name, info in DATASETS.items():
        try:
            found = resolve_dataset(name, build=False)  # listing builds nothing
            where = f"{len(list_images(found))} images in {found}"
        except FileNotFoundError:
            where = "missing (" + (f"srlib data fetch {name}" if info.files else info.page or "srlib data mini") + ")"
        print(f"{name:18s} {where}")
    return 0
