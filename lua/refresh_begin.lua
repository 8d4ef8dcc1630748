#!lua
-- refresh_begin.lua: a poll got 401 "The access token expired" (or its
-- stored token cannot be used): take the user's refresh lock (single flight
-- across every worker), unless another worker holds it or has already stored
-- a newer access token.
--
-- KEYS, ARGV and the reply are named in include/redis/script_contract.h
-- (REFRESH_BEGIN_*), with the answer codes REFRESH_BEGIN_*: LOCKED with the
-- refresh token to use, NEWER with the access token to poll with, WAIT while
-- another worker's lock runs, STALE when our lease is gone.

--@include contract.lua

local K, A = REFRESH_BEGIN_KEY, REFRESH_BEGIN_ARG
local key, fence = KEYS[K.USER], ARGV[A.FENCE]
local h = redis.call('HMGET', key, 'fence', 'access_token', 'refresh_token', 'refresh_until')
local stored_fence, access_token, refresh_token, refresh_until = h[1], h[2], h[3], h[4]
if stored_fence ~= fence then
    return refresh_begin_reply{code = REFRESH_BEGIN_STALE}
end
if access_token and access_token ~= ARGV[A.ACCESS_TOKEN] then
    return refresh_begin_reply{code = REFRESH_BEGIN_NEWER, access_token = access_token}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- A lock further out than ten lock lengths (1e999, say) is stale: taken
-- over, so no field can park the user (claim.lua sets such a user aside).
local lock_ms = tonumber(ARGV[A.LOCK_MS])
local until_ms = tonumber(refresh_until or '0') or 0
if until_ms > now and until_ms <= now + 10 * lock_ms then
    return refresh_begin_reply{code = REFRESH_BEGIN_WAIT}
end
redis.call('HSET', key, 'refresh_until', now + lock_ms, 'refresh_fence', fence)
return refresh_begin_reply{code = REFRESH_BEGIN_LOCKED, refresh_token = refresh_token}
