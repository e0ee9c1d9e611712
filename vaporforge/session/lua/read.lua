-- read: the session record and, in the same step, whether its owner still
-- beats and whether a payload waits. With a counter key, one step of that
-- per-session fixed-window counter (keys.rate_count_key): the count is
-- incremented and, on its first increment, given a TTL of `window` seconds;
-- it is stepped only when the caller holds the session's token, so nobody
-- else spends it. The token holder's read also records `polled_at` (now),
-- before the record is read: a poll in time keeps an `awaiting_code` session
-- from being abandoned (VF_IDLE_TIMEOUT).
-- KEYS: session, heartbeat, payload_key, counter...
--       (counter: none, or the one counter key)
-- ARGV: token_hash, window, now
-- Returns false (no record) or {fields, beating, payload, hits}. (The poll path
-- is this one script; a refusal reads the counter's TTL for Retry-After apart.)
local session = KEYS[1]
local heartbeat = KEYS[2]
local payload_key = KEYS[3]
local counter = {unpack(KEYS, 4)}
local token_hash = ARGV[1]
local window = ARGV[2]
local now = ARGV[3]

local hits = 0
if counter[1] and redis.call('HGET', session, 'token_hash') == token_hash then
  hits = redis.call('INCRBY', counter[1], 1)
  if hits == 1 then redis.call('EXPIRE', counter[1], window) end
  redis.call('HSET', session, 'polled_at', now)
end
local h = redis.call('HGETALL', session)
if #h == 0 then return false end
return {h, redis.call('EXISTS', heartbeat), redis.call('EXISTS', payload_key), hits}
