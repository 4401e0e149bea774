"""The ``srlib`` command line. Each subcommand lives beside the code it drives.

A module in ``COMMANDS`` provides ``add_cli(subparsers)``, which adds its parser and sets
``func`` (called with the parsed args, returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

import srlib

# subcommand -> module that defines it (imported when the parser is built)
COMMANDS = {
    "models": "srlib.models",
    "data": "srlib.data",
    "evaluate": "srlib.evaluate",
    "upscale": "srlib.infer",
    "zoo": "srlib.zoo",
    "train": "srlib.train",
    "mos": "srlib.mos",
    "report": "srlib.report",
    "bench": "srlib.bench",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="srlib", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"srlib {srlib.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS.values():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:  # a real missing dependency, not a command still to come
                raise
            continue
        module.add_cli(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError) as error:
        # Expected failures (bad input, offline, missing files) end with one clear line, no traceback.
        print(f"srlib {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # the file system said no (permissions, a full disk, a folder where a file goes)
        print(f"srlib {args.command}: error: {error} (check the path, its permissions and free space)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
