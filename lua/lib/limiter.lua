-- lib/limiter.lua: the limiter's arithmetic shared by the scripts that feed
-- it (spliced in at build time where a script says --@include; Redis
-- scripts cannot load modules).

-- log_keep_ms: how long a granted call stays in the sliding log: the app's
-- window plus a guard (1 %, at least 250 ms), because we log a call when it
-- is granted and Spotify counts it when it arrives (claim.lua's header).
local function log_keep_ms(window_ms)
    return window_ms + math.max(250, math.floor(window_ms / 100))
end

-- aimd_decrease: the effective budget and ceiling after a 429 (the rule is
-- in complete.lua's header). first: the app was not blocked yet, so this
-- 429 opens an episode; the calls in the window are then counted from the
-- log. Returns the new effective budget and ceiling (nil: none learned).
local function aimd_decrease(eff, ceiling, first, calls_key, window_ms, now)
    if first then
        redis.call('ZREMRANGEBYSCORE', calls_key, '-inf', now - log_keep_ms(window_ms))
        local used = redis.call('ZCARD', calls_key)
        ceiling = math.max(used - 1, math.floor(eff / 2))
        eff = math.floor(eff / 2)
    elseif ceiling then
        ceiling = ceiling - 1
    end
    if ceiling then
        ceiling = math.max(1, ceiling)
        eff = math.min(eff, ceiling - 1)
    end
    return math.max(1, math.floor(eff)), ceiling
end
