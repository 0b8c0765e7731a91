"""The house plan (docs/architecture.md, "Floors"): every import points down a floor or
along one, and no two folders import each other, even through others."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("streams", "agents", "schemas", "tables", "connectors", "domain", "sentiment", "web")
# Bottom to top; a folder not named here is on its parent's floor.
FLOORS: dict[str, int] = {
    "domain": 0, "schemas": 0, "streams/core": 0,
    "sentiment": 1, "tables": 1, "connectors": 1,
    "agents": 2,
    "streams": 3,
    "web": 4,
    "streams/commands": 5,
}


def _folder_of_module(module: str) -> str | None:
    parts = module.removeprefix("stocktracker.").split(".")
    if parts[0] not in PACKAGES:
        return None
    path = ROOT.joinpath(*parts)
    return "/".join(parts if path.is_dir() else parts[:-1])


def _floor(folder: str) -> int:
    while folder not in FLOORS:
        folder = folder.rsplit("/", 1)[0]
    return FLOORS[folder]


def imports() -> list[tuple[str, str, str]]:
    """(file, its folder, the imported folder) for every import of ours, lazy ones too."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            folder = path.parent.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(path.read_text())):
                names = [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level \
                    else [a.name for a in node.names] if isinstance(node, ast.Import) else []
                for name in names:
                    target = _folder_of_module(name)
                    if target and target != folder:
                        found.append((path.relative_to(ROOT).as_posix(), folder, target))
    return found


def test_every_import_points_down_or_along_a_floor() -> None:
    found = imports()
    assert len(found) > 100  # the walk saw the code
    upward = [f"{file} imports {target} (floor {_floor(target)} > {_floor(folder)})"
              for file, folder, target in found if _floor(target) > _floor(folder)]
    assert upward == []


def test_no_two_folders_import_each_other() -> None:
    arrows: dict[str, set[str]] = defaultdict(set)
    for _, folder, target in imports():
        arrows[folder].add(target)

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            here = todo.pop()
            if here == goal:
                return True
            if here not in seen:
                seen.add(here)
                todo += arrows[here]
        return False

    circles = sorted(f"{a} <-> {b}" for a in list(arrows) for b in arrows[a] if reaches(b, a))
    assert circles == []


def test_the_rule_sees_a_wrong_arrow() -> None:
    assert _floor("connectors/alpaca") == 1 and _floor("streams/commands") == 5
    assert _folder_of_module("stocktracker.streams.commands.cli") == "streams/commands"
    assert _folder_of_module("streams.pipeline") == "streams"
    assert _folder_of_module("faust") is None


def test_every_package_folder_installs_under_stocktracker() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {init.parent.relative_to(ROOT).as_posix() for top in PACKAGES
               for init in (ROOT / top).rglob("__init__.py")}
    assert set(config["packages"]) == {"stocktracker." + f.replace("/", ".") for f in folders}
    assert config["package-dir"] == {f"stocktracker.{top}": top for top in PACKAGES}
