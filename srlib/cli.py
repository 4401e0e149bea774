"""The ``srlib`` command line. Each subcommand lives beside the code it drives.

A module in ``COMMANDS`` provides ``add_cli(subparsers)``, which adds its parser and sets
``func`` (called with the parsed args, returning an exit code). A module that fails to import (a missing
dependency) leaves its command listed as unavailable, and running it prints the import error.
"""

from __future__ import annotations

import argparse
import importlib
import sys

import srlib

# subcommand -> module that defines it (imported when the parser is built)
COMMANDS = {
    "models": "srlib.models",
    "data": "srlib.data.cli",
    "evaluate": "srlib.evaluate",
    "upscale": "srlib.infer_cli",
    "zoo": "srlib.hub_cli",
    "train": "srlib.train",
    "mos": "srlib.mos",
    "report": "srlib.report",
    "bench": "srlib.bench",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="srlib", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"srlib {srlib.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:  # the other commands still work; this one says why it cannot
            _add_unavailable(subparsers, command, module_name, error)
            continue
        module.add_cli(subparsers)
    return parser


def _add_unavailable(subparsers, command: str, module_name: str, error: ImportError) -> None:
    """A stand-in for a command whose module failed to import: listed in --help, and running it (with any
    arguments) fails with the import error instead of "invalid choice"."""
    reason = f"{type(error).__name__}: {error}"

    def fail(args) -> int:
        raise RuntimeError(
            f"this command is unavailable: importing {module_name} failed ({reason}); "
            "install the missing package (pip install -e .) or fix the import"
        )

    # prefix_chars that no argument uses: every argument, -h included, is taken as a plain string
    sub = subparsers.add_parser(command, help=f"unavailable ({reason})", add_help=False, prefix_chars="\0")
    sub.add_argument("args", nargs="*")
    sub.set_defaults(func=fail)


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
