-- revoke: every grant of a host's user issued until now (or, with a session id,
-- those of that one login) is refused from now on. Kept `ttl` seconds: the
-- longest a grant issued until now can live. Starts the epoch if there is none.
-- KEYS: epoch, revoked
-- ARGV: field, ttl
-- Returns the revocation's time (the store's clock, ms).
local epoch = KEYS[1]
local revoked = KEYS[2]
local field = ARGV[1]
local ttl = ARGV[2]

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', epoch, now, 'NX', 'EX', ttl)
redis.call('EXPIRE', epoch, ttl)
redis.call('HSET', revoked, field, now)
redis.call('EXPIRE', revoked, ttl)
return now
