"""docs/architecture.md names every module of the package, with the tree as it is."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "architecture_tree.py"


def _tree_script():
    spec = importlib.util.spec_from_file_location("architecture_tree", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_module_map_in_the_docs_is_the_package_tree() -> None:
    tree = _tree_script()
    generated = tree.module_map()
    assert generated.count("\n") > 100  # the whole package, not an empty walk
    assert tree.documented_map() == generated, (
        "docs/architecture.md's module map differs from the package: "
        "run `python scripts/architecture_tree.py --write` and read the diff"
    )


def test_every_module_has_a_line_that_says_what_it_is_for() -> None:
    tree = _tree_script()
    package = SCRIPT.parent.parent / "soma_console"
    undocumented = [
        str(p.relative_to(package))
        for p in sorted(package.rglob("*.py"))
        if "proto" not in p.parts and p.name not in ("__init__.py", "__main__.py") and not tree.summary(p)
    ]
    assert undocumented == []
