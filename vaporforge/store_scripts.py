"""The store's Lua scripts: each is one atomic step in Redis.

They decide nothing about which state may follow which (the lifecycle does);
they apply a step only if the session is still as the caller saw it, and keep
every key they write under a TTL.
"""

# KEYS: session, heartbeat, payload [, counter]. ARGV (with a counter): token
# hash, counter window (s). The record and, in the same step, whether its owner
# still beats and whether a payload waits; with a counter, one step of that
# fixed-window counter (as the limits library's incr_expire), taken only when the
# caller holds the session's token, so nobody else spends it.
READ = """
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return false end
local hits = 0
if KEYS[4] and redis.call('HGET', KEYS[1], 'token_hash') == ARGV[1] then
  hits = redis.call('INCRBY', KEYS[4], 1)
  if hits == 1 then redis.call('EXPIRE', KEYS[4], ARGV[2]) end
end
return {h, redis.call('EXISTS', KEYS[2]), redis.call('EXISTS', KEYS[3]), hits}
"""

# KEYS: session, payload, live, heartbeat, code, metrics
# ARGV: 1 expected state, 2 new state, 3 terminal (0/1), 4 record grace (s),
#       5 attempt cap (0: none), 6 only while no heartbeat (0/1),
#       7 payload ('' none), 8 payload TTL, 9 item for the code list ('' none),
#       10 its TTL, 11 session id, 12 error code, 13 metrics TTL,
#       14.. field/value pairs.
# Returns {1, new} when applied, {0, current} when the state differs (or a
# heartbeat still beats), {-1, current} when the attempt cap is exceeded.
MOVE = """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= ARGV[1] then return {0, state or ''} end
if ARGV[6] == '1' and redis.call('EXISTS', KEYS[4]) == 1 then return {0, state} end
if ARGV[5] ~= '0' then
  if redis.call('HINCRBY', KEYS[1], 'attempts', 1) > tonumber(ARGV[5]) then
    return {-1, state}
  end
end
redis.call('HSET', KEYS[1], 'state', ARGV[2], unpack(ARGV, 14))
redis.call('HINCRBY', KEYS[6], 'reached:' .. ARGV[2], 1)
if ARGV[7] ~= '' then redis.call('SET', KEYS[2], ARGV[7], 'EX', ARGV[8]) end
if ARGV[3] == '1' then
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  redis.call('ZREM', KEYS[3], ARGV[11])
  redis.call('DEL', KEYS[2])
  redis.call('HINCRBY', KEYS[6], 'ended:' .. ARGV[2] .. ':' .. ARGV[12], 1)
end
redis.call('EXPIRE', KEYS[6], ARGV[13])
if ARGV[9] ~= '' then
  redis.call('RPUSH', KEYS[5], ARGV[9])
  redis.call('EXPIRE', KEYS[5], ARGV[10])
end
return {1, ARGV[2]}
"""

# KEYS: session, payload, live, metrics. ARGV: ready, claimed, now, grace,
# session id, metrics TTL.
CLAIM = """
if redis.call('HGET', KEYS[1], 'state') ~= ARGV[1] then return false end
local payload = redis.call('GETDEL', KEYS[2])
if not payload then return false end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'updated_at', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('ZREM', KEYS[3], ARGV[5])
redis.call('HINCRBY', KEYS[4], 'reached:' .. ARGV[2], 1)
redis.call('HINCRBY', KEYS[4], 'ended:' .. ARGV[2] .. ':', 1)
redis.call('EXPIRE', KEYS[4], ARGV[6])
return payload
"""

# KEYS: session, heartbeat. ARGV: owner, heartbeat TTL, the startable state.
# Never HSETNX on a vanished hash: that would recreate it without a TTL.
TAKE = """
if redis.call('HGET', KEYS[1], 'state') ~= ARGV[3] then return 0 end
if redis.call('HSETNX', KEYS[1], 'owner', ARGV[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
return 1
"""

# KEYS: session, live, workers, metrics, heartbeat.
# ARGV: 1 VF_MAX_SESSIONS, 2 now, 3 expire-at of the record, 4 session id,
#       5 metrics TTL, 6 warm pool key of the mode ('' none), 7 warm entry key
#       prefix, 8 bind key prefix, 9 heartbeat TTL, 10 awaiting_code,
#       11 bind TTL, 12.. field/value pairs.
# Admission and creation in one step, so concurrent creations cannot overshoot.
# With a warm pool key, the session takes the oldest live entry there (one whose
# CLI already shows its URL) in the same step: it is created awaiting_code and
# owned by the entry's worker, which is told through the entry's bind list.
# Entries whose key lapsed (their worker died) are dropped on the way.
# Returns 0 (refused), {1, '', ''} (created), {1, entry id, URL} (created, bound).
CREATE = """
local limit = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local workers, capacity = 0, 0
local entries = redis.call('HGETALL', KEYS[3])
for i = 1, #entries, 2 do
  local size, untl = string.match(entries[i + 1], '^(%d+):(%d+)$')
  if size and tonumber(untl) >= now then
    workers = workers + 1
    capacity = capacity + tonumber(size)
  end
end
if workers > 0 and capacity < limit then limit = capacity end
if redis.call('ZCOUNT', KEYS[2], now, '+inf') >= limit then
  redis.call('HINCRBY', KEYS[4], 'refused', 1)
  redis.call('EXPIRE', KEYS[4], ARGV[5])
  return 0
end
local bound, url, owner = '', '', ''
if ARGV[6] ~= '' then
  while true do
    local popped = redis.call('ZPOPMIN', ARGV[6])
    if #popped == 0 then break end
    local entry = ARGV[7] .. popped[1]
    local found = redis.call('HMGET', entry, 'url', 'owner')
    redis.call('DEL', entry)
    if found[1] and found[2] then
      bound, url, owner = popped[1], found[1], found[2]
      break
    end
  end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 12))
redis.call('HINCRBY', KEYS[4], 'created', 1)
if bound ~= '' then
  redis.call('HSET', KEYS[1], 'state', ARGV[10], 'oauth_url', url, 'owner', owner,
             'place_id', bound)
  redis.call('SET', KEYS[5], owner, 'EX', ARGV[9])
  redis.call('RPUSH', ARGV[8] .. bound, ARGV[4])
  redis.call('EXPIRE', ARGV[8] .. bound, ARGV[11])
  redis.call('HINCRBY', KEYS[4], 'warm_bound', 1)
  redis.call('HINCRBY', KEYS[4], 'reached:' .. ARGV[10], 1)
end
redis.call('EXPIRE', KEYS[4], ARGV[5])
redis.call('EXPIREAT', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('EXPIREAT', KEYS[2], ARGV[3], 'GT')
redis.call('EXPIREAT', KEYS[2], ARGV[3], 'NX')
return {1, bound, url}
"""

# KEYS: warm pool of the mode, the entry. Withdraw an entry nobody bound yet:
# 1 when withdrawn, 0 when a session took it first (its bind list says which).
WITHDRAW = """
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return removed
"""
