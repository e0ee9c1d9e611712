"""Each Lua step is its own file with a KEYS/ARGV header, called by name only,
whose body reads its keys and arguments through one block of named locals that
must agree with the header (scripts.drift)."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from vaporforge.session import scripts
from vaporforge.session.scripts import Script, ScriptDrift, check, drift, header, lua_source
from vaporforge.session.store import Room, registration, worker_room

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


# -- the argument block -------------------------------------------------------------
@pytest.mark.parametrize("name", STEPS)
def test_each_body_reads_its_arguments_through_the_headers_block(name):
    """Under the header, one block declares every KEYS entry then every ARGV
    entry, in the header's order and by its names (a trailing ``name...`` as
    ``{unpack(...)}``); below it the body never reads KEYS or ARGV itself."""
    assert drift(lua_source(name)) == []


# name: (step, [(text in the real file, what the broken copy has instead)], expected)
BROKEN = {
    "names swapped in the block": (
        "move", [("local expect = ARGV[1]\nlocal to = ARGV[2]\n",
                  "local to = ARGV[1]\nlocal expect = ARGV[2]\n")],
        r"ARGV entry 1: the header says expect = ARGV\[1\], the block declares to = ARGV\[1\]"),
    "indexes swapped in the block": (
        "take", [("local session = KEYS[1]\nlocal heartbeat = KEYS[2]\n",
                  "local heartbeat = KEYS[2]\nlocal session = KEYS[1]\n")],
        r"KEYS entry 1: the header says session = KEYS\[1\], "
        r"the block declares heartbeat = KEYS\[2\]"),
    "a local named otherwise than the header": (
        "read", [("local now = ARGV[3]", "local at = ARGV[3]")],
        r"ARGV entry 3: the header says now = ARGV\[3\], the block declares at = ARGV\[3\]"),
    "an argument the block does not declare": (
        "claim", [("local metrics_ttl = ARGV[6]\n", "")],
        r"ARGV entry 6: the header says metrics_ttl = ARGV\[6\], the block declares nothing "
        r"\(6 in the header, 5 in the block\)"),
    "an argument the header does not name": (
        "take", [("-- ARGV: expect, to, owner, heartbeat_ttl", "-- ARGV: expect, to, owner")],
        r"ARGV entry 4: the header says nothing, the block declares heartbeat_ttl = ARGV\[4\] "
        r"\(3 in the header, 4 in the block\)"),
    "the body reads ARGV by position": (
        "move", [("if payload ~= '' then", "if ARGV[7] ~= '' then")],
        r"line \d+ reads KEYS/ARGV outside the block: if ARGV\[7\]"),
    "the body reads KEYS by position": (
        "withdraw", [("redis.call('DEL', entry)", "redis.call('DEL', KEYS[2])")],
        r"line \d+ reads KEYS/ARGV outside the block: redis.call\('DEL', KEYS\[2\]\)"),
    "the trailing values from the wrong place": (
        "create", [("local fields = {unpack(ARGV, 6)}", "local fields = {unpack(ARGV, 5)}")],
        r"the header says fields = \{unpack\(ARGV, 6\)\}, "
        r"the block declares fields = \{unpack\(ARGV, 5\)\}"),
    "a trailing name read as one value": (
        "bind_warm", [("local entry_ids = {unpack(ARGV, 7)}", "local entry_ids = ARGV[7]")],
        r"the header says entry_ids = \{unpack\(ARGV, 7\)\}, "
        r"the block declares entry_ids = ARGV\[7\]"),
    "keys declared after the arguments": (
        "rewind", [("local family = KEYS[1]\n", ""),
                   ("local ttl = ARGV[3]\n", "local ttl = ARGV[3]\nlocal family = KEYS[1]\n")],
        r"declares KEYS after ARGV"),
    "a block split in two": (
        "admit", [("local family = KEYS[3]\n", "local family = KEYS[3]\n\n")],
        r"ARGV entry 1: the header says issued_ms = ARGV\[1\], the block declares nothing"
        r".*line \d+ reads KEYS/ARGV outside the block: local issued_ms"),
    "a block name declared again": (
        "claim", [("redis.call('HSET', session, 'state', to, 'updated_at', now)",
                   "local now = redis.call('TIME')[1]\n"
                   "redis.call('HSET', session, 'state', to, 'updated_at', now)")],
        r"line \d+ declares or assigns now again"),
    "a block name assigned again": (
        "take", [("if to ~= expect", "to = 'starting'\nif to ~= expect")],
        r"line \d+ declares or assigns to again"),
    "a name for both a key and an argument": (
        "move", [("-- KEYS: session, payload_key,", "-- KEYS: session, payload,"),
                 ("local payload_key = KEYS[2]", "local payload = KEYS[2]")],
        r"payload names both a key and an argument"),
}


def _broken_copy(folder, name, changes):
    text = lua_source(name)
    for old, new in changes:
        assert old in text, f"{name}.lua no longer has {old!r}: update this case"
        text = text.replace(old, new, 1)
    path = folder / f"{name}.lua"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_copy_is_rejected(case, tmp_path):
    """A copy of a real step, broken in one way, written to a file: the checker
    names what disagrees (the real file passes, above)."""
    name, changes, expected = BROKEN[case]
    path = _broken_copy(tmp_path, name, changes)
    assert drift(path.read_text(encoding="utf-8"))
    with pytest.raises(ScriptDrift, match=expected):
        check(path.read_text(encoding="utf-8"), name)


def test_a_step_that_drifted_does_not_load(tmp_path, monkeypatch, store_client):
    """Script checks each file as it loads it: a drifted step never reaches Redis."""
    _broken_copy(tmp_path, "move", BROKEN["the body reads ARGV by position"][1]).rename(
        tmp_path / "move_drifted.lua")
    monkeypatch.setattr(scripts, "lua_source",
                        lambda name: (tmp_path / f"{name}.lua").read_text(encoding="utf-8"))
    with pytest.raises(ScriptDrift, match=r"move_drifted\.lua: line \d+ reads KEYS/ARGV"):
        Script(store_client, "move_drifted")


# -- "a worker has room": one definition ---------------------------------------------
def test_no_step_reads_the_workers_registrations():
    """create.lua is given its limit (store.Room.limit); no Lua step counts the
    workers' registrations again."""
    assert all("workers" not in header(lua_source(name))["KEYS"] for name in STEPS)
    assert header(lua_source("create"))["ARGV"][0] == "limit"


def test_a_worker_has_room_until_its_registration_lapses():
    found = worker_room({"a": registration(3, 100), "b": registration(2, 99), "c": "junk",
                         "d": registration(1, 150)}, now=100)
    assert found == Room(workers=2, capacity=4, lapsed=("b", "c"))
    assert found.limit(100) == 4  # the workers' capacity is lower than VF_MAX_SESSIONS
    assert found.limit(3) == 3  # VF_MAX_SESSIONS is lower
    assert worker_room({}, now=100).limit(100) == 100  # no live worker: VF_MAX_SESSIONS
