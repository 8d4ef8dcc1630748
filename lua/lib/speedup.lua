-- lib/speedup.lua: the app's speed-up, the share of its budget smart polling
-- may spend on its playing users (README "Smart polling", "Spending the
-- budget"). Used by claim.lua, after lib/limiter.lua (it reads the limiter's
-- load and keeps its state in the limiter's hash).
--
-- State, in <p>{<app>}:rl: speed (a number in [0, 1]: 0 polls a playing user
-- every playing-max-ms, 1 every poll-interval-ms; the worker maps it between
-- the two, geometrically: src/worker/decide.c decide_playing_ms) and
-- speed_at (ms: when speed was last updated). Absent: speed 0, smart polling as
-- it always was; malformed: reset (repaired_speed, repaired_speed_at).
--
-- The rule (an integral controller with a dead band): use is the calls in
-- the window over the budget enforced now (lib/limiter.lua), err =
-- ln(target / use). While |err| <= SPEEDUP_BAND (use within about 10 % of
-- the target) speed stays where it is; outside, ln(interval) moves by
-- SPEEDUP_LN_RATE x err per second (err capped to [-1, SPEEDUP_UP_CAP]), on
-- Redis' clock, whichever worker claims; in speed that is SPEEDUP_LN_RATE /
-- span per second, span = ln(playing-max-ms / poll-interval-ms), the
-- worker's. The caps only bound the rate far from the target (an app at 5 %
-- of its budget reaches full speed in about 15 s); near it, where the loop
-- either settles or swings, the rate is the error's.
-- Why this and not use -> interval directly: a playing user's calls are
-- proportional to 1 / interval, so a static map from use to interval has a
-- loop gain of span x use / (the map's band), about 6 for a band of 0.25,
-- around a loop delayed by the window (half of it) plus an interval: it
-- swings between fast and slow (a model of the loop: use swinging 0.38-0.88
-- for a band of 0.7-0.8). The integrator's gain (SPEEDUP_LN_RATE, in
-- ln(calls) per second) times that delay (about 20 s) is 1.0, under the
-- pi/2 beyond which an integrator behind a delay oscillates; the dead band
-- stops what ringing is left. Because ln(calls) is linear in speed (the map
-- is geometric), that gain is the same for 10 users or 10,000, and for any
-- span. A window over its target slows the app down at once; a full one
-- (SPEEDUP_FULL) at the full rate, since the calls the limiter refused are
-- not in it and the demand may be anywhere above (a model of the loop: a
-- surge of 4x the playing users is absorbed in 28 s instead of 75). The
-- limiter still refuses any call beyond the budget, so the speed-up never
-- costs a 429: at worst schedule lag, while it slows down.

local SPEEDUP_LN_RATE = 0.05     -- ln(interval) per s per unit of err: 15 s -> 2 s in 40 s at err 1
local SPEEDUP_UP_CAP = 3         -- the largest err counted: 15 s -> 2 s in about 13 s
local SPEEDUP_BAND = 0.1         -- the dead band, in ln(use / target): use within ~0.9-1.1 x target
local SPEEDUP_DT_MAX = 1000      -- ms: the longest step taken at once (claims come every <= 1 s)
local SPEEDUP_USE_MIN = 0.01     -- an empty window reads as 1 % (ln 0 is -inf)
local SPEEDUP_FULL = 0.95        -- a window this full slows down at the full rate

-- speedup_update(L, target_pct, span, used, budget): the app's speed after
-- this claim, in permille, moved as the rule says and saved when it moved;
-- -1 when there is nothing to aim at (target_pct 0: the speed-up is off;
-- span <= 0: the worker has nothing to speed up; budget 0: the app's budget
-- is unlimited, so its room is unknown).
local function speedup_update(L, target_pct, span, used, budget)
    if not target_pct or target_pct <= 0 or not span or span <= 0 or not budget or budget <= 0 then
        return -1
    end
    local r = redis.call('HMGET', L.rl_key, 'speed', 'speed_at')
    local speed, at = limiter_num(r[1]), limiter_num(r[2], true)
    -- Malformed: reset, logged and counted (repaired_<field>) as the
    -- limiter's own fields are.
    if speed == false or (speed and speed > 1) then
        limiter_repair(L, 'speed', nil)
        speed = nil
    end
    if at == false then
        limiter_repair(L, 'speed_at', nil)
        at = nil
    end
    if not speed or not at or at > L.now then
        -- Absent, or from a clock ahead of this one: start from here
        -- (speed kept when it reads well).
        speed = speed or 0
        redis.call('HSET', L.rl_key, 'speed', tostring(speed), 'speed_at', string.format('%d', L.now))
        return math.floor(speed * 1000 + 0.5)
    end
    local use = math.max(used / budget, SPEEDUP_USE_MIN)
    local err = math.log(target_pct / 100 / use)
    if use >= SPEEDUP_FULL then err = -1 end
    if math.abs(err) > SPEEDUP_BAND then
        local dt = math.min(L.now - at, SPEEDUP_DT_MAX)
        local new = speed + SPEEDUP_LN_RATE / span * dt / 1000 * math.max(-1, math.min(SPEEDUP_UP_CAP, err))
        new = math.max(0, math.min(1, new))
        if new ~= speed then
            speed = new
            redis.call('HSET', L.rl_key, 'speed', tostring(speed), 'speed_at', string.format('%d', L.now))
            return math.floor(speed * 1000 + 0.5)
        end
    end
    -- Pinned at 0 or 1, or within the band: speed_at kept no more than
    -- SPEEDUP_DT_MAX old (one write a second at most), so the first step
    -- out of the band integrates no time it spent in it beyond that.
    if L.now - at >= SPEEDUP_DT_MAX then
        redis.call('HSET', L.rl_key, 'speed_at', string.format('%d', L.now))
    end
    return math.floor(speed * 1000 + 0.5)
end
