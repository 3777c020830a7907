"""Lay out the `usageflow` package as the wheel installs it, as a tree of file links, for the
static checkers (mypy, import-linter).

The repository keeps `streams/`, `schemas/`, `sql/` and `demo/` at the top and pyproject.toml's
`package-dir` maps them into the one import root `usageflow`. Python follows that mapping (the
editable install's finder), but tools that read the file system do not; they read this tree
instead. Every file is a symbolic link to the checkout, so what they report is the code as it is.

    python scripts/package_tree.py build/package-tree   # prints the tree's path
"""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTRA_TOP_LEVEL = ("benchmarks",)  # checked too, never installed


def package_dirs() -> dict[str, Path]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    mapping = config["tool"]["setuptools"]["package-dir"]
    return {name: ROOT / folder for name, folder in mapping.items()}


def link_files(source: Path, target: Path) -> None:
    for path in sorted(source.rglob("*")):
        if "__pycache__" in path.parts or path.is_dir():
            continue
        link = target / path.relative_to(source)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path)


def build(target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    for name, folder in package_dirs().items():
        link_files(folder, target.joinpath(*name.split(".")))
    for name in EXTRA_TOP_LEVEL:
        link_files(ROOT / name, target / name)
    return target


if __name__ == "__main__":
    print(build(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT / "build" / "package-tree"))
