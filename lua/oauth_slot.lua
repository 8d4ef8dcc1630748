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
local WINDOW_MS = 30000
local HOUR_MS = 3600000

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

if ARGV[1] == 'block' then
    local until_ms = now + tonumber(ARGV[2])
    local old = tonumber(redis.call('HGET', rl_key, 'blocked_until') or '0') or 0
    if until_ms > old then
        redis.call('HSET', rl_key, 'blocked_until', until_ms, 'block_reason', 'rate_limited',
                   'blocked_at', now)
    else
        until_ms = old
    end
    if ARGV[3] == '1' then
        redis.call('HSET', rl_key, 'retry_after_capped_at', now)
    end
    redis.call('HINCRBY', stats_key, 'blocks_rate_limited', 1)
    redis.call('HINCRBY', stats_key, 'r429', 1)
    -- Multiplicative decrease with complete.lua's episode rule (see its
    -- header): the first 429 of an episode halves the effective budget and
    -- caps it below what the window held; each further 429 of the same
    -- episode (a call already in flight) lowers that ceiling by one.
    local app = redis.call('HMGET', app_key, 'budget_30s', 'window_ms')
    local budget = tonumber(app[1] or '') or tonumber(ARGV[4] or '') or 0
    if budget > 0 then
        local rl = redis.call('HMGET', rl_key, 'budget_eff', 'budget_ceiling')
        local eff, ceiling = aimd_decrease(tonumber(rl[1] or '') or budget, tonumber(rl[2] or ''), old <= now,
                                           calls_key, tonumber(app[2] or '') or WINDOW_MS, now)
        if ceiling then
            redis.call('HSET', rl_key, 'budget_ceiling', ceiling)
        end
        redis.call('HSET', rl_key, 'budget_eff', eff)
    end
    return {0, until_ms, now}
end

local want = tonumber(ARGV[2])
local blocked_until = tonumber(redis.call('HGET', rl_key, 'blocked_until') or '0') or 0
if blocked_until > now then
    return {1, blocked_until, now}
end

local app = redis.call('HMGET', app_key, 'budget_30s', 'quota_24h', 'mode', 'window_ms')
local window_ms = tonumber(app[4] or '') or WINDOW_MS   -- the app's window, as claim.lua
window_ms = log_keep_ms(window_ms)   -- and its guard
local budget = tonumber(app[1] or '') or tonumber(ARGV[3])
local quota = tonumber(app[2] or '') or tonumber(ARGV[4])
if app[3] ~= 'development' then quota = 0 end
local eff = tonumber(redis.call('HGET', rl_key, 'budget_eff') or '')
if budget > 0 and eff and eff < budget then budget = math.max(1, math.floor(eff)) end

if budget > 0 then
    -- A budget smaller than one callback's calls still lets one through
    -- when the window is empty, or the app could never connect anyone.
    local need = math.min(want, budget)
    redis.call('ZREMRANGEBYSCORE', calls_key, '-inf', now - window_ms)
    local used = redis.call('ZCARD', calls_key)
    if budget - used < need then
        local oldest = redis.call('ZRANGE', calls_key, 0, 0, 'WITHSCORES')
        return {2, tonumber(oldest[2]) + window_ms + 1, now}
    end
end

local hour = math.floor(now / HOUR_MS)
if quota > 0 then
    local fields = {}
    for i = 0, 23 do fields[#fields + 1] = 'q' .. (hour - i) end
    local counts = redis.call('HMGET', rl_key, unpack(fields))
    local used = 0
    local oldest_hour = nil
    for i = 24, 1, -1 do
        local c = tonumber(counts[i] or '0') or 0
        if c > 0 and oldest_hour == nil then oldest_hour = hour - (i - 1) end
        used = used + c
    end
    if used + want > quota then
        return {3, ((oldest_hour or hour) + 24) * HOUR_MS, now}
    end
    redis.call('HINCRBY', rl_key, 'q' .. hour, want)
end

if budget > 0 then
    for i = 1, want do
        redis.call('ZADD', calls_key, now, now .. ':' .. ARGV[5] .. ':' .. i)
    end
end
return {0, 0, now}
