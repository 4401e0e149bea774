"""Notebook hygiene: outputs stripped, a literal-only parameters cell, valid parameter files, a closing
"What to try" cell. (The notebooks themselves are executed by nbval in `make test`.)"""

import ast

import nbformat
import pytest

from srlib import report

NOTEBOOKS = report.notebook_paths()


def test_the_report_outline_notebooks_exist():
    stems = {path.stem for path in NOTEBOOKS}
    for _, stem, _ in report.OUTLINE:
        assert stem is None or stem in stems, f"the report outline needs notebooks/{stem}.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    code = [(i, cell) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    dirty = [i for i, cell in code if cell.outputs or cell.execution_count]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; run `make strip`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_holds_commented_literals_only(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [cell for cell in nb.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    source = tagged[0].source
    for node in ast.parse(source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, f"{path.name}: only `name = literal` lines"
        ast.literal_eval(node.value)  # raises if a value is computed (papermill overrides would not reach it)
    for line in source.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            assert "#" in line, f"{path.name}: parameter line without a `# what it does` comment: {line!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_ends_with_what_to_try(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[-1].cell_type == "markdown" and "what to try" in nb.cells[-1].source.lower()


@pytest.mark.parametrize("mode", ["quick", "full"])
def test_parameter_files_name_only_real_parameters(mode):
    params = report.load_params(mode)
    assert set(params) == {path.stem for path in NOTEBOOKS}


def test_unknown_parameter_fails_loudly(tmp_path, monkeypatch):
    (tmp_path / "typo.yaml").write_text(f"{NOTEBOOKS[0].stem}:\n  not_a_parameter: 1\n")
    monkeypatch.setattr(report, "PARAMS_DIR", tmp_path)
    with pytest.raises(ValueError, match="not_a_parameter"):
        report.load_params("typo")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_sees_every_parameter(path):
    # papermill silently drops a parameter whose line it cannot parse (e.g. an `=` inside the comment),
    # and then `srlib report` would reject overrides of it as unknown.
    import papermill

    nb = nbformat.read(path, as_version=4)
    source = next(cell.source for cell in nb.cells if "parameters" in cell.metadata.get("tags", []))
    names = {node.targets[0].id for node in ast.parse(source).body}
    assert set(papermill.inspect_notebook(str(path))) == names
