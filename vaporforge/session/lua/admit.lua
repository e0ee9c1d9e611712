-- admit: may this grant be relayed? One step checks the store's epoch, the
-- user's revocations and the grant's family, and on success makes `next_id`
-- the family's current grant (RFC 9700 §4.14: a refresh token used twice means
-- a copy exists). Times are the store's clock (TIME), in milliseconds.
-- KEYS: epoch, revoked, family
-- ARGV: issued_ms, session_id, grant_id, next_id, ttl
-- Returns {'revoked', why} (why: epoch, user, login, family), {'reused', ''}
-- (the family is revoked in the same step), or {'admitted', now_ms, started}
-- where started is '1' when the family had no record (a new or a lost one).
local epoch = KEYS[1]
local revoked = KEYS[2]
local family = KEYS[3]
local issued_ms = tonumber(ARGV[1])
local session_id = ARGV[2]
local grant_id = ARGV[3]
local next_id = ARGV[4]
local ttl = ARGV[5]

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- No epoch: the store is new, or lost what it held. Grants older than this
-- moment may have been revoked in what was lost, so they are refused.
local began = redis.call('GET', epoch)
if not began then
  redis.call('SET', epoch, now, 'EX', ttl)
  began = now
else
  redis.call('EXPIRE', epoch, ttl)
end
if issued_ms < tonumber(began) then return {'revoked', 'epoch'} end
local all = redis.call('HGET', revoked, '*')
if all and issued_ms <= tonumber(all) then return {'revoked', 'user'} end
if session_id ~= '' then
  local one = redis.call('HGET', revoked, 'sid:' .. session_id)
  if one and issued_ms <= tonumber(one) then return {'revoked', 'login'} end
end
local current = redis.call('GET', family)
if current == '!revoked' then return {'revoked', 'family'} end
if current and current ~= grant_id then
  redis.call('SET', family, '!revoked', 'EX', ttl)
  return {'reused', ''}
end
redis.call('SET', family, next_id, 'EX', ttl)
if current then return {'admitted', now, '0'} end
return {'admitted', now, '1'}
