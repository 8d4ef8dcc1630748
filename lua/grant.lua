#!lua
-- grant.lua: permission for one more call of a job already claimed.
-- claim.lua grants a job's first call (its first two for a "refresh" job:
-- the token endpoint, then the poll). A job may need more: a poll that drew
-- 401 "The access token expired" refreshes and polls again, a poll whose
-- stored token cannot be opened refreshes first. Each such call asks here
-- just before it leaves, so no call leaves a worker while its app is
-- blocked (another worker may have recorded a 429 since the claim), and a
-- call the claim did not pay for is taken from the same budget and quota.
--
-- KEYS, ARGV and the reply are named in include/redis/script_contract.h
-- (GRANT_*); the limiter's codes are LIMIT_* there.

--@include contract.lua
--@include lib/limiter.lua

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local L = limiter_new(KEYS[GRANT_KEY.RL], KEYS[GRANT_KEY.CALLS], KEYS[GRANT_KEY.APP],
                      ARGV[GRANT_ARG.BUDGET_DEFAULT], ARGV[GRANT_ARG.QUOTA_DEFAULT], now)

local blocked_until = limiter_blocked(L)
if blocked_until then
    return grant_reply{code = LIMIT_BLOCKED, until_ms = blocked_until, now_ms = now}
end
if ARGV[GRANT_ARG.EXTRA] ~= '1' then
    return grant_reply{code = LIMIT_OK, now_ms = now}
end

local room = limiter_room(L)
if room and room < 1 then
    return grant_reply{code = LIMIT_BUDGET, until_ms = limiter_room_wake(L), now_ms = now}
end
-- The developer's quota: a call of this app's allowance, or none (the job
-- goes back in line; its next claim takes a new allowance).
local allow = limiter_allowance(L)
if allow and allow < 1 then
    return grant_reply{code = LIMIT_QUOTA, until_ms = limiter_quota_until(L) or now, now_ms = now}
end
limiter_spend(L, 1)
limiter_take(L, ARGV[GRANT_ARG.TAG])
return grant_reply{code = LIMIT_OK, now_ms = now}
