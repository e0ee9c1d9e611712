"""Each Lua step is its own file with a KEYS/ARGV header, called by name only."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from vaporforge.session.scripts import Script, header, lua_source

STEPS = sorted(path.name.removesuffix(".lua")
               for path in (resources.files("vaporforge.session") / "lua").iterdir()
               if path.name.endswith(".lua"))


def test_every_step_has_its_file():
    assert set(STEPS) >= {"create", "bind_warm", "move", "read", "claim", "take", "withdraw"}


@pytest.mark.parametrize("name", STEPS)
def test_each_file_names_its_keys_and_arguments(name):
    text = lua_source(name)
    names = header(text)
    # A step that takes no argument says so: "-- ARGV: (none)" (ticket_take).
    assert names["KEYS"] and (names["ARGV"] or "\n-- ARGV: (none)\n" in text)
    for names_of in names.values():
        assert len(set(names_of)) == len(names_of)


@pytest.mark.parametrize("name", STEPS)
def test_no_key_is_built_inside_a_script(name):
    """Every key a script touches comes in KEYS: none is made by joining strings
    in a call's key position."""
    calls = re.findall(r"redis\.call\('\w+',\s*([^,)]+)", lua_source(name))
    assert not [arg for arg in calls if ".." in arg or "ARGV" in arg]


def test_a_call_by_the_wrong_names_is_refused(store_client):
    step = Script(store_client, "withdraw")
    with pytest.raises(TypeError):
        step(keys={"entry": "x", "pool": "y"}, argv={"entry_id": "e"})
    with pytest.raises(TypeError):
        step(keys={"pool": "y", "entry": "x"}, argv={"id": "e"})
