"""The README's Layout section names every module of the server, and nothing that is gone; its layers
hold: no module imports a higher layer, no import goes round in a cycle (read from every module's
imports with ``ast``, those inside functions too)."""

from __future__ import annotations

import ast
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


# -- the layers (README "Layout"), read from every module's imports ---------------------------------
PACKAGE = ROOT / "authserver"
LAYERS_SENTENCE = re.compile(r"Lower layers never import higher ones: (.*?)\. Modules of one layer", re.S)

# Known exceptions, each a debt with its reason beside it (none today); the tests fail on an entry
# that no longer happens, so none outlives its reason.
KNOWN_UPWARD: set[tuple[str, str]] = set()
KNOWN_TRANSACTION_CALLERS: set[str] = set()
TRANSACTION_MODE = {"begin_write", "release_reads", "reads_first"}
DISPATCH_POINT = "authserver.oauth.server"  # applies what each grant and endpoint declares (READS_FIRST)


def stated_layers() -> list[list[str]]:
    """The README's layers, lowest first: `settings.py`… → `store/` → …"""
    readme = (ROOT / "README.md").read_text().split("## Layout", 1)[1]
    sentence = LAYERS_SENTENCE.search(readme)
    assert sentence, "README's Layout section states the layers: 'Lower layers never import higher ones: …'"
    return [re.findall(r"`([^`]+)`", layer) for layer in sentence.group(1).split("→")]


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, pathlib.Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported_names(name: str, path: pathlib.Path) -> set[tuple[str, str | None]]:
    """(module, name imported from it or None) for every import of the module, those inside
    functions too, relative ones made absolute."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {(alias.name, None) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            found |= {(base, alias.name) for alias in node.names}
    return found


def import_graph() -> dict[str, set[str]]:
    """Which of the server's modules each module imports (``from package import module`` names the module)."""
    known = modules()
    graph = {}
    for name, path in known.items():
        targets = set()
        for module, imported in imported_names(name, path):
            if f"{module}.{imported}" in known:
                targets.add(f"{module}.{imported}")
            elif module in known:
                targets.add(module)
        graph[name] = targets - {name}
    return graph


def layer_of(name: str, layers: list[list[str]]) -> int:
    """A package's modules are in its folder's layer; the package's own modules by file name."""
    parts = name.split(".")[1:]
    if not parts:
        key = "__init__.py"
    elif len(parts) == 1 and (PACKAGE / f"{parts[0]}.py").exists():
        key = f"{parts[0]}.py"
    else:
        key = f"{parts[0]}/"
    for index, layer in enumerate(layers):
        if key in layer:
            return index
    raise AssertionError(f"README's layers do not name {key} (of {name})")


def test_the_readme_states_a_layer_for_every_module():
    layers = stated_layers()
    assert len(layers) >= 2 and all(layers)
    for name in modules():
        layer_of(name, layers)


def test_no_module_imports_a_higher_layer():
    layers = stated_layers()
    upward = {(importer, imported) for importer, targets in import_graph().items() for imported in targets
              if layer_of(imported, layers) > layer_of(importer, layers)}
    assert sorted(upward - KNOWN_UPWARD) == [], "a lower layer imports a higher one (README 'Layout')"
    assert sorted(KNOWN_UPWARD - upward) == [], "these no longer happen: take them out of KNOWN_UPWARD"


def test_no_import_goes_round_in_a_cycle():
    graph = import_graph()
    cycles, visiting, done = [], [], set()

    def visit(name):
        if name in done:
            return
        if name in visiting:
            cycles.append(visiting[visiting.index(name):] + [name])
            return
        visiting.append(name)
        for imported in sorted(graph[name]):
            visit(imported)
        visiting.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)
    assert cycles == [], "import cycles: " + "; ".join(" → ".join(cycle) for cycle in cycles)


def test_only_stores_and_the_dispatch_point_name_the_transaction():
    """Grants and endpoints declare READS_FIRST; the store begins the write transaction itself."""
    callers = {name for name, path in modules().items() if not name.startswith("authserver.store")
               and any(imported in TRANSACTION_MODE for _, imported in imported_names(name, path))}
    assert sorted(callers - KNOWN_TRANSACTION_CALLERS - {DISPATCH_POINT}) == []
    assert sorted(KNOWN_TRANSACTION_CALLERS - callers) == [], "take these out of KNOWN_TRANSACTION_CALLERS"


def test_protocol_code_holds_no_openapi():
    """Schemas live in openapi/ (or beside the views that declare operations), not in grants and endpoints."""
    graph = import_graph()
    protocol = [name for name in graph if name.startswith("authserver.oauth.") and not name.endswith(".views")]
    assert protocol
    assert sorted(name for name in protocol
                  if any(target.startswith("authserver.openapi") for target in graph[name])) == []
