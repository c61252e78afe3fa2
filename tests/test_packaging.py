"""Packaging metadata in the form current setuptools takes without deprecation warnings (every
`make` run printed four of them for a license table)."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import REPO


def test_the_license_is_an_spdx_expression_and_setuptools_is_new_enough_for_it() -> None:
    meta = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert isinstance(meta["project"]["license"], str)  # PEP 639, not the deprecated table
    assert not any(c.startswith("License ::") for c in meta["project"].get("classifiers", []))
    requires = " ".join(meta["build-system"]["requires"])
    match = re.search(r"setuptools>=(\d+)", requires)
    assert match and int(match.group(1)) >= 77, requires  # the first release that reads it
