#!lua
-- complete.lua: finish one claimed poll: store what was seen, announce each
-- change exactly once, re-arm the schedule, and feed the limiter, in one
-- atomic step. Only the holder of the current fencing token may write: a
-- worker whose lease expired (and whose user was claimed again) is ignored.
--
-- KEYS[1] <p>{<app>}:due      ZSET user -> next poll (ms)
-- KEYS[2] <p>{<app>}:leases   ZSET user -> lease expiry (ms)
-- KEYS[3] <p>{<app>}:user:<u> HASH the user
-- KEYS[4] <p>{<app>}:events   STREAM the app's events
-- KEYS[5] <p>{<app>}:rl       HASH limiter state
-- KEYS[6] <p>{<app>}:stats    HASH the app's counters
-- KEYS[7] <p>{<app>}:app      HASH the app
-- KEYS[8] <p>{<app>}:calls    ZSET the sliding log of granted calls (claim.lua)
-- ARGV[1]  user
-- ARGV[2]  fence (from claim)
-- ARGV[3]  next poll in ms from now; -1 takes the user off the schedule
-- ARGV[4]  outcome: ok | nothing | error | rate_limited | quota_exceeded |
--          reauth_required | not_registered | invalid_client | released
-- ARGV[5]  new state ("" keeps the old one)
-- ARGV[6]  HTTP status of the poll (0 = none)
-- ARGV[7]  error text for last_error ("" = none)
-- ARGV[8]  new user status ("" keeps it)
-- ARGV[9]  block the app for this many ms (0 = no block); never shortens a block
-- ARGV[10] block reason (rate_limited | quota_exceeded | invalid_client)
-- ARGV[11] pub/sub channel, "<p>playback:<user>"
-- ARGV[12] stream MAXLEN (approximate)
-- ARGV[13] consecutive transient failures after this poll
-- ARGV[14] consecutive idle polls after this poll (smart polling)
-- ARGV[15] 1 if the Retry-After was capped, else 0
-- ARGV[16] default budget per window (app-budget-30s), when the app sets none
-- ARGV[17] next history backfill in ms from now ("" leaves backfill_at)
-- ARGV[18] a "backfill" job: the backfill_cursor its claim handed out ("" for
--          other jobs)
-- ARGV[19] a "backfill" job: the new cursor, the latest played_at announced
--          ("" keeps it)
-- ARGV[20..] pairs of event type, event JSON
--
-- Returns 1 when applied, 0 when the fence is stale (nothing written).
--
-- The adaptive budget (AIMD) lives in <p>{<app>}:rl: budget_eff (the budget
-- claim.lua enforces while below the configured one) and budget_ceiling (how
-- many calls the window held when the last 429 came: what Spotify admitted).
-- The first 429 of an episode halves the effective budget and keeps it below
-- that ceiling; each further 429 of the same episode (calls that were
-- already in flight) lowers the ceiling by one, as that call was refused
-- too. A count below half the budget is not believed (a straggler from an
-- older window, say): the ceiling is at least half the budget. Every success
-- adds 1/eff (about +1 per window at full use); within one call of the
-- ceiling the growth slows to +1 per ~16 windows, probing whether the limit
-- rose, and is fast again above it.
--
-- History backfill: the cursor is a compare-and-set on top of the fence. The
-- track_played events of a backfill job are announced, and the cursor moved
-- past them, only if the stored cursor is still the one the claim handed
-- out, and in this same step: each play is announced exactly once. (The
-- fence alone already gives that; the compare also drops a backfill whose
-- user was stopped meanwhile, as `watch stop` forgets the cursor.)

local due_key, lease_key, user_key, stream_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local rl_key, stats_key, app_key, calls_key = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local user, fence = ARGV[1], ARGV[2]
local delay = tonumber(ARGV[3])
local outcome = ARGV[4]
local block_ms = tonumber(ARGV[9])

-- One read of what the user hash decides (fence, refresh lock, status) and
-- one write of everything this poll sets: each redis.call costs, and this
-- script runs once per poll (tests/bench/bench.py measures it).
local u = redis.call('HMGET', user_key, 'fence', 'refresh_fence', 'status')
if u[1] ~= fence then
    return 0
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_s = string.format('%d', now)   -- integer text: no float formatting

redis.call('ZREM', lease_key, user)
local set = {'last_poll_at', now_s, 'last_status', ARGV[6], 'last_outcome', outcome,
             'fails', ARGV[13], 'idle', ARGV[14], 'lease_owner', ''}
if ARGV[5] ~= '' then
    set[#set + 1], set[#set + 2] = 'state', ARGV[5]
end
if ARGV[7] ~= '' then
    set[#set + 1], set[#set + 2], set[#set + 3], set[#set + 4] = 'last_error', ARGV[7], 'last_error_at', now_s
elseif outcome == 'ok' or outcome == 'nothing' then
    set[#set + 1], set[#set + 2] = 'last_ok_at', now_s
end
local status = u[3]
if ARGV[8] ~= '' then
    set[#set + 1], set[#set + 2], set[#set + 3], set[#set + 4] = 'status', ARGV[8], 'reason', ARGV[7]
    status = ARGV[8]
end
local backfill_ok = true
if ARGV[18] ~= '' then
    backfill_ok = redis.call('HGET', user_key, 'backfill_cursor') == ARGV[18]
    local new = tonumber(ARGV[19])
    if backfill_ok and status == 'active' and new and new > tonumber(ARGV[18]) then
        set[#set + 1], set[#set + 2] = 'backfill_cursor', ARGV[19]
    end
    set[#set + 1], set[#set + 2] = 'backfill_done_at', now_s   -- claim.lua: a poll comes next
    redis.call('HINCRBY', user_key, 'backfills', 1)
    redis.call('HINCRBY', stats_key, 'backfills', 1)
end
if ARGV[17] ~= '' and status == 'active' and (backfill_ok or ARGV[18] == '') then
    set[#set + 1], set[#set + 2] = 'backfill_at', string.format('%d', now + tonumber(ARGV[17]))
end
redis.call('HSET', user_key, unpack(set))
redis.call('HINCRBY', user_key, 'polls', 1)
redis.call('HINCRBY', stats_key, 'polls', 1)
redis.call('HINCRBY', stats_key, 'outcome_' .. outcome, 1)
if u[2] == fence then
    redis.call('HDEL', user_key, 'refresh_until', 'refresh_fence')
end
if ARGV[7] ~= '' then
    redis.call('HINCRBY', user_key, 'errors', 1)
    redis.call('HINCRBY', stats_key, 'errors', 1)
end

-- The limiter: a window is never shortened by a later, shorter Retry-After.
if block_ms > 0 then
    local until_ms = now + block_ms
    local old = tonumber(redis.call('HGET', rl_key, 'blocked_until') or '0') or 0
    if until_ms > old then
        redis.call('HSET', rl_key, 'blocked_until', until_ms, 'block_reason', ARGV[10], 'blocked_at', now)
    end
    redis.call('HINCRBY', stats_key, 'blocks_' .. ARGV[10], 1)
    if ARGV[15] == '1' then
        redis.call('HSET', rl_key, 'retry_after_capped_at', now)
    end
    if ARGV[10] == 'rate_limited' then
        -- Multiplicative decrease: the budget that drew a 429 was too high.
        redis.call('HINCRBY', stats_key, 'r429', 1)
        local app = redis.call('HMGET', app_key, 'budget_30s', 'window_ms')
        local budget = tonumber(app[1] or '') or tonumber(ARGV[16]) or 0
        if budget > 0 then
            local rl = redis.call('HMGET', rl_key, 'budget_eff', 'budget_ceiling')
            local eff = tonumber(rl[1] or '') or budget
            local ceiling = tonumber(rl[2] or '')
            if old <= now then
                -- The first 429 of this episode (claim.lua's window and guard).
                local window_ms = tonumber(app[2] or '') or 30000
                local keep_ms = window_ms + math.max(250, math.floor(window_ms / 100))
                redis.call('ZREMRANGEBYSCORE', calls_key, '-inf', now - keep_ms)
                local used = redis.call('ZCARD', calls_key)
                ceiling = math.max(used - 1, math.floor(eff / 2))
                eff = math.floor(eff / 2)
            elseif ceiling then
                ceiling = ceiling - 1
            end
            if ceiling then
                ceiling = math.max(1, ceiling)
                eff = math.min(eff, ceiling - 1)
                redis.call('HSET', rl_key, 'budget_ceiling', ceiling)
            end
            redis.call('HSET', rl_key, 'budget_eff', math.max(1, math.floor(eff)))
        end
    end
elseif outcome == 'ok' or outcome == 'nothing' then
    -- Additive increase: about +1 call per window of successful calls.
    local rl = redis.call('HMGET', rl_key, 'budget_eff', 'budget_ceiling')
    local eff = tonumber(rl[1] or '')
    if eff then
        local budget = tonumber(redis.call('HGET', app_key, 'budget_30s') or '') or tonumber(ARGV[16]) or 0
        local ceiling = tonumber(rl[2] or '')
        if ceiling and eff >= ceiling - 1 and eff < ceiling + 1 then
            eff = eff + 1 / (16 * eff)
        else
            eff = eff + 1 / eff
        end
        if budget <= 0 or eff >= budget then
            redis.call('HDEL', rl_key, 'budget_eff', 'budget_ceiling')
        else
            redis.call('HSET', rl_key, 'budget_eff', tostring(eff))
        end
    end
end

if status == 'active' and delay >= 0 then
    redis.call('ZADD', due_key, string.format('%d', now + delay), user)
else
    redis.call('ZREM', due_key, user)
end

local maxlen = ARGV[12]
for i = 20, #ARGV, 2 do
    local etype, ev = ARGV[i], ARGV[i + 1]
    if backfill_ok or etype ~= 'track_played' then
        redis.call('PUBLISH', ARGV[11], ev)
        redis.call('XADD', stream_key, 'MAXLEN', '~', maxlen, '*', 'user', user, 'type', etype, 'event', ev)
        redis.call('HINCRBY', user_key, 'changes', 1)
        redis.call('HINCRBY', stats_key, 'events_' .. etype, 1)
    end
end
return 1
