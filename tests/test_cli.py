"""srlib's command line: every command is there; one whose module fails to import says why, never vanishes."""

from __future__ import annotations

import argparse

from srlib import cli


def _choices(parser: argparse.ArgumentParser) -> dict[str, str]:
    """command -> its help line."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {choice.dest: choice.help for choice in action._choices_actions}


def test_every_command_imports():
    helps = _choices(cli.build_parser())
    assert set(helps) == set(cli.COMMANDS)
    assert not [name for name, text in helps.items() if text.startswith("unavailable")]


def test_a_command_whose_module_fails_to_import_says_why(tmp_path, monkeypatch, capsys):
    (tmp_path / "srlib_test_broken_command.py").write_text("import srlib_test_no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.COMMANDS, "broken", "srlib_test_broken_command")
    monkeypatch.setitem(cli.COMMANDS, "ghost", "srlib.srlib_test_no_such_module")

    parser = cli.build_parser()
    helps = _choices(parser)
    assert "No module named 'srlib_test_no_such_dependency'" in helps["broken"]
    assert "No module named 'srlib.srlib_test_no_such_module'" in helps["ghost"]
    parser.format_help()  # --help lists them
    assert parser.parse_args(["upscale", "a.png", "-o", "out", "--model", "bicubic"]).command == "upscale"

    assert cli.main(["broken", "kit", "--rater", "x", "-h"]) == 2  # any arguments: the same one-line error
    err = capsys.readouterr().err.strip()
    assert err.startswith("srlib broken: error: this command is unavailable: importing srlib_test_broken_command")
    assert "No module named 'srlib_test_no_such_dependency'" in err and "\n" not in err
