"""The store's Lua steps, one file each under ``lua/``, called by name.

Each file opens with a header naming its keys and arguments in order, then
reads them into named locals in one block, one line each, in the header's
order::

    -- KEYS: session, heartbeat, payload_key, counter...
    -- ARGV: token_hash, window, now
    local session = KEYS[1]
    local heartbeat = KEYS[2]
    local payload_key = KEYS[3]
    local counter = {unpack(KEYS, 4)}
    local token_hash = ARGV[1]
    local window = tonumber(ARGV[2])
    local now = ARGV[3]

A trailing ``name...`` takes any number of values and is declared as the table
``{unpack(KEYS|ARGV, n)}``; ``tonumber(ARGV[n])`` is the one conversion the
block may make. The body below the block never names ``KEYS`` or ``ARGV``, and
never redeclares or reassigns a block name. :func:`drift` lists every way a
file breaks this; :class:`Script` refuses such a file when it loads it, and its
caller passes keys and arguments as mappings whose names must be exactly the
header's. So Python, the header and the body cannot drift apart by position.
Every key a script touches is in KEYS.

The block is written in each file and checked, not generated from the header
at load time: the text Redis runs is the file as read (an error's line number
is the file's, ``redis-cli --eval`` runs it as is), and a conversion such as
``tonumber`` stays where the name is declared.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from itertools import zip_longest
from typing import Any, NamedTuple

import redis

_HEADER = re.compile(r"^-- (KEYS|ARGV): (.*(?:\n--\s{3,}.*)*)", re.MULTILINE)
_ONE = re.compile(r"local (?P<name>\w+) = (?P<conv>tonumber\()?(?P<table>KEYS|ARGV)"
                  r"\[(?P<index>\d+)\](?(conv)\))")
_REST = re.compile(r"local (?P<name>\w+) = \{unpack\((?P<table>KEYS|ARGV), (?P<index>\d+)\)\}")
_TABLES = ("KEYS", "ARGV")


class ScriptDrift(ValueError):
    """A Lua file's argument block disagrees with its header, or its body reads
    KEYS/ARGV outside the block."""


class Declaration(NamedTuple):
    """One line of the argument block: ``local name = table[position]``
    (``rest``: ``local name = {unpack(table, position)}``, a trailing ``name...``)."""

    table: str
    name: str
    position: int
    rest: bool


def lua_source(name: str) -> str:
    return (resources.files(__package__) / "lua" / f"{name}.lua").read_text(encoding="utf-8")


def header(text: str) -> dict[str, list[str]]:
    """``{"KEYS": [...], "ARGV": [...]}`` as the file's header names them (a
    trailing ``name...`` is kept with its dots). Comment continuation lines
    (``--`` and three or more spaces) belong to the line above; a parenthesised
    note there is not a name."""
    found: dict[str, list[str]] = {"KEYS": [], "ARGV": []}
    for match in _HEADER.finditer(text):
        body = re.sub(r"\n--\s+", " ", match.group(2))
        body = re.sub(r"\(.*?\)", "", body)
        found[match.group(1)] = [name.strip() for name in body.split(",") if name.strip()]
    return found


def _code(line: str) -> str:
    """``line`` without its ``--`` comment (no step has ``--`` inside a string)."""
    return line.split("--", 1)[0].rstrip()


def argument_block(text: str) -> tuple[list[Declaration], int]:
    """The argument block: the declarations from the first line of code on,
    while each line is one; and the number of the block's last line (1-based;
    the line before the code when the block is empty)."""
    lines = text.splitlines()
    start = next((n for n, line in enumerate(lines) if _code(line).strip()), len(lines))
    found: list[Declaration] = []
    for line in lines[start:]:
        rest = _REST.fullmatch(_code(line))
        match = rest or _ONE.fullmatch(_code(line))
        if match is None:
            break
        found.append(Declaration(match["table"], match["name"], int(match["index"]),
                                 rest is not None))
    return found, start + len(found)


def drift(text: str) -> list[str]:
    """Every disagreement between the header and the argument block (order,
    names, count, a table declared out of turn), and every use of KEYS/ARGV, or
    redeclaration or reassignment of a block name, below the block. Empty: none."""
    problems: list[str] = []
    names = header(text)
    block, end = argument_block(text)
    declared = [d.table for d in block]
    if declared != sorted(declared, key=_TABLES.index):
        problems.append("the block declares KEYS after ARGV; the header's order is KEYS, ARGV")
    seen: set[str] = set()
    for table in _TABLES:
        expected = [(name.removesuffix("..."), position, name.endswith("..."))
                    for position, name in enumerate(names[table], 1)]
        got = [(d.name, d.position, d.rest) for d in block if d.table == table]
        if got != expected:
            at = next(i for i, pair in enumerate(zip_longest(expected, got)) if len(set(pair)) > 1)
            ours, theirs = (_show(entries[at], table) if at < len(entries) else "nothing"
                            for entries in (expected, got))
            problems.append(f"{table} entry {at + 1}: the header says {ours}, the block "
                            f"declares {theirs} ({len(expected)} in the header, "
                            f"{len(got)} in the block)")
        for name, *_ in expected:
            if name in seen:
                problems.append(f"{name} names both a key and an argument")
            seen.add(name)
    lines = text.splitlines()
    taken = sorted({d.name for d in block})
    for number, line in enumerate(lines[end:], end + 1):
        code = _code(line)
        if re.search(r"\b(KEYS|ARGV)\b", code):
            problems.append(f"line {number} reads KEYS/ARGV outside the block: {code.strip()}")
        for name in taken:
            if re.search(rf"\blocal\s+(\w+\s*,\s*)*{name}\b", code) or re.match(
                    rf"\s*{name}\s*=(?!=)", code):
                problems.append(f"line {number} declares or assigns {name} again: "
                                f"{code.strip()}")
    return problems


def _show(entry: tuple[str, int, bool], table: str) -> str:
    name, position, rest = entry
    return (f"{name} = {{unpack({table}, {position})}}" if rest
            else f"{name} = {table}[{position}]")


def check(text: str, name: str) -> dict[str, list[str]]:
    """The file's header names, when its block and body agree with them (else
    :class:`ScriptDrift`, naming every problem)."""
    problems = drift(text)
    if problems:
        raise ScriptDrift(f"{name}.lua: " + "; ".join(problems))
    return header(text)


@cache
def _checked(name: str) -> tuple[str, dict[str, list[str]]]:
    text = lua_source(name)
    return text, check(text, name)


class Script:
    """One Lua step, called with named keys and arguments."""

    def __init__(self, client: redis.Redis, name: str) -> None:
        self.name = name
        text, names = _checked(name)
        self.keys, self.argv = names["KEYS"], names["ARGV"]
        self._script = client.register_script(text)

    def __call__(self, *, keys: Mapping[str, str], argv: Mapping[str, Any],
                 more_keys: Sequence[str] = (), more_argv: Sequence[Any] = (),
                 client: Any = None) -> Any:
        """Run the step. ``keys``/``argv`` name the header's fixed entries in
        order; ``more_keys``/``more_argv`` fill its trailing ``name...``."""
        fixed_keys = [k for k in self.keys if not k.endswith("...")]
        fixed_argv = [a for a in self.argv if not a.endswith("...")]
        if list(keys) != fixed_keys or list(argv) != fixed_argv:
            raise TypeError(f"{self.name}.lua takes KEYS {self.keys} and ARGV {self.argv}; "
                            f"got {list(keys)} and {list(argv)}")
        if (more_keys and len(fixed_keys) == len(self.keys)) or (
                more_argv and len(fixed_argv) == len(self.argv)):
            raise TypeError(f"{self.name}.lua takes no further keys or arguments")
        return self._script(keys=[*keys.values(), *more_keys],
                            args=[*argv.values(), *more_argv], client=client)
