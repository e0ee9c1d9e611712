-- take: `owner` takes the session if it is still `expect` and nobody owns it;
-- its first heartbeat is written in the same step. The state becomes `to`
-- (the table keeps a taken session starting until its URL shows).
-- Never HSETNX on a vanished hash: that would recreate it without a TTL.
-- KEYS: session, heartbeat
-- ARGV: expect, to, owner, heartbeat_ttl
-- Returns 1 when taken, 0 otherwise.
local session = KEYS[1]
local heartbeat = KEYS[2]
local expect = ARGV[1]
local to = ARGV[2]
local owner = ARGV[3]
local heartbeat_ttl = ARGV[4]

if redis.call('HGET', session, 'state') ~= expect then return 0 end
if redis.call('HSETNX', session, 'owner', owner) == 0 then return 0 end
if to ~= expect then redis.call('HSET', session, 'state', to) end
redis.call('SET', heartbeat, owner, 'EX', heartbeat_ttl)
return 1
