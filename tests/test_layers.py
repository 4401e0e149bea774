"""Imports inside srlib run one way: models -> losses -> data -> train -> infer / evaluate -> report and CLI.

Each top-level module or package of srlib has a rank; a module may import srlib modules of a lower rank (and
its own package) only, so a helper never reaches up into what uses it and no two modules import each other.
"""

import ast
from pathlib import Path

import srlib

RANKS = {
    # helpers every layer may use
    "utils": 0, "io": 0, "imresize": 0, "metrics": 0, "published": 0,
    "models": 1, "artefacts": 1, "ncnn": 1, "plots": 1,
    "losses": 2,
    "data": 3, "niqe": 4,
    "hub": 5, "weights": 6,  # checkpoints and pretrained weights; weights re-exports hub.load_model
    "train": 7,
    "infer": 8, "infer_cli": 9, "evaluate": 10,
    # what the notebooks and the command line use
    "compare": 11, "mos": 11, "bench": 11, "course": 11, "report": 11, "hub_cli": 11,
    "cli": 12, "__main__": 13,
}  # fmt: skip


def _imports(path: Path) -> set[str]:
    """The srlib top-level names ``path`` imports (``srlib.x.y`` -> ``x``; ``from srlib import x`` -> ``x``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] != "srlib":
                continue
            names |= {parts[1]} if len(parts) > 1 else {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name.split(".")[1] for a in node.names if a.name.startswith("srlib.")}
    return names


def test_every_module_has_a_rank():
    root = Path(srlib.__file__).parent
    tops = {p.stem for p in root.glob("*.py")} | {p.name for p in root.iterdir() if (p / "__init__.py").is_file()}
    assert tops - {"__init__"} == set(RANKS)


def test_imports_run_one_way():
    root = Path(srlib.__file__).parent
    upward = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts == ("__init__",):
            continue  # srlib/__init__.py: the package's public face may import anything
        own = parts[0]
        for name in _imports(path) - {own}:
            if name in RANKS and RANKS[name] >= RANKS[own]:
                upward.append(f"{path.relative_to(root)} imports srlib.{name}")
    assert not upward, "imports against the layering:\n" + "\n".join(upward)
