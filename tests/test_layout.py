"""The house rules of the package (docs/contributing.md), checked on its imports: no
cycle, imports flowing one way between the folders, provider names only in backends/,
and modules and classes of a size a reader can hold."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "assetstore"
# What each folder may import from the package (besides itself): nothing above it.
ALLOWED = {
    "model": {"errors"},
    "io": {"errors"},
    "backends": {"errors", "io", "redact"},
    "config": {"errors", "model", "backends", "redact"},  # backends: the registry only
    "repository": {"errors", "model", "io", "backends", "config", "redact"},
    "cache": {"errors", "model", "io"},
    "catalog": {"errors", "model", "config", "redact"},
    "transfer": {"errors", "model", "io", "backends", "repository", "cache"},
    "lifecycle": {"errors", "model", "repository", "release"},
}
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 250


def _modules() -> dict[str, Path]:
    return {
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts): path
        for path in PACKAGE.rglob("*.py")
    }


def _imports(name: str, path: Path) -> set[str]:
    """The package's modules ``name`` imports (at module level or inside functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    tree = ast.parse(path.read_text())
    typing_only = {  # imports under ``if TYPE_CHECKING:`` are for the type checker only
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
        for child in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            if base.startswith("assetstore"):
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("assetstore"))
    return found & set(_modules())


def _folder(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else parts[-1]


def test_folders_import_only_what_is_below_them() -> None:
    wrong = []
    for name, path in _modules().items():
        folder = _folder(name)
        if folder not in ALLOWED:
            continue
        for imported in _imports(name, path):
            target = _folder(imported)
            if target != folder and target not in ALLOWED[folder] and imported != "assetstore":
                wrong.append(f"{name} imports {imported}")
    assert wrong == []


def test_config_reads_only_the_provider_registry_of_backends() -> None:
    # The registry is data (no SDK, no I/O): config may read it, never a backend itself.
    data = {"assetstore.backends", "assetstore.backends.registry", "assetstore.backends.provider"}
    found = [
        f"{name} imports {imported}"
        for name, path in _modules().items()
        if _folder(name) == "config"
        for imported in _imports(name, path)
        if _folder(imported) == "backends" and imported not in data
    ]
    assert found == []


def test_there_is_no_import_cycle_between_modules() -> None:
    graph = {name: _imports(name, path) - {name} for name, path in _modules().items()}
    # a package's __init__ re-exporting its modules is no cycle
    edges = {n: {m for m in deps if not n.startswith(m + ".")} for n, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in edges.get(node, ()):
            if state.get(nxt) == 1:
                raise AssertionError(" -> ".join([*trail, node, nxt]))
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])


def test_provider_names_appear_only_in_backends() -> None:
    pattern = re.compile(r"""['"](s3|gcs|az|local|memory)['"]""")
    found = [
        f"{path.relative_to(PACKAGE)}:{n}"
        for path in PACKAGE.rglob("*.py")
        if "backends" not in path.parts
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []


def test_modules_and_classes_stay_small() -> None:
    big = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            big.append(f"{path.relative_to(PACKAGE)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                size = node.end_lineno - node.lineno + 1
                if size > MAX_CLASS_LINES:
                    big.append(f"{path.relative_to(PACKAGE)}: class {node.name}, {size} lines")
    assert big == []
