-- move: `expect` -> `to` if the session is still `expect` (compare-and-set);
-- optionally counting an attempt against a cap, storing the payload, pushing
-- an item onto the code list, and, on a terminal state, ending the record.
-- KEYS: session, payload_key, live, heartbeat, code, metrics
-- ARGV: expect, to, terminal, record_grace, attempt_cap, only_without_heartbeat,
--       payload, payload_ttl, push, push_ttl, session_id, error_code, metrics_ttl,
--       fields...
-- Returns {1, to} when applied, {0, current} when the state differs (or a
-- heartbeat still beats), {-1, current} when the attempt cap is exceeded.
local session = KEYS[1]
local payload_key = KEYS[2]
local live = KEYS[3]
local heartbeat = KEYS[4]
local code = KEYS[5]
local metrics = KEYS[6]
local expect = ARGV[1]
local to = ARGV[2]
local terminal = ARGV[3]
local record_grace = ARGV[4]
local attempt_cap = ARGV[5]
local only_without_heartbeat = ARGV[6]
local payload = ARGV[7]
local payload_ttl = ARGV[8]
local push = ARGV[9]
local push_ttl = ARGV[10]
local session_id = ARGV[11]
local error_code = ARGV[12]
local metrics_ttl = ARGV[13]
local fields = {unpack(ARGV, 14)}

local state = redis.call('HGET', session, 'state')
if state ~= expect then return {0, state or ''} end
if only_without_heartbeat == '1' and redis.call('EXISTS', heartbeat) == 1 then
  return {0, state}
end
if attempt_cap ~= '0' then
  if redis.call('HINCRBY', session, 'attempts', 1) > tonumber(attempt_cap) then
    return {-1, state}
  end
end
redis.call('HSET', session, 'state', to, unpack(fields))
redis.call('HINCRBY', metrics, 'reached:' .. to, 1)
if payload ~= '' then redis.call('SET', payload_key, payload, 'EX', payload_ttl) end
if terminal == '1' then
  redis.call('EXPIRE', session, record_grace)
  redis.call('ZREM', live, session_id)
  redis.call('DEL', payload_key)
  redis.call('HINCRBY', metrics, 'ended:' .. to .. ':' .. error_code, 1)
end
redis.call('EXPIRE', metrics, metrics_ttl)
if push ~= '' then
  redis.call('RPUSH', code, push)
  redis.call('EXPIRE', code, push_ttl)
end
return {1, to}
