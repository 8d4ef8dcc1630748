#!lua
-- refresh_begin.lua: a poll got 401 "The access token expired": take the
-- user's refresh lock (single flight across every worker), unless another
-- worker holds it or has already stored a newer access token.
--
-- KEYS[1] <p>{<app>}:user:<u> HASH the user
-- ARGV[1] fence of the claim
-- ARGV[2] the access token (sealed, exactly as read) that drew the 401
-- ARGV[3] lock length (ms): a dead worker's lock lapses by itself
--
-- Returns one of:
--   {1, refresh_token}         the lock is ours: refresh with this token
--   {2, access_token, expiry}  a newer access token is stored: poll with it
--   {0, wait_until_ms}         another worker is refreshing: retry after it
--   {-1}                       the fence is stale (our lease is gone)

local key = KEYS[1]
local h = redis.call('HMGET', key, 'fence', 'access_token', 'expires_at', 'refresh_token',
                     'refresh_until')
if h[1] ~= ARGV[1] then
    return {-1}
end
if h[2] and h[2] ~= ARGV[2] then
    return {2, h[2], h[3] or '0'}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = tonumber(h[5] or '0') or 0
if until_ms > now then
    return {0, until_ms}
end
redis.call('HSET', key, 'refresh_until', now + tonumber(ARGV[3]), 'refresh_fence', ARGV[1])
return {1, h[4] or ''}
