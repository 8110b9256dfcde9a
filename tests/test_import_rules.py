"""The import rules of the package, read from the source with ``ast`` (nothing is imported).

Layers import downwards only: ``aicmo.cli -> aicmo.flows -> aicmo.tasks -> aicmo.storage ->
aicmo.models``. The kernel (``aicmo.settings``, ``aicmo.errors``, ``aicmo.progress``,
``aicmo.prefect_env``, ``aicmo.wiring``, any other top-level ``aicmo`` module) is importable from
every layer and imports none of them, with one exception: the composition root ``aicmo.wiring``
builds the store, the lake and the provider chains, so it may import storage and task libraries,
inside its functions only. Nothing imports ``aicmo.cli``; ``aicmo.fakes`` (local provider
servers) is imported by the CLI alone (and the tests). Tasks never import flows; the gateway
never imports a provider, and nothing outside the gateway imports its ``_``-prefixed internals.
SQL statements are built and run in ``aicmo.storage`` only.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Source folder -> the package it installs as (pyproject.toml, [tool.setuptools.package-dir]).
PACKAGE_DIRS = {
    "aicmo": "aicmo",
    "flows": "aicmo.flows",
    "tasks": "aicmo.tasks",
    "models": "aicmo.models",
    "storage": "aicmo.storage",
}
# Layers from the top; a module may import its own layer and any layer below it.
LAYERS = ("aicmo.cli", "aicmo.flows", "aicmo.tasks", "aicmo.storage", "aicmo.models")
FAKES = "aicmo.fakes"
COMPOSITION_ROOT = "aicmo.wiring"
# The composition root's explicit exception: these layers, imported inside functions only.
COMPOSITION_ROOT_MAY_IMPORT = ("aicmo.storage", "aicmo.tasks")
GATEWAY = "aicmo.tasks.gateway"
PROVIDERS = "aicmo.tasks.providers"
STORAGE = "aicmo.storage"
MODELS = "aicmo.models"
# SQLAlchemy statement constructors, and the session/connection calls that run or stage SQL.
SQL_CONSTRUCTORS = frozenset({"select", "insert", "update", "delete", "text"})
SQL_METHODS = frozenset({"execute", "scalars", "scalar", "add_all", "exec_driver_sql"})


@dataclass(frozen=True)
class Import:
    """One import statement's target, where it stands, and whether it runs at import time."""

    source: str
    target: str
    path: Path
    line: int
    in_function: bool

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.source} imports {self.target}"


def module_name(path: Path) -> str:
    """The installed module name of a source file."""
    rel = path.relative_to(ROOT)
    parts = [PACKAGE_DIRS[rel.parts[0]], *rel.parts[1:]]
    parts[-1] = parts[-1].removesuffix(".py")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(p for part in parts for p in part.split("."))


def source_files() -> Iterator[Path]:
    """Every Python file of the package."""
    for folder in PACKAGE_DIRS:
        yield from sorted((ROOT / folder).rglob("*.py"))


def layer_of(module: str) -> str | None:
    """The layer a module belongs to (None: the kernel)."""
    if module == FAKES or module.startswith(FAKES + "."):
        return FAKES
    for layer in LAYERS:
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path) -> list[Import]:
    """Every ``aicmo`` import in ``path``; imports in functions or ``if TYPE_CHECKING`` count as deferred."""
    source = module_name(path)
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def visit(node: ast.AST, deferred: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = deferred or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.If) and _is_type_checking(child):
                inner = True
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if within(alias.name, "aicmo"):
                        found.append(Import(source, alias.name, path, child.lineno, deferred))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = source.split(".") if is_package else source.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                if within(base, "aicmo"):
                    for alias in child.names:
                        # ``from aicmo.tasks import gateway`` imports the module aicmo.tasks.gateway.
                        found.append(Import(source, f"{base}.{alias.name}", path, child.lineno, deferred))
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def all_imports() -> list[Import]:
    return [imp for path in source_files() for imp in imports_of(path)]


def _rank(layer: str) -> int:
    return len(LAYERS) if layer == FAKES else len(LAYERS) - LAYERS.index(layer)


def layer_violations(imports: list[Import]) -> list[str]:
    """Imports that point up the layers, into the CLI or the fakes, or out of the kernel."""
    bad = []
    for imp in imports:
        src, dst = layer_of(imp.source), layer_of(imp.target)
        if dst == "aicmo.cli" and src != "aicmo.cli":
            bad.append(f"{imp} (nothing imports the CLI)")
        elif dst == FAKES and src not in ("aicmo.cli", FAKES):
            bad.append(f"{imp} (only the CLI and the tests import the fakes)")
        elif src is None and dst is not None:
            allowed = (
                imp.source == COMPOSITION_ROOT and imp.in_function and dst in COMPOSITION_ROOT_MAY_IMPORT
            )
            if not allowed:
                bad.append(
                    f"{imp} (the kernel imports no layer; only {COMPOSITION_ROOT} builds parts, in functions)"
                )
        elif src is not None and dst is not None and _rank(dst) > _rank(src):
            bad.append(f"{imp} (an arrow up the layers)")
    return bad


def gateway_violations(imports: list[Import]) -> list[str]:
    """The gateway importing a provider; anything outside the gateway importing its internals."""
    bad = []
    for imp in imports:
        if within(imp.source, GATEWAY) and within(imp.target, PROVIDERS):
            bad.append(f"{imp} (the gateway never imports a provider)")
        internal = within(imp.target, GATEWAY) and imp.target[len(GATEWAY) + 1 :].startswith("_")
        if internal and not within(imp.source, GATEWAY):
            bad.append(f"{imp} (use the gateway's public surface, aicmo.tasks.gateway)")
    return bad


def sql_uses(path: Path) -> list[str]:
    """Places in ``path`` that build or run SQL: SQLAlchemy statement constructors and session calls."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    constructors: set[str] = set()
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and within(node.module or "", "sqlalchemy"):
            for alias in node.names:
                if alias.name in SQL_CONSTRUCTORS:
                    constructors.add(alias.asname or alias.name)
                    out.append(f"{where}:{node.lineno}: imports sqlalchemy's {alias.name}")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in constructors:
            out.append(f"{where}:{node.lineno}: {func.id}(...)")
        elif isinstance(func, ast.Attribute):
            receiver = func.value
            receiver_name = receiver.id if isinstance(receiver, ast.Name) else ""
            if func.attr in SQL_METHODS:
                out.append(f"{where}:{node.lineno}: .{func.attr}(...)")
            elif func.attr in SQL_CONSTRUCTORS and receiver_name in ("sa", "sqlalchemy"):
                out.append(f"{where}:{node.lineno}: {receiver_name}.{func.attr}(...)")
            elif func.attr == "add" and "session" in receiver_name.lower():
                out.append(f"{where}:{node.lineno}: {receiver_name}.add(...)")
    return out


def test_module_names_follow_the_package_dirs() -> None:
    assert module_name(ROOT / "tasks" / "gateway" / "__init__.py") == "aicmo.tasks.gateway"
    assert module_name(ROOT / "aicmo" / "cli" / "app.py") == "aicmo.cli.app"
    assert module_name(ROOT / "storage" / "crm.py") == "aicmo.storage.crm"
    assert layer_of("aicmo.settings") is None and layer_of("aicmo.tasks.crm.emails") == "aicmo.tasks"


def test_every_arrow_points_down_the_layers() -> None:
    bad = layer_violations(all_imports())
    assert not bad, "imports against cli -> flows -> tasks -> storage -> models:\n" + "\n".join(bad)


def test_every_package_import_names_a_module_that_exists() -> None:
    modules = {module_name(path) for path in source_files()}
    missing = [
        str(imp)
        for imp in all_imports()
        if imp.target not in modules and imp.target.rsplit(".", 1)[0] not in modules
    ]
    assert not missing, "imports of modules that do not exist:\n" + "\n".join(missing)


def test_the_gateway_knows_no_provider_and_keeps_its_internals() -> None:
    bad = gateway_violations(all_imports())
    assert not bad, "gateway boundary crossed:\n" + "\n".join(bad)


def test_sql_lives_in_storage_only() -> None:
    bad = [
        use
        for path in source_files()
        if not within(module_name(path), STORAGE)
        for use in sql_uses(path)
        # a table's server default (``server_default=text("'[]'")``) is schema, not a query
        if not (within(module_name(path), MODELS) and "text" in use)
    ]
    assert not bad, "SQL outside aicmo.storage (add a named function to storage/<phase>.py):\n" + "\n".join(
        bad
    )


@pytest.mark.parametrize(
    ("source", "target", "in_function", "broken"),
    [
        ("aicmo.tasks.crm.lifecycle", "aicmo.flows.enrich", False, True),
        ("aicmo.storage.crm", "aicmo.tasks.crm.emails", True, True),
        ("aicmo.flows.daily", "aicmo.cli.console", True, True),
        ("aicmo.tasks.crm.enrichment", "aicmo.fakes.provider_server", False, True),
        ("aicmo.settings", "aicmo.storage.db", True, True),
        ("aicmo.wiring", "aicmo.storage.db", False, True),
        ("aicmo.wiring", "aicmo.storage.db", True, False),
        ("aicmo.wiring", "aicmo.flows.daily", True, True),
        ("aicmo.cli.demo", "aicmo.fakes.provider_server", True, False),
        ("aicmo.flows.aggregate", "aicmo.models.crm", False, False),
        ("aicmo.tasks.crm.erasure", "aicmo.settings", False, False),
    ],
)
def test_the_layer_rule_catches_what_it_should(
    source: str, target: str, in_function: bool, broken: bool
) -> None:
    imp = Import(source, target, ROOT / "x.py", 1, in_function)
    assert bool(layer_violations([imp])) is broken


def test_the_gateway_rule_catches_what_it_should() -> None:
    def imp(source: str, target: str) -> Import:
        return Import(source, target, ROOT / "x.py", 1, False)

    assert gateway_violations([imp("aicmo.tasks.gateway._chain", "aicmo.tasks.providers.stripe")])
    assert gateway_violations([imp("aicmo.tasks.providers.stripe", "aicmo.tasks.gateway._provider")])
    assert not gateway_violations([imp("aicmo.tasks.providers.stripe", "aicmo.tasks.gateway.Provider")])
    assert not gateway_violations([imp("aicmo.tasks.gateway._batch", "aicmo.tasks.gateway._cache")])


def test_the_sql_rule_catches_what_it_should(tmp_path: Path) -> None:
    leaky = tmp_path / "leaky.py"
    leaky.write_text(
        "from sqlalchemy import select as s, update\n"
        "import polars as pl\n"
        "def f(session, conn, df):\n"
        "    session.add(object())\n"
        "    conn.execute(s(1))\n"
        "    df.select(pl.col('a'))\n"
        "    df.update(df)\n"
        "    return session.scalars(update(1))\n",
        encoding="utf-8",
    )
    found = "\n".join(sql_uses(leaky))
    for needle in (
        "sqlalchemy's select",
        "sqlalchemy's update",
        "session.add",
        ".execute",
        ".scalars",
        "s(...)",
    ):
        assert needle in found
    assert "df" not in found and "pl.col" not in found
