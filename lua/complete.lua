#!lua
-- complete.lua: finish a batch of claimed polls of one app: for each, store
-- what was seen, announce each change exactly once, re-arm the schedule, and
-- feed the limiter, all in one atomic step. Only the holder of a user's
-- current fencing token may write: a worker whose lease expired (and whose
-- user was claimed again) is ignored for that user.
--
-- A worker sends the polls that finished in one turn of its event loop
-- together: the script call, the clock read, the lease and schedule writes,
-- the app's counters and the limiter's state are then paid once per batch,
-- and each poll costs two commands on its user hash (tests/bench/bench.py
-- measures it).
--
-- KEYS[1] <p>{<app>}:due      ZSET user -> next poll (ms)
-- KEYS[2] <p>{<app>}:leases   ZSET user -> lease expiry (ms)
-- KEYS[3] <p>{<app>}:events   STREAM the app's events
-- KEYS[4] <p>{<app>}:rl       HASH limiter state
-- KEYS[5] <p>{<app>}:stats    HASH the app's counters
-- KEYS[6] <p>{<app>}:app      HASH the app
-- KEYS[7] <p>{<app>}:calls    ZSET the sliding log of granted calls (claim.lua)
-- KEYS[8..] <p>{<app>}:user:<u> HASH, one per job, in the order of the jobs
-- ARGV[1] stream MAXLEN (approximate)
-- ARGV[2] default budget per window (app-budget-30s), when the app sets none
-- ARGV[3] pub/sub channel prefix, "<p>playback:" (the user id follows)
-- ARGV[4..] the jobs, one after another, each 17 + 2 * nevents strings:
--    1 user
--    2 fence (from claim)
--    3 next poll in ms from now; -1 takes the user off the schedule
--    4 outcome: ok | nothing | error | rate_limited | quota_exceeded |
--      reauth_required | not_registered | invalid_client | released
--    5 new state ("" keeps the old one)
--    6 HTTP status of the poll (0 = none)
--    7 error text for last_error ("" = none)
--    8 new user status ("" keeps it)
--    9 block the app for this many ms (0 = no block); never shortens a block
--   10 block reason (rate_limited | quota_exceeded | invalid_client)
--   11 consecutive transient failures after this poll
--   12 consecutive idle polls after this poll (smart polling)
--   13 1 if the Retry-After was capped, else 0
--   14 next history backfill in ms from now ("" leaves backfill_at)
--   15 a "backfill" job: the backfill_cursor its claim handed out ("" for
--      other jobs)
--   16 a "backfill" job: the new cursor, the latest played_at announced
--      ("" keeps it)
--   17 nevents, then nevents pairs of event type, event JSON
--
-- Returns one integer per job, in order: 1 when applied, 0 when the fence is
-- stale (nothing of that job written).
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
-- rose, and is fast again above it. The jobs of a batch feed it in order,
-- exactly as one call per job would; it is read once and written once.
--
-- History backfill: the cursor is a compare-and-set on top of the fence. The
-- track_played events of a backfill job are announced, and the cursor moved
-- past them, only if the stored cursor is still the one the claim handed
-- out, and in this same step: each play is announced exactly once. (The
-- fence alone already gives that; the compare also drops a backfill whose
-- user was stopped meanwhile, as `watch stop` forgets the cursor.)

--@include lib/limiter.lua

local due_key, lease_key, stream_key, rl_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local stats_key, app_key, calls_key = KEYS[5], KEYS[6], KEYS[7]
local maxlen, default_budget, channel_prefix = ARGV[1], tonumber(ARGV[2]) or 0, ARGV[3]
local JOB_FIELDS = 17

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_s = string.format('%d', now)   -- integer text: no float formatting

-- What the batch adds up: the app's counters, the leases to drop, the
-- schedule to write, and the limiter's state (read on first use).
local counts = {}
local function count(field, n)
    counts[field] = (counts[field] or 0) + n
end
local leases_done, due_set, due_gone = {}, {}, {}
local L = limiter_new(rl_key, calls_key, app_key, default_budget, 0, now)
local function block(ms, reason, capped)
    limiter_block(L, ms, reason, capped, count)
end
local function succeeded()
    limiter_succeeded(L)
end

local function complete(user_key, a, i)
    local user, fence, outcome = a[i], a[i + 1], a[i + 3]
    local delay, block_ms = tonumber(a[i + 2]), tonumber(a[i + 8])
    local state, http_status, err, new_status = a[i + 4], a[i + 5], a[i + 6], a[i + 7]
    local bf_delay, bf_old, bf_new = a[i + 13], a[i + 14], a[i + 15]
    local nevents = tonumber(a[i + 16])

    -- One read of what the user hash decides and one write of everything
    -- this poll sets: each redis.call costs, and so does each field looked
    -- up, so counters are read only when they move.
    local fields = {'fence', 'refresh_fence', 'status', 'polls'}
    local i_errors, i_changes, i_cursor, i_backfills
    if err ~= '' then
        fields[#fields + 1] = 'errors'
        i_errors = #fields
    end
    if nevents > 0 then
        fields[#fields + 1] = 'changes'
        i_changes = #fields
    end
    if bf_old ~= '' then
        fields[#fields + 1], fields[#fields + 2] = 'backfill_cursor', 'backfills'
        i_cursor, i_backfills = #fields - 1, #fields
    end
    local u = redis.call('HMGET', user_key, unpack(fields))
    if u[1] ~= fence then
        return 0
    end
    local set = {'last_poll_at', now_s, 'last_status', http_status, 'last_outcome', outcome,
                 'fails', a[i + 10], 'idle', a[i + 11], 'lease_owner', '',
                 'polls', (tonumber(u[4] or '0') or 0) + 1}
    local function put(f, v)
        set[#set + 1], set[#set + 2] = f, v
    end
    if state ~= '' then
        put('state', state)
    end
    if err ~= '' then
        put('last_error', err)
        put('last_error_at', now_s)
        put('errors', (tonumber(u[i_errors] or '0') or 0) + 1)
        count('errors', 1)
    elseif outcome == 'ok' or outcome == 'nothing' then
        put('last_ok_at', now_s)
    end
    local status = u[3]
    if new_status ~= '' then
        put('status', new_status)
        put('reason', err)
        status = new_status
    end
    local backfill_ok = true
    if bf_old ~= '' then
        backfill_ok = u[i_cursor] == bf_old
        local new = tonumber(bf_new)
        if backfill_ok and status == 'active' and new and new > tonumber(bf_old) then
            put('backfill_cursor', bf_new)
        end
        put('backfill_done_at', now_s)   -- claim.lua: a poll comes next
        put('backfills', (tonumber(u[i_backfills] or '0') or 0) + 1)
        count('backfills', 1)
    end
    if bf_delay ~= '' and status == 'active' and (backfill_ok or bf_old == '') then
        put('backfill_at', string.format('%d', now + tonumber(bf_delay)))
    end

    local changes = 0
    for k = i + 17, i + 16 + 2 * nevents, 2 do
        local etype, ev = a[k], a[k + 1]
        if backfill_ok or etype ~= 'track_played' then
            redis.call('PUBLISH', channel_prefix .. user, ev)
            redis.call('XADD', stream_key, 'MAXLEN', '~', maxlen, '*', 'user', user, 'type', etype, 'event', ev)
            changes = changes + 1
            count('events_' .. etype, 1)
        end
    end
    if changes > 0 then
        put('changes', (tonumber(u[i_changes] or '0') or 0) + changes)
    end
    redis.call('HSET', user_key, unpack(set))
    if u[2] == fence then
        redis.call('HDEL', user_key, 'refresh_until', 'refresh_fence')
    end

    count('polls', 1)
    count('outcome_' .. outcome, 1)
    if block_ms > 0 then
        block(block_ms, a[i + 9], a[i + 12] == '1')
    elseif outcome == 'ok' or outcome == 'nothing' then
        succeeded()
    end
    leases_done[#leases_done + 1] = user
    if status == 'active' and delay >= 0 then
        due_set[#due_set + 1], due_set[#due_set + 2] = string.format('%d', now + delay), user
    else
        due_gone[#due_gone + 1] = user
    end
    return 1
end

local out = {}
local i, job = 4, 1
while i <= #ARGV do
    out[job] = complete(KEYS[7 + job], ARGV, i)
    i = i + JOB_FIELDS + 2 * tonumber(ARGV[i + 16])
    job = job + 1
end

for k = 1, #leases_done, 1000 do
    redis.call('ZREM', lease_key, unpack(leases_done, k, math.min(k + 999, #leases_done)))
end
for k = 1, #due_set, 1000 do
    redis.call('ZADD', due_key, unpack(due_set, k, math.min(k + 999, #due_set)))
end
for k = 1, #due_gone, 1000 do
    redis.call('ZREM', due_key, unpack(due_gone, k, math.min(k + 999, #due_gone)))
end
for field, n in pairs(counts) do
    redis.call('HINCRBY', stats_key, field, n)
end
limiter_save(L)
return out
