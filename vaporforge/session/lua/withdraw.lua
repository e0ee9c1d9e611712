-- withdraw: take back a warm entry nobody bound yet, atomically against a
-- session binding it (bind_warm): whoever comes first wins.
-- KEYS: pool, entry
-- ARGV: entry_id
-- Returns 1 when withdrawn, 0 when a session took it first (its bind list says which).
local pool = KEYS[1]
local entry = KEYS[2]
local entry_id = ARGV[1]

local removed = redis.call('ZREM', pool, entry_id)
redis.call('DEL', entry)
return removed
