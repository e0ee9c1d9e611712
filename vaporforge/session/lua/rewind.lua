-- rewind: the relay could not hand out `next_id` (the sign-in service failed or
-- refused, a limit was hit): make `grant_id` the family's current grant again,
-- unless something else (a reuse, a revocation) changed the family meanwhile.
-- KEYS: family
-- ARGV: next_id, grant_id, ttl
-- Returns 1 when rewound, 0 otherwise.
local family = KEYS[1]
local next_id = ARGV[1]
local grant_id = ARGV[2]
local ttl = ARGV[3]

if redis.call('GET', family) ~= next_id then return 0 end
redis.call('SET', family, grant_id, 'EX', ttl)
return 1
