#!lua flags=allow-oom
-- token_store.lua: store a refreshed token pair with a compare-and-set on the
-- refresh token that was used, so two racing refreshes can never leave a dead
-- refresh token stored.
--
-- flags=allow-oom: runs even when Redis is over maxmemory (the other scripts
-- are refused then): Spotify may have rotated the refresh token, and the new
-- one exists nowhere else.
--
-- KEYS, ARGV and the reply are named in include/redis/script_contract.h
-- (TOKEN_STORE_*), with the answer codes TOKEN_STORE_*: STORED, LOST when
-- the stored refresh token is no longer the one used (another refresh won:
-- its tokens stay), GONE when the user is gone.

--@include contract.lua
--@include lib/user_record.lua

local K, A = TOKEN_STORE_KEY, TOKEN_STORE_ARG
local key = KEYS[K.USER]
if redis.call('EXISTS', key) == 0 then
    return token_store_reply{code = TOKEN_STORE_GONE}
end
if redis.call('HGET', key, 'refresh_token') ~= ARGV[A.REFRESH_TOKEN_USED] then
    return token_store_reply{code = TOKEN_STORE_LOST}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- The pair is written by the one writer of user records (lib/user_record.lua),
-- without a fence bump: this refresh holds the user's lease with the current
-- fence, and its poll follows.
local new_rt = ARGV[A.REFRESH_TOKEN]
local del = {}
local set = user_record_tokens({access_token = ARGV[A.ACCESS_TOKEN], lifetime_ms = ARGV[A.LIFETIME_MS],
                                refresh_token = new_rt ~= '' and new_rt or nil,
                                scope = ARGV[A.SCOPE] ~= '' and ARGV[A.SCOPE] or nil},
                               now, {'refreshed_at', now}, del)
redis.call('HSET', key, unpack(set))
if #del > 0 then
    redis.call('HDEL', key, unpack(del))   -- the base scope: absent
end
-- The counters cannot fail after the pair was written (the lock below must
-- still be released): a malformed one restarts at 1.
local function bump(f)
    local r = redis.pcall('HINCRBY', key, f, 1)
    if type(r) == 'table' and r.err then
        redis.call('HSET', key, f, 1)
    end
end
if new_rt ~= '' and ARGV[A.RESEALED] ~= '1' then
    bump('rotations')
end
bump('refreshes')
if redis.call('HGET', key, 'refresh_fence') == ARGV[A.FENCE] then
    redis.call('HDEL', key, 'refresh_until', 'refresh_fence')
end
return token_store_reply{code = TOKEN_STORE_STORED}
