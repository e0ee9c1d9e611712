-- bind_warm: a session still `expect` (starting) takes the oldest of the given
-- warm entries that is still offered (its CLI shows its URL) and moves to `to`
-- (awaiting_code), owned by the entry's worker, which is told through the
-- entry's bind list. Entries are tried in the order given; each is taken out
-- of the pool, and one whose key lapsed (its worker died) is dropped.
-- KEYS: session, heartbeat, metrics, pool, entry_keys...
--       (entry_keys: for each of entry_ids in turn, its entry key then its bind key)
-- ARGV: expect, to, session_id, heartbeat_ttl, bind_ttl, metrics_ttl, entry_ids...
-- Returns {1, entry id, url} when bound, {0, '', ''} when no entry was left
-- (the caller may look again), {-1, '', ''} when the session is not `expect`.
local session = KEYS[1]
local heartbeat = KEYS[2]
local metrics = KEYS[3]
local pool = KEYS[4]
local entry_keys = {unpack(KEYS, 5)}
local expect = ARGV[1]
local to = ARGV[2]
local session_id = ARGV[3]
local heartbeat_ttl = ARGV[4]
local bind_ttl = ARGV[5]
local metrics_ttl = ARGV[6]
local entry_ids = {unpack(ARGV, 7)}

if redis.call('HGET', session, 'state') ~= expect then return {-1, '', ''} end
for i, entry_id in ipairs(entry_ids) do
  local entry, bind = entry_keys[2 * i - 1], entry_keys[2 * i]
  if redis.call('ZREM', pool, entry_id) == 1 then
    local found = redis.call('HMGET', entry, 'url', 'owner')
    redis.call('DEL', entry)
    if found[1] and found[2] then
      local url, owner = found[1], found[2]
      redis.call('HSET', session, 'state', to, 'oauth_url', url, 'owner', owner,
                 'place_id', entry_id)
      redis.call('SET', heartbeat, owner, 'EX', heartbeat_ttl)
      redis.call('RPUSH', bind, session_id)
      redis.call('EXPIRE', bind, bind_ttl)
      redis.call('HINCRBY', metrics, 'warm_bound', 1)
      redis.call('HINCRBY', metrics, 'reached:' .. to, 1)
      redis.call('EXPIRE', metrics, metrics_ttl)
      return {1, entry_id, url}
    end
  end
end
return {0, '', ''}
