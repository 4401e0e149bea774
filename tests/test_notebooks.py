"""Notebook hygiene: outputs stripped, a literal-only parameters cell, valid parameter files, a closing
"What to try" cell. (The notebooks themselves are executed by nbval in `make test`.)"""

import ast
import csv

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


def test_collected_ratings_reach_the_mos_cell(tmp_path, monkeypatch):
    """Notebook 05 with a kit and synthetic ratings: the collected-MOS table and figure are written, and the
    figure's title names the image set and each method's folder. (nbval runs 05 without ratings.)"""
    import numpy as np
    import papermill
    from PIL import Image

    from srlib import mos

    rng = np.random.default_rng(0)
    for name in ("HR", "edsr_out", "esrgan_out"):
        (tmp_path / name).mkdir()
    for stem in ("a", "b", "c"):
        hr = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
        Image.fromarray(hr).save(tmp_path / "HR" / f"{stem}.png")
        Image.fromarray(hr // 2).save(tmp_path / "edsr_out" / f"{stem}.png")
        Image.fromarray(hr[:, ::-1].copy()).save(tmp_path / "esrgan_out" / f"{stem}.png")
    methods = {"EDSR": tmp_path / "edsr_out", "ESRGAN": tmp_path / "esrgan_out"}
    kit = tmp_path / "kit"
    mos.build_kit(methods, tmp_path / "HR", kit, raters=3, seed=0, repeats=1, calibration=1)
    key, manifest = mos.load_key(kit), mos.load_kit(kit)
    for rater, order in manifest["orders"].items():
        for position, item in enumerate(order, start=1):
            score = {"EDSR": 3, "ESRGAN": 4}.get(key["items"][item].get("method"), 1 + 4 * (position % 2))
            row = dict(rater=rater, item_id=item, score=score, time="t", seconds="1.0", order=position)
            mos.append_rating(tmp_path / "ratings" / f"{rater}.csv", {**row, "kit": key["fingerprint"]})
    monkeypatch.setenv("SRLIB_FIGURES_DIR", str(tmp_path / "figures"))
    notebook = next(path for path in NOTEBOOKS if path.stem.startswith("05"))
    papermill.execute_notebook(
        str(notebook),
        str(tmp_path / "05.ipynb"),
        parameters=dict(
            metric_datasets=["mini/valid"],
            edsr_weights=["edsr_x4_course"],
            srgan_weights=["srgan_x4_course"],
            esrgan_weights=["esrgan_x4_course"],
            max_images=1,
            niqe_pristine="",
            results_dir=str(tmp_path / "results"),
            ratings_dir=str(tmp_path / "ratings"),
            mos_key=str(kit / "key.json"),
            mos_boot=200,
            mos_results_dir=str(tmp_path / "mos"),
        ),
        cwd=str(notebook.parent),
        progress_bar=False,
        kernel_name="python3",
    )
    assert (tmp_path / "figures" / "05_mos_collected.png").is_file()
    with open(tmp_path / "mos" / "mos_table.csv") as f:
        table = {row["method"]: float(row["mos"]) for row in csv.DictReader(f)}
    assert (table["EDSR"], table["ESRGAN"]) == (3.0, 4.0)  # every EDSR item scored 3, every ESRGAN item 4


def _srlib_names(source: str) -> list[str]:
    """Every ``srlib.<module>...<name>`` a notebook's code reaches through its imports, as dotted paths."""
    tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
    bound = {}  # local name -> dotted srlib path
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "srlib":
                    bound[alias.asname or "srlib"] = alias.name if alias.asname else "srlib"
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "srlib":
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    paths = set(bound.values())
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain, base = [], node
            while isinstance(base, ast.Attribute):
                chain.append(base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id in bound:
                paths.add(".".join([bound[base.id], *reversed(chain)]))
    return sorted(paths)


def _resolve(path: str) -> None:
    """Import ``path`` as far as it names modules, then check the next name exists (AttributeError if not)."""
    import importlib

    parts = path.split(".")
    obj = importlib.import_module(parts[0])
    for depth, part in enumerate(parts[1:], start=2):
        if not hasattr(obj, part) and hasattr(obj, "__path__"):  # a submodule not imported yet
            importlib.import_module(".".join(parts[:depth]))
        obj = getattr(obj, part)
        if not isinstance(obj, type(importlib)):
            return  # past the modules: attributes of objects are the notebook's business


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_srlib_name_a_notebook_uses_exists(path):
    """A name moved or renamed in srlib fails here, without running the notebook (nbval runs them in `make test`)."""
    nb = nbformat.read(path, as_version=4)
    source = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    missing = []
    for name in _srlib_names(source):
        try:
            _resolve(name)
        except (AttributeError, ImportError) as error:
            missing.append(f"{name} ({error})")
    assert not missing, f"{path.name} uses names srlib does not have: {missing}"
