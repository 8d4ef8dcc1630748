#!lua
-- oauth_slot.lua: the serve process' share of an app's rate limit. An OAuth
-- callback makes two calls against the app's client id (the token exchange
-- and GET /me), so it takes them from the same sliding log and quota that
-- claim.lua fills, and honours the same block ("take"); a 429 it draws
-- blocks the app exactly as complete.lua does for a poll ("block").
--
-- KEYS, ARGV and the reply are named in include/redis/script_contract.h
-- (OAUTH_SLOT_*, each argument with the mode it belongs to); the limiter's
-- codes are LIMIT_* there.

--@include contract.lua
--@include lib/limiter.lua
--@include lib/guard.lua

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rl_key, calls_key, app_key = KEYS[OAUTH_SLOT_KEY.RL], KEYS[OAUTH_SLOT_KEY.CALLS], KEYS[OAUTH_SLOT_KEY.APP]

if ARGV[OAUTH_SLOT_ARG.MODE] == 'block' then
    -- The same rule as complete.lua's (the AIMD episode), counted at once.
    local stats_key = KEYS[OAUTH_SLOT_KEY.STATS]
    local L = limiter_new(rl_key, calls_key, app_key, ARGV[OAUTH_SLOT_ARG.BUDGET_DEFAULT], 0, now)
    -- The counters last, through guard_counters: a poisoned one cannot
    -- cost the block.
    local counts = {}
    local until_ms = limiter_block(L, tonumber(ARGV[OAUTH_SLOT_ARG.BLOCK_MS]), 'rate_limited',
                                   ARGV[OAUTH_SLOT_ARG.CAPPED] == '1', function(field, n)
        counts[field] = (counts[field] or 0) + n
    end)
    limiter_save(L)
    guard_counters(stats_key, counts)
    return oauth_slot_reply{code = LIMIT_OK, until_ms = until_ms, now_ms = now}
end

local want = tonumber(ARGV[OAUTH_SLOT_ARG.WANT])
local L = limiter_new(rl_key, calls_key, app_key, ARGV[OAUTH_SLOT_ARG.BUDGET_DEFAULT],
                      ARGV[OAUTH_SLOT_ARG.QUOTA_DEFAULT], now)
local blocked_until = limiter_blocked(L)
if blocked_until then
    return oauth_slot_reply{code = LIMIT_BLOCKED, until_ms = blocked_until, now_ms = now}
end

-- A budget smaller than one callback's calls still lets one through when
-- the window is empty, or the app could never connect anyone.
local room = limiter_room(L)
if room and room < math.min(want, limiter_budget(L)) then
    return oauth_slot_reply{code = LIMIT_BUDGET, until_ms = limiter_room_wake(L), now_ms = now}
end
-- The developer's quota: serve cannot ask the developer's ledger (another
-- hash tag), so a callback spends the app's allowance, or borrows what it
-- lacks from the next one (limiter_borrow), unless the quota is spent or
-- its token/me buckets are blocked (README, "Rate limits").
local allow = limiter_allowance(L)
if allow then
    local spent_until = limiter_quota_until(L) or limiter_qblocked(L, 'token') or limiter_qblocked(L, 'me')
    if spent_until then
        return oauth_slot_reply{code = LIMIT_QUOTA, until_ms = spent_until, now_ms = now}
    end
    local own = math.max(0, math.min(allow, want))
    limiter_spend(L, own)
    if want > own then limiter_borrow(L, want - own) end
end
for i = 1, want do
    limiter_take(L, ARGV[OAUTH_SLOT_ARG.TAG] .. ':' .. i)
end
return oauth_slot_reply{code = LIMIT_OK, now_ms = now}
