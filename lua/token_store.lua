#!lua flags=allow-oom
-- token_store.lua: store a refreshed token pair with a compare-and-set on the
-- refresh token that was used, so two racing refreshes can never leave a dead
-- refresh token stored.
--
-- flags=allow-oom: runs even when Redis is over maxmemory (the other scripts
-- are refused then): Spotify may have rotated the refresh token, and the new
-- one exists nowhere else.
--
-- KEYS[1] <p>{<app>}:user:<u> HASH the user
-- ARGV[1] fence of the claim that refreshed
-- ARGV[2] the refresh token (sealed, exactly as read) the refresh used
-- ARGV[3] new access token (sealed)
-- ARGV[4] lifetime of the new access token (ms; expiry is set on Redis' clock)
-- ARGV[5] new refresh token (sealed); "" keeps the stored one (Spotify's
--         usual answer has none)
-- ARGV[6] granted scope ("" keeps the stored one)
-- ARGV[7] "1" when ARGV[5] is the same refresh token re-sealed under the
--         current key (a key rotation), not a new one from Spotify
--
-- Returns 1 when stored, 0 when the stored refresh token is no longer the
-- one used (another refresh won: its tokens stay), -1 when the user is gone.

local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then
    return -1
end
if redis.call('HGET', key, 'refresh_token') ~= ARGV[2] then
    return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', key, 'access_token', ARGV[3], 'expires_at', now + tonumber(ARGV[4]),
           'refreshed_at', now)
if ARGV[5] ~= '' then
    redis.call('HSET', key, 'refresh_token', ARGV[5])
    if ARGV[7] ~= '1' then
        redis.call('HINCRBY', key, 'rotations', 1)
    end
end
if ARGV[6] ~= '' then
    redis.call('HSET', key, 'scope', ARGV[6])
end
redis.call('HINCRBY', key, 'refreshes', 1)
if redis.call('HGET', key, 'refresh_fence') == ARGV[1] then
    redis.call('HDEL', key, 'refresh_until', 'refresh_fence')
end
return 1
