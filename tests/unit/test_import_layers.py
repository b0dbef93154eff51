"""The module's imports point down only: the table of allowed edges, held by parsing every file.

The same table is in docs/architecture.md ("Allowed imports"). A new import that crosses it
fails here, whether at the top of a file or inside a function (a lazy import is still an
edge). Imports inside a layer are free; ``TYPE_CHECKING`` imports count like any other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "scaiecho_module"

# Module (dotted, below scaiecho_module) -> layer; the longest matching prefix wins.
LAYER_OF = {
    "": "bottom",  # the package itself: MODULE_ID and API_PREFIX
    "transcript": "bottom",
    "aio": "bottom",
    "audio.pcm": "bottom",
    "languages": "bottom",
    "errors": "bottom",
    "permissions": "bottom",
    "backend_preference": "bottom",
    "channels": "bottom",
    "host_contract": "contract",
    "metrics": "metrics",
    "audio": "audio",
    "engines": "engines",
    "backends": "backends",
    "config": "settings",
    "metering": "helpers",
    "audit": "helpers",
    "transcribe": "services",
    "jobs": "services",
    "policy": "services",
    "live": "services",
    "speakers": "services",
    "nodes": "services",
    "webhooks": "services",
    "transport": "transports",
    "plugin": "wiring",
    "runtime": "wiring",
    "tasks": "wiring",
    "models": "wiring",
    "migrations": "wiring",
    "client": "wiring",
    "cli": "wiring",
}

# Layer -> the layers it may import (besides itself).
ALLOWED = {
    "bottom": set(),
    "contract": set(),
    "metrics": set(),
    "audio": {"bottom"},
    "engines": {"bottom", "audio"},
    "backends": {"bottom", "audio", "engines", "metrics"},
    "settings": {"bottom", "engines", "backends"},
    "helpers": {"bottom", "contract", "metrics"},
    "services": {"bottom", "audio", "backends", "contract", "metrics", "helpers", "settings"},
    "transports": {"bottom", "services", "contract", "metrics", "settings"},
    "wiring": set(LAYER_OF.values()),
}


def layer_of(module: str) -> str:
    if module == "":
        return LAYER_OF[""]
    parts = module.split(".")
    for size in range(len(parts), 0, -1):
        layer = LAYER_OF.get(".".join(parts[:size]))
        if layer is not None:
            return layer
    raise AssertionError(f"scaiecho_module.{module} has no layer in LAYER_OF")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """Every scaiecho_module module ``path`` imports, dotted below scaiecho_module."""
    own = module_name(path)
    package = own.split(".") if path.name == "__init__.py" else own.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                names = [".".join(["scaiecho_module", *base, *([node.module] if node.module else [])])]
            else:
                names = [node.module or ""]
            # ``from scaiecho_module import metrics`` imports the submodule metrics.
            names += [f"{names[0]}.{alias.name}" for alias in node.names if _is_module(names[0], alias.name)]
        else:
            continue
        found |= {n.removeprefix("scaiecho_module").lstrip(".") for n in names if _ours(n)}
    return found


def _ours(name: str) -> bool:
    return name == "scaiecho_module" or name.startswith("scaiecho_module.")


def _is_module(package: str, name: str) -> bool:
    if not _ours(package):
        return False
    inner = package.removeprefix("scaiecho_module").lstrip(".")
    base = PACKAGE.joinpath(*inner.split(".")) if inner else PACKAGE
    return (base / f"{name}.py").is_file() or (base / name / "__init__.py").is_file()


def edges() -> list[tuple[str, str, str, str]]:
    """(file, its layer, imported module, that module's layer) for every import of ours."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        for target in sorted(imported_modules(path)):
            out.append((source, layer_of(source), target, layer_of(target)))
    return out


def test_every_import_follows_the_table_of_allowed_edges() -> None:
    crossing = [
        f"scaiecho_module.{source} ({layer}) imports scaiecho_module.{target} ({target_layer})"
        for source, layer, target, target_layer in edges()
        if target_layer != layer and target_layer not in ALLOWED[layer]
    ]
    assert crossing == []


def test_the_table_sees_every_file_and_every_kind_of_import() -> None:
    # A parser that missed imports would make the test above pass on anything.
    found = {(source, target) for source, _, target, _ in edges()}
    assert ("transport.errors", "metrics") in found  # from scaiecho_module import metrics
    assert ("migrations.env", "models") in found  # a relative import
    assert ("engines.triton_model", "engines.triton.codec") in found
    assert all(layer_of(module_name(p)) for p in PACKAGE.rglob("*.py"))  # a new folder needs a row
    with pytest.raises(AssertionError, match="no layer"):
        layer_of("somewhere_new")


def test_loading_the_triton_model_loads_only_engines_and_the_bottom() -> None:
    # The Triton Python backend imports this file: no relay, recogniser or metrics with it.
    reached, todo = set(), ["engines.triton_model"]
    while todo:
        module = todo.pop()
        if module in reached:
            continue
        reached.add(module)
        path = PACKAGE.joinpath(*module.split(".")) if module else PACKAGE
        file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        todo += imported_modules(file)
        todo += [".".join(module.split(".")[:size]) for size in range(len(module.split(".")))]
    assert {layer_of(m) for m in reached} <= {"bottom", "audio", "engines"}, sorted(reached)


def test_a_layer_above_may_not_be_imported_from_below() -> None:
    # The table itself points one way: no two layers may import each other.
    mutual = [(a, b) for a, allowed in ALLOWED.items() for b in allowed if a in ALLOWED[b] and a != b]
    assert mutual == []
