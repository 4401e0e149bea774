"""environment.yml and pyproject.toml list the same packages with the same bounds; every import is declared."""

import ast
import json
import re
import sys
from pathlib import Path

import pytest
import yaml

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["dev"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = {line for line in pip_section if not line.startswith("-e")}
    assert listed == wanted, f"only in pyproject: {wanted - listed}; only in environment.yml: {listed - wanted}"


# import names that differ from their distribution's name on the package index
DISTRIBUTION_OF = {
    "PIL": "pillow",
    "yaml": "pyyaml",
    "skimage": "scikit-image",
    "sklearn": "scikit-learn",
    "png": "pypng",
    "IPython": "ipython",
    "resize_right": "resize-right",
}


def _name(requirement: str) -> str:
    """The normalised distribution name of ``scipy>=1.10`` (PEP 503: lower case, runs of -_. as -)."""
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", requirement)[0]).lower()


def _imports(path: Path) -> set[str]:
    """Top-level names of the absolute imports in a .py file or in a notebook's code cells."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    else:
        source = path.read_text()
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_import_is_declared():
    """Each third-party module imported by srlib, the tests, the benchmarks or the notebooks comes from a
    distribution that pyproject.toml declares (a dependency, dev, or an optional extra)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"]}
    declared |= {_name(r) for extra in project["optional-dependencies"].values() for r in extra}
    files = [p for folder in ("srlib", "tests", "benchmarks", "notebooks") for p in (ROOT / folder).rglob("*")]
    files = [p for p in files if p.suffix in (".py", ".ipynb") and ".ipynb_checkpoints" not in p.parts]
    local = {"srlib", "__future__"} | {p.stem for p in files if p.suffix == ".py"}  # e.g. tests import test_hub
    undeclared = {}
    for path in files:
        for module in _imports(path) - set(sys.stdlib_module_names) - local:
            if _name(DISTRIBUTION_OF.get(module, module)) not in declared:
                undeclared.setdefault(module, []).append(str(path.relative_to(ROOT)))
    assert not undeclared, f"imported but not declared in pyproject.toml (and environment.yml): {undeclared}"


def test_optional_extras_are_named_in_environment_yml():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    text = (ROOT / "environment.yml").read_text()
    for extra, requirements in project["optional-dependencies"].items():
        for requirement in requirements if extra != "dev" else []:
            assert requirement in text, f"environment.yml does not mention the optional {requirement} ({extra})"
