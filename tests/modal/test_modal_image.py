"""The Modal image installs the project's own dependency list, not a hand-kept copy of it."""

from __future__ import annotations

import tomllib
from pathlib import Path

from soma_console.training.modal.app import image_packages, source_pyproject

ROOT_PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
PYPROJECT = tomllib.loads(ROOT_PYPROJECT.read_text())["project"]


def names(reqs: tuple[str, ...] | list[str]) -> set[str]:
    import re

    return {re.split(r"[\[<>=!~;\s]", r, maxsplit=1)[0].lower() for r in reqs}


def test_the_training_image_installs_every_project_dependency() -> None:
    assert names(image_packages(False)) == names(PYPROJECT["dependencies"])
    assert not names(image_packages(False)) & {"pytest", "ruff", "mypy", "moto"}  # no dev extra


def test_the_flax_image_adds_the_flax_extra_with_jax_for_cuda() -> None:
    pkgs = image_packages(True)
    assert names(pkgs) == names(PYPROJECT["dependencies"]) | names(PYPROJECT["optional-dependencies"]["flax"])
    assert any(p.startswith("jax[cuda12]") for p in pkgs)


def test_the_reveal_image_leaves_out_the_trainer() -> None:
    light = names(image_packages(False, training=False))
    assert {"soma-sdk", "modal", "cryptography", "httpx"} <= light
    assert not light & {"torch", "datasets", "soma-models"}


def test_the_dependency_list_is_read_from_this_source_tree() -> None:
    # Not the installed package's metadata, which may be another checkout's.
    assert source_pyproject() == ROOT_PYPROJECT
