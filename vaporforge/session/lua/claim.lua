-- claim: hand out the payload once, moving `expect` (ready) -> `to` (claimed)
-- in the same step; the record then lives `record_grace` seconds more.
-- KEYS: session, payload_key, live, metrics
-- ARGV: expect, to, now, record_grace, session_id, metrics_ttl
-- Returns the payload, or false (not `expect`, or no payload).
local session = KEYS[1]
local payload_key = KEYS[2]
local live = KEYS[3]
local metrics = KEYS[4]
local expect = ARGV[1]
local to = ARGV[2]
local now = ARGV[3]
local record_grace = ARGV[4]
local session_id = ARGV[5]
local metrics_ttl = ARGV[6]

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
