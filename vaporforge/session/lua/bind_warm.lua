-- bind_warm: a session still `expect` (starting) takes the oldest of the given
-- warm entries that is still offered (its CLI shows its URL) and moves to `to`
-- (awaiting_code), owned by the entry's worker, which is told through the
-- entry's bind list. Entries are tried in the order given; each is taken out
-- of the pool, and one whose key lapsed (its worker died) is dropped.
-- KEYS: session, heartbeat, metrics, pool, candidates...
--       (candidates: per entry, its entry key then its bind key)
-- ARGV: expect, to, session_id, heartbeat_ttl, bind_ttl, metrics_ttl, entry_ids...
-- Returns {1, entry id, url} when bound, {0, '', ''} when no candidate was left
-- (the caller may look again), {-1, '', ''} when the session is not `expect`.
local session, heartbeat, metrics, pool = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local CANDIDATES = 5
local expect, to, session_id = ARGV[1], ARGV[2], ARGV[3]
local heartbeat_ttl, bind_ttl, metrics_ttl = ARGV[4], ARGV[5], ARGV[6]
local ENTRY_IDS = 7

if redis.call('HGET', session, 'state') ~= expect then return {-1, '', ''} end
for i = ENTRY_IDS, #ARGV do
  local entry_id = ARGV[i]
  local slot = CANDIDATES + 2 * (i - ENTRY_IDS)
  local entry, bind = KEYS[slot], KEYS[slot + 1]
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
