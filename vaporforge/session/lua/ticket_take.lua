-- ticket_take: use a connect ticket up. Read, remaining TTL and delete are one
-- step, so of two creations presenting the same ticket exactly one gets it.
-- KEYS: ticket
-- ARGV: (none)
-- Returns {value, ms_left}, or false when there is no such ticket (any more).
local ticket = KEYS[1]

local value = redis.call('GET', ticket)
if not value then return false end
local left = redis.call('PTTL', ticket)
redis.call('DEL', ticket)
return {value, left}
