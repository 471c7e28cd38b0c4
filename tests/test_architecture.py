"""The arrows between packages, and no import circle between modules.

Every `import` counts, at module level or inside a function: an import moved into a function to
dodge a circle is still a circle. Checked from the source (ast), so nothing has to be imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.cli import COMMANDS, NansenGroup, app
from tests.conftest import REPO

PACKAGES = ("directory", "crawlers", "publishing", "newsletter", "pipeline")
# What each package may import of ours (itself included).
ALLOWED = {
    "directory": {"directory"},
    "crawlers": {"crawlers", "directory"},
    "publishing": {"publishing", "directory"},
    "newsletter": {"newsletter", "publishing", "directory"},
    "pipeline": set(PACKAGES),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((REPO / package).rglob("*.py"))
        if "migrations" not in path.parts
    }


def _imports(name: str, path: Path, known: set[str]) -> Iterator[tuple[int, str]]:
    """(line, imported module of ours) for every import statement in the file, wherever it stands."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from package import module` names a module; `from module import name` names the module.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in PACKAGES:
                yield node.lineno, target


def test_imports_follow_the_arrows() -> None:
    modules = _modules()
    wrong = [
        f"{path.relative_to(REPO)}:{line}: {name.split('.')[0]} must not import {target}"
        for name, path in modules.items()
        for line, target in _imports(name, path, set(modules))
        if target.split(".")[0] not in ALLOWED[name.split(".")[0]]
    ]
    assert wrong == []


def test_no_module_imports_itself_through_others() -> None:
    modules = _modules()
    graph = {
        name: {t for _, t in _imports(name, path, set(modules)) if t in modules and t != name}
        for name, path in modules.items()
    }
    assert _cycles(graph) == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_checker_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    """The checks above could pass by seeing nothing: this one shows they see what they must."""
    source = "def f():\n    from newsletter import editions\n    import pipeline.jobs\n"
    found = list(_imports("publishing._probe_for_test", _write(tmp_path, source), {"newsletter.editions"}))
    assert found == [(2, "newsletter.editions"), (3, "pipeline.jobs")]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "probe.py"
    path.write_text(source, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_roots_summaries_are_the_commands_own(name: str) -> None:
    """`nansen --help` lists summaries without loading the command modules; they must not drift."""
    group = typer_group()
    command = group.get_command(None, name)
    assert (command.help or "").strip().splitlines()[0] == COMMANDS[name].summary


def typer_group() -> NansenGroup:
    import typer

    group = typer.main.get_group(app)
    assert isinstance(group, NansenGroup)
    return group


def test_help_loads_no_heavy_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom pipeline.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'])\nassert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in ('sqlalchemy', 'scrapy', 'starlette', 'mjml', 'pydantic', 'apscheduler') "
        "if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
