"""The development package ``fake_telegram`` (the fake Bot API server, the phone user, the
sandbox) stays out of production: it is not installed with the bot, and nothing under
``bot/``, ``handlers/`` or ``domain/`` imports it, nor does ``run_bot.py`` at import time."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV_PACKAGE = "fake_telegram"
PRODUCTION_PACKAGES = ("bot", "handlers", "domain")


def imported_modules(statements: Iterable[ast.AST]) -> Iterator[str]:
    """Every absolute module name the statements import (``from x import y`` gives x and x.y)."""
    for node in statements:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def is_dev_package(module: str) -> bool:
    return module == DEV_PACKAGE or module.startswith(f"{DEV_PACKAGE}.")


def test_the_installed_packages_are_the_production_ones_without_the_dev_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["setuptools"]["packages"]
    assert not [package for package in packages if is_dev_package(package)], packages
    assert set(PRODUCTION_PACKAGES) <= set(packages)
    assert DEV_PACKAGE in pyproject["tool"]["mypy"]["files"]


def test_no_production_module_imports_the_dev_package_anywhere_in_it() -> None:
    modules = [path for package in PRODUCTION_PACKAGES for path in (ROOT / package).rglob("*.py")]
    assert len(modules) > 20
    offenders = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in modules
        for module in imported_modules(ast.walk(ast.parse(path.read_text(), str(path))))
        if is_dev_package(module)
    ]
    assert offenders == []


def test_run_bot_imports_the_dev_package_only_inside_the_sandbox_command() -> None:
    tree = ast.parse((ROOT / "run_bot.py").read_text())
    assert not [m for m in imported_modules(tree.body) if is_dev_package(m)]
    lazy = {
        function.name
        for function in tree.body
        if isinstance(function, ast.FunctionDef)
        for module in imported_modules(ast.walk(function))
        if is_dev_package(module)
    }
    assert lazy == {"cmd_sandbox"}
