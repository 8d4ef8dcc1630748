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

local rl_key, calls_key, app_key = KEYS[GRANT_KEY.RL], KEYS[GRANT_KEY.CALLS], KEYS[GRANT_KEY.APP]
local HOUR_MS = 3600000

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local rl = redis.call('HMGET', rl_key, 'blocked_until', 'budget_eff')
local blocked_until = tonumber(rl[1] or '0') or 0
if blocked_until > now then
    return grant_reply{code = LIMIT_BLOCKED, until_ms = blocked_until, now_ms = now}
end
if ARGV[GRANT_ARG.EXTRA] ~= '1' then
    return grant_reply{code = LIMIT_OK, now_ms = now}
end

local app = redis.call('HMGET', app_key, 'budget_30s', 'quota_24h', 'mode', 'window_ms')
local budget = tonumber(app[1] or '') or tonumber(ARGV[GRANT_ARG.BUDGET_DEFAULT])
local quota = tonumber(app[2] or '') or tonumber(ARGV[GRANT_ARG.QUOTA_DEFAULT])
if app[3] ~= 'development' then quota = 0 end
local window_ms = tonumber(app[4] or '') or 30000
local keep_ms = log_keep_ms(window_ms)
local eff = tonumber(rl[2] or '')
if budget > 0 and eff and eff < budget then budget = math.max(1, math.floor(eff)) end

if budget > 0 then
    redis.call('ZREMRANGEBYSCORE', calls_key, '-inf', now - keep_ms)
    if redis.call('ZCARD', calls_key) >= budget then
        local oldest = redis.call('ZRANGE', calls_key, 0, 0, 'WITHSCORES')
        return grant_reply{code = LIMIT_BUDGET, until_ms = tonumber(oldest[2]) + keep_ms + 1, now_ms = now}
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
    if used >= quota then
        return grant_reply{code = LIMIT_QUOTA, until_ms = ((oldest_hour or hour) + 24) * HOUR_MS, now_ms = now}
    end
    redis.call('HINCRBY', rl_key, 'q' .. hour, 1)
end

if budget > 0 then
    redis.call('ZADD', calls_key, now, now .. ':' .. ARGV[GRANT_ARG.TAG])
end
return grant_reply{code = LIMIT_OK, now_ms = now}
