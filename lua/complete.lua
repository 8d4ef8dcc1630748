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
-- KEYS, ARGV and the reply are named in include/redis/script_contract.h
-- (COMPLETE_*), with the layout of the batch: the fixed KEYS, then one user
-- hash per job; the fixed ARGV, then per job a COMPLETE_GROUP_ARG group
-- ending in NEVENTS and followed by its 2 * NEVENTS event strings (type,
-- JSON). The reply holds one group per job: applied (1), or 0 when the fence
-- is stale and nothing of that job was written.
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
-- out, and in this same step. (The compare drops a backfill whose user was
-- stopped meanwhile, as `watch stop` forgets the cursor.) Each play is
-- announced exactly once: this script is the one writer of the user's
-- memory of plays announced (backfill_seen, lua/lib/history_seen.lua); a
-- track_played whose key (BACKFILL_PLAYS) it holds, or that lies at or
-- below its floor, is dropped, and the others are added to it here, so a
-- play that turns up late, in any order, is announced once.

--@include contract.lua
--@include lib/limiter.lua
--@include lib/zset.lua
--@include lib/guard.lua
--@include lib/history_seen.lua
--@include lib/schedule.lua
--
-- Nothing read can make the script fail halfway (lua/lib/guard.lua): the
-- limiter's state is read (and repaired) before any write, a user key that
-- is not a hash sets that user aside and the batch goes on, the user's
-- counters read as 0 when malformed, due times are bounded, and the app's
-- counters are added last, after the limiter's state, by guard_counters,
-- which repairs a malformed one instead of failing.

local K, A, G = COMPLETE_KEY, COMPLETE_ARG, COMPLETE_GROUP_ARG
local due_key, lease_key, stream_key, stats_key = KEYS[K.DUE], KEYS[K.LEASES], KEYS[K.EVENTS], KEYS[K.STATS]
local confirm_key = KEYS[K.CONFIRM]
local maxlen, channel_prefix = ARGV[A.MAXLEN], ARGV[A.CHANNEL_PREFIX]
local history_window = tonumber(ARGV[A.HISTORY_WINDOW_MS]) or 86400000

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_s = string.format('%d', now)   -- integer text: no float formatting

-- What the batch adds up: the app's counters, the leases to drop, the
-- schedule to write, and the limiter's state (read on first use).
local counts = {}
local function count(field, n)
    counts[field] = (counts[field] or 0) + n
end
local leases_done, due_set, due_gone, confirm_set = {}, {}, {}, {}
local L = limiter_new(KEYS[K.RL], KEYS[K.CALLS], KEYS[K.APP], tonumber(ARGV[A.BUDGET_DEFAULT]) or 0, 0, now)
limiter_state(L)   -- read and repaired before anything is written
local GD = {broken_key = KEYS[K.BROKEN], stream_key = stream_key, channel_prefix = channel_prefix,
           maxlen = maxlen, count = count}
-- block: a 429 (or another app-wide refusal) recorded. A QUOTA_EXCEEDED
-- of a metered app is kept per endpoint bucket: recently-played's stops
-- only backfills, the token endpoint's only refreshes (claim.lua), any
-- other bucket's the whole app as before.
-- The worker reports it to the developer's ledger (allowance.lua), from
-- which the developer's other apps copy it.
local function block(ms, reason, capped, bucket)
    if reason == 'quota_exceeded' and (bucket or '') ~= '' and limiter_app(L).metered then
        limiter_qblock(L, bucket, now + ms)
        if bucket == 'recent' or bucket == 'token' then
            count('blocks_quota_exceeded', 1)
            return
        end
    end
    limiter_block(L, ms, reason, capped, count)
end
-- The developer quota's pace (lua/allowance.lua computes it, claim.lua
-- copies it): a floor under every next poll after a call, so the quota
-- lasts the rolling day; it always wins over smart polling.
local pace_ms = limiter_pace(L)
local function succeeded()
    limiter_succeeded(L)
end

-- The user hash fields every job reads first, and their places in the answer.
local U_FENCE, U_REFRESH_FENCE, U_STATUS, U_POLLS, U_LAST_STATUS, U_LAST_OUTCOME, U_LAST_OK_AT = 1, 2, 3, 4, 5, 6, 7
-- The usual poll (it went through, no event, no backfill) reads just these:
-- one list for every such job, not a table made per job.
local FIELDS_USUAL = {'fence', 'refresh_fence', 'status', 'polls', 'last_status', 'last_outcome', 'last_ok_at'}
-- The HTTP status each outcome implies: last_status is stored only when it
-- says more (README "Redis key schema", include/redis/script_contract.h
-- SC_USER_DEFAULTS).
local IMPLIED_STATUS = {ok = '200', nothing = '204'}
-- Fields earlier releases wrote that nothing reads any more: dropped along
-- with any HDEL a job sends anyway (no command of their own).
local LEGACY = {'app', 'done_fence', 'lease_owner'}
-- The fields a job deletes, DEL[1..ndel]: one list reused by every job (no
-- table made per job), sent as one HDEL after its HSET.
local DEL, ndel = {}, 0
local function del(f)
    ndel = ndel + 1
    DEL[ndel] = f
end

-- arg_num(v): a numeric argument of the worker's ("0" most often: no strtod).
local function arg_num(v)
    if v == '0' then return 0 end
    return tonumber(v)
end

local argv = ARGV   -- a local: each job reads 17+ of its fields

-- set_aside(user, user_key, base, block_ms, why, is_hash): the job's record
-- cannot be written: set aside, its lease dropped, off the schedule; the
-- limiter still hears of its call. Returns 0 (not applied).
local function set_aside(user, user_key, base, block_ms, why, is_hash)
    guard_broken(GD, user, user_key, why, now, is_hash)
    leases_done[#leases_done + 1] = user
    due_gone[#due_gone + 1] = user
    if block_ms > 0 then
        block(block_ms, argv[base + G.BLOCK_REASON], argv[base + G.CAPPED] == '1', argv[base + G.QUOTA_BUCKET])
    end
    return 0
end

-- num(v): a counter as stored; malformed reads as 0 (the write repairs it).
local function num(v)
    return guard_int(v) or 0
end

-- put(set, f, v): one more field, value pair for the job's HSET.
local function put(set, f, v)
    local n = #set
    set[n + 1], set[n + 2] = f, v
end

-- complete applies the job whose group starts after ARGV[base] (so its
-- fields are ARGV[base + G.X]) to user_key; 1 when applied, 0 when stale.
-- No closure or table is made for a usual poll: each costs, per job.
local function complete(user_key, base)
    local user, fence, outcome = argv[base + G.USER], argv[base + G.FENCE], argv[base + G.OUTCOME]
    local delay, block_ms = arg_num(argv[base + G.DELAY_MS]), arg_num(argv[base + G.BLOCK_MS])
    local state, http_status = argv[base + G.STATE], argv[base + G.HTTP_STATUS]
    local err, new_status = argv[base + G.ERROR], argv[base + G.NEW_STATUS]
    local bf_delay = argv[base + G.BACKFILL_DELAY_MS]
    local bf_old, bf_new = argv[base + G.BACKFILL_CURSOR_OLD], argv[base + G.BACKFILL_CURSOR_NEW]
    local nevents = arg_num(argv[base + G.NEVENTS])

    -- One read of what the user hash decides and one write of everything
    -- this poll sets: each redis.call costs, and so does each field looked
    -- up, so counters are read only when they move.
    local fields = FIELDS_USUAL
    local i_errors, i_changes, i_cursor, i_backfills, i_seq
    -- last_ok_at is kept only while it differs from last_poll_at (README,
    -- memory): written from the last poll when a poll stops going through.
    local ok_now = err == '' and (outcome == 'ok' or outcome == 'nothing')
    local i_last_poll
    if not ok_now or nevents > 0 or bf_old ~= '' then
        fields = {'fence', 'refresh_fence', 'status', 'polls', 'last_status', 'last_outcome', 'last_ok_at'}
    end
    if not ok_now then
        fields[#fields + 1] = 'last_poll_at'
        i_last_poll = #fields
    end
    if err ~= '' then
        fields[#fields + 1] = 'errors'
        i_errors = #fields
    end
    if nevents > 0 then
        fields[#fields + 1], fields[#fields + 2] = 'changes', 'event_seq'
        i_changes, i_seq = #fields - 1, #fields
    end
    local i_seen
    if bf_old ~= '' then
        fields[#fields + 1], fields[#fields + 2], fields[#fields + 3] = 'backfill_cursor', 'backfills',
                                                                        'backfill_seen'
        i_cursor, i_backfills, i_seen = #fields - 2, #fields - 1, #fields
    end
    local u, why = guard_hmget(user_key, fields)
    if u == nil then
        return set_aside(user, user_key, base, block_ms, why, false), nevents   -- not a hash any more
    end
    -- A job applied moves the fence on (below): a completion sent again
    -- (a worker retrying after a lost reply, a failover) finds its fence
    -- stale and writes nothing, so no second event for one change.
    if u[U_FENCE] ~= fence then
        return 0, nevents
    end
    -- event_seq: the user's last event id (README "Events"). Malformed, it
    -- cannot be continued without breaking the ids' order: set aside.
    local seq = 0
    if i_seq then
        seq = guard_int(u[i_seq])
        if seq == false then
            return set_aside(user, user_key, base, block_ms, guard_bad_field('event_seq'), true), nevents
        end
        seq = seq or 0
    end
    -- Integer text: a Lua number handed to redis.call is formatted with
    -- "%.17g", the costliest conversion there is.
    local set = {'last_poll_at', now_s, 'polls', string.format('%d', num(u[U_POLLS]) + 1),
                 'fence', string.format('%d', fence + 1)}
    -- Fields that hold their default are absent (memory: a polled user's
    -- hash stays a small listpack): deleted in one HDEL after the HSET,
    -- which only a change of them needs.
    ndel = 0
    -- What did not change is not written again (each field costs): the
    -- outcome and the status, read above, and fails and idle, which the
    -- worker sends only when they differ from what its claim read (every
    -- other writer of them bumps the fence, so what the claim read is what
    -- is stored); 0 is absent.
    if u[U_LAST_OUTCOME] ~= outcome then
        put(set, 'last_outcome', outcome)
    end
    if http_status == IMPLIED_STATUS[outcome] then
        if u[U_LAST_STATUS] then del('last_status') end
    elseif u[U_LAST_STATUS] ~= http_status then
        put(set, 'last_status', http_status)
    end
    local fails, idle = argv[base + G.FAILS], argv[base + G.IDLE]
    if fails == '0' then
        del('fails')
    elseif fails ~= '' then
        put(set, 'fails', fails)
    end
    if idle == '0' then
        del('idle')
    elseif idle ~= '' then
        put(set, 'idle', idle)
    end
    if state ~= '' then
        put(set, 'state', state)
    end
    if err ~= '' then
        put(set, 'last_error', err)
        put(set, 'last_error_at', now_s)
        put(set, 'errors', string.format('%d', num(u[i_errors]) + 1))
        count('errors', 1)
    end
    local was_ok = u[U_LAST_OUTCOME] == 'ok' or u[U_LAST_OUTCOME] == 'nothing'
    if ok_now and u[U_LAST_OK_AT] then
        del('last_ok_at')   -- once, when polls go through again
    elseif not ok_now and was_ok and not u[U_LAST_OK_AT] and u[i_last_poll] then
        put(set, 'last_ok_at', u[i_last_poll])
    end
    local status = u[U_STATUS]
    if new_status ~= '' then
        put(set, 'status', new_status)
        if err ~= '' then
            put(set, 'reason', err)
        else
            del('reason')   -- an empty reason is absent
        end
        status = new_status
    end
    local backfill_ok = true
    if bf_old ~= '' then
        backfill_ok = u[i_cursor] == bf_old
        local new = tonumber(bf_new)
        if backfill_ok and status == 'active' and new and new > tonumber(bf_old) then
            put(set, 'backfill_cursor', bf_new)
        end
        put(set, 'backfill_done_at', now_s)   -- claim.lua: a poll comes next
        put(set, 'backfills', string.format('%d', num(u[i_backfills]) + 1))
        count('backfills', 1)
    end
    if bf_delay ~= '' and status == 'active' and (backfill_ok or bf_old == '') then
        put(set, 'backfill_at', guard_due(now, bf_delay))
    end

    -- History backfill: each track_played is announced only when its key
    -- (BACKFILL_PLAYS, in the same order) is new to the user's memory and
    -- above its floor (lua/lib/history_seen.lua); the memory is rewritten
    -- with it in this same step.
    local seen, seen_keys, seen_floor, seen_i = nil, nil, 0, 0
    if bf_old ~= '' and backfill_ok then
        local bad
        seen, bad = history_seen_read(u[i_seen], tonumber(bf_old))
        if bad then count('repaired_backfill_seen', 1) end
        seen_floor = math.max(seen.since, now - history_window)
        seen_keys = {}
        for k in string.gmatch(argv[base + G.BACKFILL_PLAYS], '[^,]+') do seen_keys[#seen_keys + 1] = k end
    end

    -- The events follow the group: type, JSON, for each.
    local changes = 0
    local first = base + G.N + 1
    for k = first, first + 2 * nevents - 1, 2 do
        local etype, ev = argv[k], argv[k + 1]
        local announce = etype ~= 'track_played'
        if not announce and seen then
            seen_i = seen_i + 1
            announce = history_seen_take(seen, seen_keys[seen_i], seen_floor)
        end
        if announce and string.sub(ev, 1, 2) ~= '{"' then
            announce = false   -- not a JSON object with members: no id fits
            count('events_malformed', 1)
        end
        if announce then
            -- The id, "<user>:<seq>", becomes the event's first member.
            seq = seq + 1
            local id = user .. ':' .. string.format('%d', seq)
            ev = '{"id":' .. cjson.encode(id) .. ',' .. string.sub(ev, 2)
            redis.call('PUBLISH', channel_prefix .. user, ev)
            redis.call('XADD', stream_key, 'MAXLEN', '~', maxlen, '*', 'user', user, 'id', id, 'type', etype,
                       'event', ev)
            changes = changes + 1
            count('events_' .. etype, 1)
        end
    end
    if changes > 0 then
        put(set, 'changes', string.format('%d', num(u[i_changes]) + changes))
        put(set, 'event_seq', string.format('%d', seq))
    end
    local seen_drop = false
    if seen then
        local text, n, since = history_seen_text(seen, now - history_window)
        local window_start = now - history_window
        -- Absent reads as since = the cursor: leave it absent when that
        -- says the same (nothing to remember, and since is the cursor or
        -- both are out of the window).
        if n == 0 and (since == tonumber(bf_old) or (since <= window_start and tonumber(bf_old) <= window_start)) then
            seen_drop = u[i_seen] ~= false
        elseif text ~= u[i_seen] then
            put(set, 'backfill_seen', text)
        end
    end
    redis.call('HSET', user_key, unpack(set))
    if seen_drop then
        del('backfill_seen')
    end
    if u[U_REFRESH_FENCE] == fence then
        del('refresh_until')
        del('refresh_fence')
    end
    if ndel > 0 then
        for i = 1, #LEGACY do del(LEGACY[i]) end
        redis.call('HDEL', user_key, unpack(DEL, 1, ndel))
    end

    count('polls', 1)
    count('outcome_' .. outcome, 1)
    local flap = argv[base + G.FLAP]
    if flap == 'held' or flap == 'confirmed' or flap == 'dropped' then
        count('flap_' .. flap, 1)   -- events that do not flap (README "Events")
    end
    if block_ms > 0 then
        block(block_ms, argv[base + G.BLOCK_REASON], argv[base + G.CAPPED] == '1', argv[base + G.QUOTA_BUCKET])
    elseif outcome == 'ok' or outcome == 'nothing' then
        succeeded()
    end
    leases_done[#leases_done + 1] = user
    if delay >= 0 and block_ms <= 0 and outcome ~= 'released' and pace_ms > delay then
        delay = pace_ms
    end
    if status == 'active' and delay >= 0 then
        local due = guard_due(now, delay)
        due_set[#due_set + 1], due_set[#due_set + 2] = due, user
        if flap == 'held' and block_ms <= 0 then
            -- The poll that confirms or refutes a held change (the worker
            -- asked for it, include/spotify/flap.h): claim.lua takes it when
            -- it falls due ahead of users already overdue, so under a
            -- saturated budget the change is not announced a round late.
            confirm_set[#confirm_set + 1], confirm_set[#confirm_set + 2] = due, user
        end
    else
        due_gone[#due_gone + 1] = user
    end
    return 1, nevents
end

-- The jobs one after another: job j's user hash is KEYS[K.N + j]; its group
-- starts after ARGV[base], and the next one after its events.
local out, row = complete_reply{}, {}
local base, job = A.N, 1
while base < #ARGV do
    local nevents
    row.applied, nevents = complete(KEYS[K.N + job], base)
    complete_group_reply(out, row)
    base = base + G.N + 2 * nevents
    job = job + 1
end

schedule_write('ZREM', lease_key, leases_done)
schedule_write('ZADD', due_key, due_set)
schedule_write('ZREM', due_key, due_gone)
zset_add_derived(confirm_key, confirm_set, 'confirm', count)   -- before the counters are written
limiter_save(L)
guard_counters(stats_key, counts)   -- last, and cannot fail
return out
