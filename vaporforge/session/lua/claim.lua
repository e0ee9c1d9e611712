-- claim: hand out the payload once, moving `expect` (ready) -> `to` (claimed)
-- in the same step; the record then lives `record_grace` seconds more.
-- KEYS: session, payload, live, metrics
-- ARGV: expect, to, now, record_grace, session_id, metrics_ttl
-- Returns the payload, or false (not `expect`, or no payload).
local session, payload_key, live, metrics = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local expect, to, now, record_grace = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local session_id, metrics_ttl = ARGV[5], ARGV[6]

if redis.call('HGET', session, 'state') ~= expect then return false end
local payload = redis.call('GETDEL', payload_key)
if not payload then return false end
redis.call('HSET', session, 'state', to, 'updated_at', now)
redis.call('EXPIRE', session, record_grace)
redis.call('ZREM', live, session_id)
redis.call('HINCRBY', metrics, 'reached:' .. to, 1)
redis.call('HINCRBY', metrics, 'ended:' .. to .. ':', 1)
redis.call('EXPIRE', metrics, metrics_ttl)
return payload
