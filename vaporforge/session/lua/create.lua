-- create: admission and creation in one step, so concurrent creations cannot
-- overshoot. The limit is VF_MAX_SESSIONS, or the live workers' summed
-- capacity when that is lower (registrations past their time are ignored).
-- KEYS: session, live, workers, metrics
-- ARGV: max_sessions, now, expire_at, session_id, metrics_ttl, fields...
-- Returns 1 (created) or 0 (refused).
local session, live, workers_key, metrics = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local limit, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local expire_at, session_id, metrics_ttl = ARGV[3], ARGV[4], ARGV[5]
local FIELDS = 6

local workers, capacity = 0, 0
local entries = redis.call('HGETALL', workers_key)
for i = 1, #entries, 2 do
  local size, untl = string.match(entries[i + 1], '^(%d+):(%d+)$')
  if size and tonumber(untl) >= now then
    workers = workers + 1
    capacity = capacity + tonumber(size)
  end
end
if workers > 0 and capacity < limit then limit = capacity end
if redis.call('ZCOUNT', live, now, '+inf') >= limit then
  redis.call('HINCRBY', metrics, 'refused', 1)
  redis.call('EXPIRE', metrics, metrics_ttl)
  return 0
end
redis.call('HSET', session, unpack(ARGV, FIELDS))
redis.call('HINCRBY', metrics, 'created', 1)
redis.call('EXPIRE', metrics, metrics_ttl)
redis.call('EXPIREAT', session, expire_at)
redis.call('ZADD', live, expire_at, session_id)
redis.call('EXPIREAT', live, expire_at, 'GT')
redis.call('EXPIREAT', live, expire_at, 'NX')
return 1
