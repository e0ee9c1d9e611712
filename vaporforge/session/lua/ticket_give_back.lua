-- ticket_give_back: restore a ticket taken for a creation that did not succeed,
-- with the time it had left. NX: a ticket is never written over, and one that
-- lapsed meanwhile is not brought back (the caller gives back only ms_left > 0).
-- KEYS: ticket
-- ARGV: value, ms_left
-- Returns 1 when restored, 0 when the key already exists.
local ticket = KEYS[1]
local value = ARGV[1]
local ms_left = ARGV[2]

if redis.call('SET', ticket, value, 'PX', ms_left, 'NX') then return 1 end
return 0
