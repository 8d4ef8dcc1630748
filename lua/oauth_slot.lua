#!lua
-- oauth_slot.lua: the serve process' share of an app's rate limit. An OAuth
-- callback makes two calls against the app's client id (the token exchange
-- and GET /me), so it takes them from the same sliding log and quota that
-- claim.lua fills, and honours the same block; a 429 it draws blocks the app
-- exactly as complete.lua does for a poll.
--
-- KEYS[1] <p>{<app>}:rl     HASH limiter state (blocked_until, budget_eff, q<hour>, ...)
-- KEYS[2] <p>{<app>}:calls  ZSET the calls granted in the last 30 s (sliding log)
-- KEYS[3] <p>{<app>}:app    HASH the app (budget_30s, quota_24h, mode)
-- KEYS[4] <p>{<app>}:stats  HASH the app's counters
-- ARGV[1] "take" or "block"
-- take:
--   ARGV[2] calls to take
--   ARGV[3] default budget per 30 s (0 = unlimited), when the app sets none
--   ARGV[4] default 24 h quota for development-mode apps (0 = none)
--   ARGV[5] a unique tag for the log entries ("oauth:<nonce>")
-- block (the token endpoint or /me answered 429):
--   ARGV[2] block for this many ms; never shortens a block
--   ARGV[3] 1 if the Retry-After was capped, else 0
--   ARGV[4] default budget per 30 s (0 = unlimited), when the app sets none
--
-- Returns {code, until_ms, now_ms}:
--   code 0: take: the calls are granted (until_ms 0); block: done (until_ms = blocked_until)
--   code 1: the app is blocked by a 429 until until_ms
--   code 2: the 30 s budget is spent until until_ms
--   code 3: the 24 h quota is spent until until_ms

--@include lib/limiter.lua

local rl_key, calls_key, app_key, stats_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

if ARGV[1] == 'block' then
    -- The same rule as complete.lua's (the AIMD episode), counted at once.
    local L = limiter_new(rl_key, calls_key, app_key, ARGV[4], 0, now)
    local until_ms = limiter_block(L, tonumber(ARGV[2]), 'rate_limited', ARGV[3] == '1', function(field, n)
        redis.call('HINCRBY', stats_key, field, n)
    end)
    limiter_save(L)
    return {0, until_ms, now}
end

local want = tonumber(ARGV[2])
local L = limiter_new(rl_key, calls_key, app_key, ARGV[3], ARGV[4], now)
local blocked_until = limiter_blocked(L)
if blocked_until then
    return {1, blocked_until, now}
end

-- A budget smaller than one callback's calls still lets one through when
-- the window is empty, or the app could never connect anyone.
local room = limiter_room(L)
if room and room < math.min(want, limiter_budget(L)) then
    return {2, limiter_room_wake(L), now}
end
local quota_left, _, quota_wake = limiter_quota(L)
if quota_left and quota_left < want then
    return {3, quota_wake, now}
end
limiter_count(L, want)
for i = 1, want do
    limiter_take(L, ARGV[5] .. ':' .. i)
end
return {0, 0, now}
