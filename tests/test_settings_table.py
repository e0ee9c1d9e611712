"""The settings table: one row per Settings field, and the README's
configuration table is exactly the table those rows print."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

from vaporforge.settings import VARS, Settings, markdown_table, rewrite_readme

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def readme_config_table(text: str) -> str:
    section = text.split("\n## Configuration (environment)\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return "\n".join(rows) + "\n"


def test_the_readme_table_is_the_generated_one():
    assert readme_config_table(README.read_text()) == markdown_table(), (
        "run: python -m vaporforge.settings --readme README.md")


def test_the_command_prints_the_table():
    done = subprocess.run([sys.executable, "-m", "vaporforge.settings", "--markdown"],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout == markdown_table()
    assert "| `VF_SESSION_TTL` | `900` |" in done.stdout


def test_rewriting_a_stale_readme_replaces_only_the_table(tmp_path):
    stale = README.read_text().replace("| `VF_SESSION_TTL` | `900` |", "| `VF_SESSION_TTL` | `1` |")
    assert readme_config_table(stale) != markdown_table()
    copy = tmp_path / "README.md"
    copy.write_text(stale)
    subprocess.run([sys.executable, "-m", "vaporforge.settings", "--readme", str(copy)],
                   check=True, cwd=ROOT)
    assert copy.read_text() == README.read_text()
    assert rewrite_readme(README.read_text()) == README.read_text()


def test_each_field_has_exactly_one_row():
    attrs = [var.attr for var in VARS]
    names = [var.name for var in VARS]
    assert len(set(attrs)) == len(attrs)
    assert len(set(names)) == len(names)
    assert set(attrs) == {f.name for f in dataclasses.fields(Settings)}
    assert all(var.meaning and "|" not in var.meaning for var in VARS)


def test_each_row_default_is_the_field_default():
    """Settings() and Settings.from_env({}) agree, so the table's defaults are
    the dataclass's (rows that derive theirs from the environment aside)."""
    built, read = Settings(), Settings.from_env({})
    for var in VARS:
        if var.derive is None:
            assert getattr(read, var.attr) == getattr(built, var.attr) == var.default, var.name


def test_every_variable_the_readme_lists_is_a_row():
    listed = set(re.findall(r"^\| `([A-Z_]+)` \|", README.read_text(), re.MULTILINE))
    assert listed == {var.name for var in VARS}
