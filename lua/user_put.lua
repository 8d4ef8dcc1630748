#!lua
-- user_put.lua: store a user's tokens as `spotwatch user add` and `spotwatch
-- user import` give them (sealed by the CLI), in the directory, and with
-- WATCH start watching the user as `watch start` does, in one atomic step
-- (lua/lib/user_record.lua). Whether the app exists the CLI checks first,
-- and it claims the user id in the directory <p>users for the app before
-- this script (src/redis/user_dir.c: another slot in a cluster, so not
-- here). Whether the app has room for a user new to it is decided here,
-- atomically (lua/lib/user_cap.lua): a full app gives fence 0 and its
-- max_users, nothing written (the CLI then releases its claim).
--
-- Not allow-oom: over maxmemory the CLI is refused whole, and says so.
--
-- KEYS, ARGV and the reply are named in include/redis/script_contract.h
-- (USER_PUT_*).

--@include contract.lua
--@include lib/user_record.lua
--@include lib/user_cap.lua

local full = user_cap_full(KEYS[USER_PUT_KEY.APP], KEYS[USER_PUT_KEY.MEMBERS], ARGV[USER_PUT_ARG.USER])
if full > 0 then
    return user_put_reply{fence = 0, max_users = full}
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local fence = user_record_put({user = KEYS[USER_PUT_KEY.USER], members = KEYS[USER_PUT_KEY.MEMBERS],
                               due = KEYS[USER_PUT_KEY.DUE], leases = KEYS[USER_PUT_KEY.LEASES]},
                              {user = ARGV[USER_PUT_ARG.USER], app = ARGV[USER_PUT_ARG.APP],
                               access_token = ARGV[USER_PUT_ARG.ACCESS_TOKEN],
                               refresh_token = ARGV[USER_PUT_ARG.REFRESH_TOKEN],
                               lifetime_ms = ARGV[USER_PUT_ARG.LIFETIME_MS], scope = ARGV[USER_PUT_ARG.SCOPE],
                               watch = ARGV[USER_PUT_ARG.WATCH] == '1',
                               interval_ms = ARGV[USER_PUT_ARG.INTERVAL_MS],
                               due_in_ms = ARGV[USER_PUT_ARG.DUE_IN_MS], keep_due = true},
                              now)
return user_put_reply{fence = fence}
