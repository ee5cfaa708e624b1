"""The distribution ships every package folder under its framebridge name."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_under_its_mapped_name():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {folder: name for name, folder in setuptools["package-dir"].items()}
    found = set()
    for top, name in folders.items():
        for init in (ROOT / top).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / top).parts
            found.add(".".join((name, *relative)))
    assert found == set(setuptools["packages"])
    assert not any(name.split(".")[0] != "framebridge" for name in found), "nothing installs a top-level package"


def test_the_client_side_installs_on_nukes_pythons():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.9"  # Nuke 14 ships Python 3.9, Nuke 15 3.10, Nuke 16 3.11
