-- read: the session record and, in the same step, whether its owner still
-- beats and whether a payload waits. With a counter key, one step of that
-- per-session fixed-window counter (keys.rate_count_key): the count is
-- incremented and, on its first increment, given a TTL of `window` seconds;
-- it is stepped only when the caller holds the session's token, so nobody
-- else spends it.
-- KEYS: session, heartbeat, payload, counter...
-- ARGV: token_hash, window
-- Returns false (no record) or {fields, beating, payload, hits}. (The poll path
-- is this one script; a refusal reads the counter's TTL for Retry-After apart.)
local session, heartbeat, payload, counter = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local token_hash, window = ARGV[1], ARGV[2]
local h = redis.call('HGETALL', session)
if #h == 0 then return false end
local hits = 0
if counter and redis.call('HGET', session, 'token_hash') == token_hash then
  hits = redis.call('INCRBY', counter, 1)
  if hits == 1 then redis.call('EXPIRE', counter, window) end
end
return {h, redis.call('EXISTS', heartbeat), redis.call('EXISTS', payload), hits}
