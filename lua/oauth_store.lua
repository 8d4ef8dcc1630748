#!lua flags=allow-oom
-- oauth_store.lua: store the tokens of a finished OAuth login on exactly the
-- user its state named, record which Spotify account that user is, and start
-- watching them, in one atomic step (or change nothing).
--
-- flags=allow-oom: runs even when Redis is over maxmemory (the other scripts
-- are refused then): the authorization code is spent, its tokens exist
-- nowhere else.
--
-- KEYS[1] <p>{<app>}:user:<u>  HASH the user
-- KEYS[2] <p>{<app>}:accounts  HASH Spotify account id -> user id
-- KEYS[3] <p>{<app>}:due       ZSET user -> next poll (ms)
-- KEYS[4] <p>{<app>}:leases    ZSET user -> lease expiry (ms)
-- ARGV[1] user
-- ARGV[2] app
-- ARGV[3] Spotify account id
-- ARGV[4] Spotify display name ("" when none)
-- ARGV[5] access token (sealed)
-- ARGV[6] refresh token (sealed)
-- ARGV[7] lifetime of the access token (ms; expiry is set on Redis' clock)
-- ARGV[8] granted scope
-- ARGV[9] duplicate-account policy: "refuse" or "allow"
--
-- Returns {code, other_user}:
--   {0, other}  refused: the account is connected to user `other`; nothing written
--   {1, ""}     stored
--   {2, other}  stored although the account is also connected to `other` (allow)

local user_key, accounts_key, due_key, lease_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local user, account = ARGV[1], ARGV[3]

local other = redis.call('HGET', accounts_key, account)
local dup = other and other ~= user
if dup and ARGV[9] ~= 'allow' then
    return {0, other}
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- A user who switches Spotify accounts: forget the old account's mapping
-- (if it is still ours) and the playback seen on it.
local old = redis.call('HGET', user_key, 'spotify_id')
if old and old ~= account then
    if redis.call('HGET', accounts_key, old) == user then
        redis.call('HDEL', accounts_key, old)
    end
    redis.call('HDEL', user_key, 'state')
end

redis.call('HSET', user_key, 'app', ARGV[2], 'status', 'active', 'reason', '',
           'access_token', ARGV[5], 'refresh_token', ARGV[6],
           'expires_at', now + tonumber(ARGV[7]), 'scope', ARGV[8], 'authorized_at', now,
           'spotify_id', account, 'display_name', ARGV[4], 'fails', 0, 'idle', 0)
redis.call('HDEL', user_key, 'refresh_until', 'refresh_fence')
-- A poll in flight with the old tokens must not write back over these (its
-- completion compares fences), e.g. marking the user reauth_required.
redis.call('HINCRBY', user_key, 'fence', 1)
redis.call('HSET', accounts_key, account, user)

-- Due now, or when a lease held by a poll in flight lapses (claim.lua puts it
-- back then), so two polls of one user never overlap.
local at = now
local lease = tonumber(redis.call('ZSCORE', lease_key, user) or '0') or 0
if lease > at then at = lease end
redis.call('ZADD', due_key, at, user)

if dup then
    return {2, other}
end
return {1, ''}
