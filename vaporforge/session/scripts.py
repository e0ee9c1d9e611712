"""The store's Lua steps, one file each under ``lua/``, called by name.

Each file opens with a header naming its keys and arguments in order::

    -- KEYS: session, heartbeat, payload, counter...
    -- ARGV: token_hash, window

(a trailing ``name...`` takes any number of values). :class:`Script` reads that
header, and its caller passes keys and arguments as mappings whose names must
be exactly the header's, so Python and Lua cannot drift apart by position.
Every key a script touches is in KEYS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import redis

_HEADER = re.compile(r"^-- (KEYS|ARGV): (.*(?:\n--\s{3,}.*)*)", re.MULTILINE)


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


class Script:
    """One Lua step, called with named keys and arguments."""

    def __init__(self, client: redis.Redis, name: str) -> None:
        self.name = name
        text = lua_source(name)
        names = header(text)
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
