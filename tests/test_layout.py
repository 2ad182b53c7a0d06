"""The README's Layout section names every module of the server, and nothing that is gone."""

from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def layout_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Layout", 1)[1]
    return section.split("```", 2)[1]


def listed_modules() -> set[str]:
    """`folder/module.py` paths, from the indentation of the Layout block."""
    listed, folders = set(), []
    for line in layout_block().splitlines():
        match = re.match(r"^( *)(\S+)", line)
        if not match:
            continue
        depth, name = len(match.group(1)) // 2, match.group(2)
        folders = folders[:depth]
        if name.endswith("/"):
            folders.append(name.rstrip("/"))
        elif name.endswith(".py"):
            listed.add("/".join([*folders, name]))
    return listed


def test_every_module_of_the_server_is_in_the_readme_layout_and_every_listed_one_exists():
    modules = {str(path.relative_to(ROOT)) for path in (ROOT / "authserver").rglob("*.py")
               if path.name != "__init__.py" or path.parent == ROOT / "authserver"}  # a folder line stands for its own
    listed = listed_modules()
    assert sorted(modules - listed) == [], "add these to README's Layout section"
    assert sorted(listed - modules) == [], "these are in README's Layout section but gone"
