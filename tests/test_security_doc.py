"""docs/SECURITY.md: every control names the tests that fail if it breaks, and
each named test exists (a file, and a function in it), so a claim cannot outlive
its proof unnoticed. A row no test backs must say "not tested"."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs/SECURITY.md"
_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)?(?:::(\w+))?`")


def control_rows() -> list[tuple[str, str]]:
    """(control, test cell) of each row of the table under "Controls"."""
    text = DOC.read_text()
    section = text.split("## Controls", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and not set(cells[0]) <= {"-", " "} and cells[0] != "control":
            rows.append((cells[0], cells[-1]))
    return rows


def functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def references(cell: str) -> list[tuple[str, str | None]]:
    """(file, function or None) named in a cell; ``::name`` belongs to the file
    named last before it in the same cell."""
    found, current = [], None
    for file, function in _REFERENCE.findall(cell):
        if file:
            current = file
        if current is None:
            raise AssertionError(f"::{function} names no file before it: {cell[:80]}")
        found.append((current, function or None))
    return found


def test_the_table_has_rows():
    assert len(control_rows()) >= 20


@pytest.mark.parametrize(("control", "cell"), control_rows(), ids=lambda v: v[:40])
def test_every_control_names_tests_that_exist(control, cell):
    named = references(cell)
    assert named or "not tested" in cell, f"{control}: no test named, nor 'not tested'"
    for file, function in named:
        path = ROOT / file
        assert path.is_file(), f"{control}: {file} does not exist"
        if function:
            assert function in functions(path), f"{control}: {file}::{function} does not exist"
