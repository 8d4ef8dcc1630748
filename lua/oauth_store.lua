#!lua flags=allow-oom
-- oauth_store.lua: store the tokens of a finished OAuth login on exactly the
-- user its state named, record which Spotify account that user is, and start
-- watching them, in one atomic step (or change nothing). The user's record
-- is written by lua/lib/user_record.lua, as `user add` writes it.
--
-- flags=allow-oom: runs even when Redis is over maxmemory (the other scripts
-- are refused then): the authorization code is spent, its tokens exist
-- nowhere else.
--
-- KEYS, ARGV and the reply are named in include/redis/script_contract.h
-- (OAUTH_STORE_*). The reply: stored 0 when the account is connected to
-- another user (other_user) and DUP_POLICY is "refuse" (nothing written);
-- stored 1 otherwise, other_user naming the other user when DUP_POLICY
-- "allow" let the account be connected to two. The user id is claimed in
-- the directory <p>users for the app by serve before this script
-- (src/redis/user_dir.c: another slot in a cluster). stored 0 with max_users
-- set when the app is full and the user is new to it (lua/lib/user_cap.lua;
-- nothing written).

--@include contract.lua
--@include lib/user_record.lua
--@include lib/user_cap.lua

local user_key, accounts_key = KEYS[OAUTH_STORE_KEY.USER], KEYS[OAUTH_STORE_KEY.ACCOUNTS]
local user, account = ARGV[OAUTH_STORE_ARG.USER], ARGV[OAUTH_STORE_ARG.ACCOUNT]

local other = redis.call('HGET', accounts_key, account)
local dup = other and other ~= user
if dup and ARGV[OAUTH_STORE_ARG.DUP_POLICY] ~= 'allow' then
    return oauth_store_reply{stored = 0, other_user = other}
end

local full = user_cap_full(KEYS[OAUTH_STORE_KEY.APP], KEYS[OAUTH_STORE_KEY.MEMBERS], user)
if full > 0 then
    return oauth_store_reply{stored = 0, max_users = full}
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local old = redis.call('HGET', user_key, 'spotify_id')

-- Due now, or when a lease held by a poll in flight lapses.
user_record_put({user = user_key, members = KEYS[OAUTH_STORE_KEY.MEMBERS], due = KEYS[OAUTH_STORE_KEY.DUE],
                 leases = KEYS[OAUTH_STORE_KEY.LEASES]},
                {user = user, app = ARGV[OAUTH_STORE_ARG.APP],
                 access_token = ARGV[OAUTH_STORE_ARG.ACCESS_TOKEN],
                 refresh_token = ARGV[OAUTH_STORE_ARG.REFRESH_TOKEN],
                 lifetime_ms = ARGV[OAUTH_STORE_ARG.LIFETIME_MS], scope = ARGV[OAUTH_STORE_ARG.SCOPE],
                 set = {'spotify_id', account, 'display_name', ARGV[OAUTH_STORE_ARG.DISPLAY_NAME]},
                 watch = true, due_in_ms = 0},
                now)

-- A user who switches Spotify accounts: forget the old account's mapping
-- (if it is still ours) and the playback seen on it.
if old and old ~= account then
    if redis.call('HGET', accounts_key, old) == user then
        redis.call('HDEL', accounts_key, old)
    end
    redis.call('HDEL', user_key, 'state')
end
redis.call('HSET', accounts_key, account, user)

return oauth_store_reply{stored = 1, other_user = dup and other or ''}
