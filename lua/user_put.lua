#!lua
-- user_put.lua: store a user's tokens as `spotwatch user add` and `spotwatch
-- user import` give them (sealed by the CLI), in the directory, and with
-- WATCH start watching the user as `watch start` does, in one atomic step
-- (lua/lib/user_record.lua). Whether the app exists the CLI checks first;
-- whether the user id belongs to another app is decided here, atomically:
-- the loser gets fence 0 and the owning app, and nothing is written. So is
-- whether the app has room for a user new to it (lua/lib/user_cap.lua): a
-- full app gives fence 0 and its max_users, nothing written.
--
-- Not allow-oom: over maxmemory the CLI is refused whole, and says so.
--
-- KEYS, ARGV and the reply are named in include/redis/script_contract.h
-- (USER_PUT_*).

--@include contract.lua
--@include lib/user_record.lua
--@include lib/user_cap.lua

local full = user_cap_full(KEYS[USER_PUT_KEY.APP], KEYS[USER_PUT_KEY.USERS], ARGV[USER_PUT_ARG.APP],
                           ARGV[USER_PUT_ARG.USER])
if full > 0 then
    return user_put_reply{fence = 0, max_users = full}
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local fence, owner = user_record_put({user = KEYS[USER_PUT_KEY.USER], users = KEYS[USER_PUT_KEY.USERS],
                               due = KEYS[USER_PUT_KEY.DUE], leases = KEYS[USER_PUT_KEY.LEASES]},
                              {user = ARGV[USER_PUT_ARG.USER], app = ARGV[USER_PUT_ARG.APP],
                               access_token = ARGV[USER_PUT_ARG.ACCESS_TOKEN],
                               refresh_token = ARGV[USER_PUT_ARG.REFRESH_TOKEN],
                               lifetime_ms = ARGV[USER_PUT_ARG.LIFETIME_MS], scope = ARGV[USER_PUT_ARG.SCOPE],
                               watch = ARGV[USER_PUT_ARG.WATCH] == '1',
                               interval_ms = ARGV[USER_PUT_ARG.INTERVAL_MS],
                               due_in_ms = ARGV[USER_PUT_ARG.DUE_IN_MS], keep_due = true},
                              now)
if fence == nil then
    return user_put_reply{fence = 0, owner = owner}
end
return user_put_reply{fence = fence}
