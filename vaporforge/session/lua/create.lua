-- create: admission and creation in one step, so concurrent creations cannot
-- overshoot: refused while the live sessions reach `limit`. The limit is
-- worked out beside the step, in Python (vaporforge.session.store.Room.limit:
-- VF_MAX_SESSIONS, or the live workers' summed capacity when that is lower).
-- KEYS: session, live, metrics
-- ARGV: limit, now, expire_at, session_id, metrics_ttl, fields...
-- Returns 1 (created) or 0 (refused).
local session = KEYS[1]
local live = KEYS[2]
local metrics = KEYS[3]
local limit = tonumber(ARGV[1])
local now = ARGV[2]
local expire_at = ARGV[3]
local session_id = ARGV[4]
local metrics_ttl = ARGV[5]
local fields = {unpack(ARGV, 6)}

if redis.call('ZCOUNT', live, now, '+inf') >= limit then
  redis.call('HINCRBY', metrics, 'refused', 1)
  redis.call('EXPIRE', metrics, metrics_ttl)
  return 0
end
redis.call('HSET', session, unpack(fields))
redis.call('HINCRBY', metrics, 'created', 1)
redis.call('EXPIRE', metrics, metrics_ttl)
redis.call('EXPIREAT', session, expire_at)
redis.call('ZADD', live, expire_at, session_id)
redis.call('EXPIREAT', live, expire_at, 'GT')
redis.call('EXPIREAT', live, expire_at, 'NX')
return 1
