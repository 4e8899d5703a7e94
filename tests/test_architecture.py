"""Dependencies point one way (docs/architecture.md): entry points -> wiring -> algos -> data/nn/ops -> envs."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# room -> the rooms its modules may import, besides their own
ALLOWED = {
    "ops": set(),
    "envs": set(),
    "nn": set(),
    "data": {"envs"},
    "algos": {"ops", "nn", "data", "envs"},
    "wiring": {"algos", "ops", "nn", "data", "envs"},
    "entry": {"wiring", "algos", "ops", "nn", "data", "envs"},
}
ENTRY_POINTS = {"liir.train", "liir.evaluate", "liir.report"}


def room(module: str) -> str:
    """The room of a ``liir`` module: its subpackage, ``entry`` for the entry points, ``wiring`` for the rest."""
    parts = module.split(".")
    if module in ENTRY_POINTS:
        return "entry"
    if len(parts) > 1 and parts[1] in ALLOWED:
        return parts[1]
    return "wiring"


def liir_imports(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "liir":  # ``from liir import ops``
            modules.update(f"liir.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return {m for m in modules if m.startswith("liir.")}


def test_every_import_points_down_the_layers():
    violations = []
    for path in sorted(SRC.glob("liir/**/*.py")):
        module = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        mine = room(module)
        for imported in liir_imports(path):
            theirs = room(imported)
            if theirs != mine and theirs not in ALLOWED[mine]:
                violations.append(f"{module} ({mine}) imports {imported} ({theirs})")
    assert not violations, "\n".join(violations)


def test_the_room_table_knows_the_layout():
    assert room("liir.nn.critics") == "nn" and room("liir.algos.liir") == "algos" and room("liir.ops") == "ops"
    assert room("liir.callbacks") == "wiring" and room("liir.train") == "entry" and room("liir.report") == "entry"
    assert room("liir.aggregate") == "wiring" and room("liir.grouping") == "wiring"
