#!lua
-- claim.lua: take up to WANT due polls of one app, under a lease, within the
-- app's rate limit, in one atomic step.
--
-- KEYS, ARGV and the reply are named in include/redis/script_contract.h
-- (CLAIM_*); the reply's code is a LIMIT_* there: LIMIT_OK with the jobs
-- taken (wake_ms: when the next poll falls due), or the limiter's refusal
-- and when it ends.
--
-- A "refresh" job is two calls (the token endpoint, then the poll): it is only
-- taken when the limiter has room for both.
-- A "backfill" job is one call, recently-played instead of the poll: taken
-- in place of a poll when the user's backfill_at is due and the user's grant
-- has the user-read-recently-played scope, but never twice in a row (a poll
-- must have completed since the last backfill, backfill_done_at), so a user
-- whose polls are stretched past the backfill interval is still polled. A
-- user's first claim with backfill on sets backfill_cursor (ms: plays after
-- it are announced) to now and backfill_at to now + the interval;
-- complete.lua moves both. A backfill job also carries the user's memory of
-- plays announced (backfill_seen, as stored: the worker and complete.lua
-- check it; include/spotify/history_scan.h).
--
-- The limiter (sliding log, its spread over the window, adaptive budget,
-- 24 h quota) is lua/lib/limiter.lua.
-- Each claim the limiter does not block also moves the app's speed-up
-- (lua/lib/speedup.lua: how much of the budget's room the playing users may
-- spend), from the window's use after this claim's calls (a claim that ran
-- out of room counts as a full window: users were left waiting; measured
-- before them, a starved app's window would read empty each time it rolls
-- over, its calls all taken at once); the reply's speed
-- tells the worker (src/worker/decide.c decide_playing_ms).
-- A development-mode app spends an allowance of its developer's quota
-- (lua/allowance.lua): when it is spent, or its copy of the ledger is stale,
-- and work is due, the claim answers LIMIT_ALLOWANCE with what the ledger
-- needs; the worker takes one and claims again with it (ALLOW_* ARGV). The
-- QUOTA_EXCEEDED blocks are per endpoint bucket: player stops every job,
-- token stops refreshes (those users wait for its end), recent stops
-- backfills (the user is polled instead).
--
-- What a user hash holds is checked before the claim writes to it
-- (lua/lib/guard.lua): a user key that is not a hash, or a numeric field
-- that is not a whole number in [0, 2^53), sets that user aside (broken,
-- off the schedule, a user_broken event) and the claim goes on with the
-- others. A refresh lock further out than REFRESH_LOCK_MAX_LEASES leases is
-- stale and ignored: no field can park a user at infinity. A due or leases
-- key of another type is rebuilt from the app's members where it is first
-- read (lua/lib/schedule.lua), and the confirm set, which only orders work,
-- is reset (lua/lib/zset.lua).

--@include contract.lua
--@include lib/limiter.lua
--@include lib/speedup.lua
--@include lib/zset.lua
--@include lib/guard.lua
--@include lib/schedule.lua

local due_key, lease_key = KEYS[CLAIM_KEY.DUE], KEYS[CLAIM_KEY.LEASES]
local user_prefix = ARGV[CLAIM_ARG.USER_PREFIX]
local want = tonumber(ARGV[CLAIM_ARG.WANT])
local lease_ms = tonumber(ARGV[CLAIM_ARG.LEASE_MS])
local margin_ms = tonumber(ARGV[CLAIM_ARG.REFRESH_MARGIN_MS])
local backfill_ms = tonumber(ARGV[CLAIM_ARG.BACKFILL_MS] or '0') or 0

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Numbers go to redis.call as integer text: a Lua number there is formatted
-- with "%.17g", about as costly as the command.
local now_s = string.format('%d', now)
local L = limiter_new(KEYS[CLAIM_KEY.RL], KEYS[CLAIM_KEY.CALLS], KEYS[CLAIM_KEY.APP],
                      ARGV[CLAIM_ARG.BUDGET_DEFAULT], ARGV[CLAIM_ARG.QUOTA_DEFAULT], now)
-- Read (and repaired if malformed) before anything is written.
limiter_state(L)
-- An allowance the worker just took from the developer's ledger
-- (lua/allowance.lua) for this claim: handed over exactly once.
if (ARGV[CLAIM_ARG.ALLOW_SLOT] or '') ~= '' and limiter_app(L).metered then
    limiter_take_allowance(L, {n = ARGV[CLAIM_ARG.ALLOW_N], slot = ARGV[CLAIM_ARG.ALLOW_SLOT],
                               code = ARGV[CLAIM_ARG.ALLOW_CODE], until_ms = ARGV[CLAIM_ARG.ALLOW_UNTIL],
                               blocks = ARGV[CLAIM_ARG.ALLOW_BLOCKS], pace = ARGV[CLAIM_ARG.ALLOW_PACE],
                               limit = ARGV[CLAIM_ARG.ALLOW_LIMIT], used = ARGV[CLAIM_ARG.ALLOW_USED],
                               left_ms = ARGV[CLAIM_ARG.ALLOW_LEFT_MS]})
end
local stats_key = KEYS[CLAIM_KEY.STATS]
local G = {broken_key = KEYS[CLAIM_KEY.BROKEN], stream_key = KEYS[CLAIM_KEY.EVENTS],
           channel_prefix = ARGV[CLAIM_ARG.CHANNEL_PREFIX], maxlen = ARGV[CLAIM_ARG.MAXLEN],
           count = function(field, n) guard_counters(stats_key, {[field] = n}) end}
local REFRESH_LOCK_MAX_LEASES = 10
local S = schedule_new(due_key, lease_key, KEYS[CLAIM_KEY.MEMBERS], user_prefix, now_s, G.count)

-- (a) Leases of dead workers return to the schedule, due at once.
local expired = schedule_read(S, 'ZRANGEBYSCORE', lease_key, '-inf', now_s, 'LIMIT', '0', '256')
for _, u in ipairs(expired) do
    redis.call('ZREM', lease_key, u)
    local h, why = guard_hmget(user_prefix .. u, {'status'})
    if h == nil then
        guard_broken(G, u, user_prefix .. u, why, now, false)
    elseif h[1] == 'active' then
        redis.call('ZADD', due_key, now_s, u)
    end
end

-- (b) The limiter: a blocked app costs one HMGET, not a scan of its users.
local blocked_until = limiter_blocked(L)
if blocked_until then
    return claim_reply{code = LIMIT_BLOCKED, wake_ms = blocked_until, now_ms = now}
end

local n = want
-- room: the calls the limiter still allows (nil = unlimited); when it runs
-- out before the batch is full, {room_code, room_wake} says until when;
-- room_spread: the spread of the window's budget is what bounds it
-- (lua/lib/limiter.lua limiter_spread_room).
local room, room_code, room_wake, room_all, room_spread = nil, LIMIT_OK, 0, false, false
local left, inlog = limiter_room(L)
local speedup_target = tonumber(ARGV[CLAIM_ARG.SPEEDUP_TARGET] or '0')
local speedup_span = (tonumber(ARGV[CLAIM_ARG.SPEEDUP_SPAN] or '0') or 0) / 1000
-- speed(used): the app's speed after this claim, the window holding used calls.
local function speed(used)
    return speedup_update(L, speedup_target, speedup_span, used, limiter_budget(L))
end
if left then
    if left <= 0 then
        return claim_reply{code = LIMIT_BUDGET, wake_ms = limiter_room_wake(L), now_ms = now, speed = speed(inlog)}
    end
    room, room_code, room_all = left, LIMIT_BUDGET, inlog == 0
    -- A burst waits for its part of the window.
    local spread = limiter_spread_room(L)
    if spread and spread < room then
        if spread <= 0 then
            return claim_reply{code = LIMIT_BUDGET, wake_ms = limiter_spread_wake(L), now_ms = now,
                               speed = speed(inlog)}
        end
        room, room_spread = spread, true
    end
end
-- allowance_wanted: the LIMIT_ALLOWANCE answer, with what the ledger needs:
-- a batch (and the OAuth calls owed) less what the app still holds, so a
-- sync that only refreshes the app's copy of the ledger takes nothing.
local function allowance_wanted()
    local q = limiter_quota_state(L)
    local held = math.max(limiter_allowance(L) or 0, 0)
    return claim_reply{code = LIMIT_ALLOWANCE, wake_ms = now, now_ms = now, developer = L.developer,
                       quota = L.quota, quota_window_ms = L.quota_window_ms,
                       want = math.max(0, want + q.allow_debt - held),
                       users = redis.call('ZCARD', due_key) + redis.call('ZCARD', lease_key)}
end

-- The developer's 24 h quota (development mode): spent, a QUOTA_EXCEEDED
-- of the player bucket (every poll uses it), or this app's allowance.
local quota_until = limiter_quota_until(L) or limiter_qblocked(L, 'player')
if quota_until then
    return claim_reply{code = limiter_quota_until(L) and LIMIT_QUOTA or LIMIT_BLOCKED, wake_ms = quota_until,
                       now_ms = now, speed = speed(inlog)}
end
local allow = limiter_allowance(L)
if allow then
    if limiter_need_sync(L) and #schedule_read(S, 'ZRANGEBYSCORE', due_key, '-inf', now_s, 'LIMIT', '0', '1') > 0 then
        -- Work is due: the worker takes an allowance and claims again.
        return allowance_wanted()
    end
    if room == nil or allow < room then
        room, room_code, room_wake, room_all, room_spread = math.max(allow, 0), LIMIT_ALLOWANCE, now, false, false
    end
end
local token_blocked = allow and limiter_qblocked(L, 'token')
local recent_blocked = allow and limiter_qblocked(L, 'recent')
if room and room < n then n = room end
-- An app blocked for its owner's Premium whose block has ended: one probe.
local probe = limiter_probing(L)
if probe then n = 1 end

-- (c) Confirming polls first: a held change's confirming poll (complete.lua
-- puts it in the confirm set with the time it wrote to the due set) is taken
-- when it falls due, ahead of users already overdue. An entry is believed
-- only while the due set holds the same time for its user: anything else
-- (the user claimed, rescheduled or removed since, a hand-written member)
-- is stale and dropped. Then the most overdue users.
local n_s = string.format('%d', n)
local overdue = schedule_read(S, 'ZRANGEBYSCORE', due_key, '-inf', now_s, 'WITHSCORES', 'LIMIT', '0', n_s)
local confirm_key = KEYS[CLAIM_KEY.CONFIRM]
local due, first, confirm_done = {}, {}, {}
local firsts = redis.pcall('ZRANGEBYSCORE', confirm_key, '-inf', now_s, 'WITHSCORES', 'LIMIT', '0', n_s)
if zset_is_bad(firsts) then
    zset_reset(confirm_key, 'confirm', G.count)
    firsts = {}
end
for i = 1, #firsts, 2 do
    local u, at = firsts[i], firsts[i + 1]
    if redis.call('ZSCORE', due_key, u) == at then
        due[#due + 1], due[#due + 2] = u, at
        first[u] = true
    else
        confirm_done[#confirm_done + 1] = u
    end
end
if #due == 0 then
    due = overdue
else
    for i = 1, #overdue, 2 do
        if not first[overdue[i]] then
            due[#due + 1], due[#due + 2] = overdue[i], overdue[i + 1]
        end
    end
end
local out, row, njobs = claim_reply{code = LIMIT_OK, now_ms = now}, {}, 0
local spent = 0
local full = false
-- Users leaving the due set, and the leases taken, are written once per
-- claim (below the loop), not once per user: each redis.call costs.
local gone, leased = {}, {}
local lease_s = string.format('%d', now + lease_ms)
-- Each field looked up costs: the backfill fields only when backfill is on,
-- the refresh token only for a refresh (below). H names the answer's places.
local fields = {'status', 'access_token', 'expires_at', 'state', 'fails', 'idle', 'interval_ms',
                'refresh_until', 'fence'}
if backfill_ms > 0 then
    fields[#fields + 1], fields[#fields + 2] = 'backfill_at', 'scope'
end
local H = {}
for k, f in ipairs(fields) do H[f] = k end
-- The numeric fields checked (guard_fields): all but status, the tokens,
-- state and scope.
local numeric = {'expires_at', 'refresh_until', 'fails', 'idle', 'interval_ms', 'fence'}
if backfill_ms > 0 then numeric[#numeric + 1] = 'backfill_at' end
for i = 1, #due, 2 do
    if spent >= n then break end
    local u, due_ms = due[i], due[i + 1]
    local key = user_prefix .. u
    local h, why = guard_hmget(key, fields)
    local bad = h and h[H.status] == 'active' and guard_fields(h, H, numeric)
    if h == nil or bad then
        guard_broken(G, u, key, why or guard_bad_field(bad), now, h ~= nil)
        gone[#gone + 1] = u
    elseif h[H.status] ~= 'active' then
        gone[#gone + 1] = u
    else
        -- Checked above (guard_fields): "+ 0" reads each with one strtod
        -- where tonumber runs two.
        local expires_at = (h[H.expires_at] or 0) + 0
        local refresh_until = (h[H.refresh_until] or 0) + 0
        if refresh_until > now + REFRESH_LOCK_MAX_LEASES * lease_ms then
            refresh_until = 0   -- a stale lock: refreshed over, never waited for
        end
        local kind = 'poll'
        local wait_refresh, wait_until = false, 0
        if expires_at - now < margin_ms then
            if refresh_until > now then
                wait_refresh, wait_until = true, refresh_until + 50
            elseif token_blocked then
                -- The token bucket's QUOTA_EXCEEDED: no refresh until it ends.
                wait_refresh, wait_until = true, token_blocked
            else
                kind = 'refresh'
            end
        end
        -- History backfill: a due backfill takes this poll's place. Users
        -- without the scope are left alone (recently-played would answer
        -- 401 Permissions missing) and cost no write.
        local cursor, seen = nil, nil
        if kind == 'poll' and backfill_ms > 0 and not recent_blocked then
            local bf_at = tonumber(h[H.backfill_at] or '')
            -- Absent: the base scopes (USER_SCOPE_BASE), without recently-played.
            local scope = h[H.scope]
            if (bf_at == nil or bf_at <= now) and scope
                and string.find(scope, 'user-read-recently-played', 1, true) then
                if bf_at == nil then
                    redis.call('HSET', key, 'backfill_at', string.format('%d', now + backfill_ms),
                               'backfill_cursor', string.format('%d', now))
                else
                    -- Only here, when a backfill is due: no cost to other claims.
                    local b = redis.call('HMGET', key, 'backfill_cursor', 'backfill_done_at', 'last_poll_at',
                                         'backfill_seen')
                    local bf_cursor, done_at, last_poll_at = guard_int(b[1]), guard_int(b[2]), guard_int(b[3])
                    -- Malformed: read as unset (the cursor restarts now);
                    -- the complete of this job rewrites them.
                    if done_at == false then done_at = nil end
                    if done_at == nil or (last_poll_at or 0) > done_at then
                        cursor = bf_cursor or now
                        seen = b[4] or ''   -- checked by the worker and complete.lua
                        kind = 'backfill'
                    end
                end
            end
        end
        -- A refresh is two calls: the token endpoint counts too. Without room
        -- for both the user stays first in line (unless the window is empty:
        -- a budget below 2 must not starve a user for ever).
        local cost = (kind == 'refresh') and 2 or 1
        if wait_refresh then
            -- Another worker is refreshing this user: run just after it
            -- (or the token bucket is blocked: when it ends).
            redis.call('ZADD', due_key, wait_until, u)
        elseif room and spent + cost > room and not (spent == 0 and room_all) then
            redis.call('ZADD', due_key, due_ms, u)
            full = true
            break
        else
            -- (d) In flight under a lease (in the leases set, not in the
            -- user hash: nothing to clear at the end), with a fencing token.
            local fence = string.format('%d', (h[H.fence] or 0) + 1)
            gone[#gone + 1] = u
            leased[#leased + 1], leased[#leased + 2] = lease_s, u
            if kind == 'refresh' then
                redis.call('HSET', key, 'fence', fence, 'refresh_until', lease_s, 'refresh_fence', fence)
            else
                redis.call('HSET', key, 'fence', fence)
            end
            limiter_take(L, fence .. ':' .. u)
            if cost == 2 then
                limiter_take(L, fence .. ':' .. u .. ':t')
            end
            spent = spent + cost
            -- Laid out in the reply at once, through one row table reused
            -- for every job (no table made per job).
            njobs = njobs + 1
            row.user, row.fence, row.kind = u, fence, kind
            row.access_token = h[H.access_token]
            row.refresh_token = (kind == 'refresh') and redis.call('HGET', key, 'refresh_token') or nil
            row.state = h[H.state]
            -- As stored when plain digits (nothing converted: an INT reply
            -- may be a decimal string).
            row.fails = guard_reply_int(h[H.fails])
            row.idle = guard_reply_int(h[H.idle])
            row.interval_ms = guard_reply_int(h[H.interval_ms])
            row.due_ms = math.max(due_ms + 0, now - GUARD_DUE_MAX_MS)   -- a score: always numeric text
            row.backfill_cursor = cursor
            row.backfill_seen = seen
            claim_group_reply(out, row)
        end
    end
end
zset_rem(due_key, gone)
zset_add(lease_key, leased)
for _, u in ipairs(gone) do
    if first[u] then confirm_done[#confirm_done + 1] = u end
end
zset_rem(confirm_key, confirm_done)
limiter_spend(L, spent)
if probe and njobs > 0 then
    limiter_hold(L, lease_ms)
end
-- Out of the window's room counts as a full window; out of the spread's,
-- as what the window holds.
local sp = speed((full and not room_spread) and limiter_budget(L) or (inlog or 0) + spent)
if full and njobs == 0 then
    -- Nothing taken: the first in line needs more room than is left.
    if room_code == LIMIT_BUDGET then
        room_wake = room_spread and limiter_spread_wake(L) or limiter_room_wake(L)
    elseif room_code == LIMIT_ALLOWANCE then
        return allowance_wanted()
    end
    return claim_reply{code = room_code, wake_ms = room_wake, now_ms = now, speed = sp}
end

local nxt = redis.call('ZRANGE', due_key, '0', '0', 'WITHSCORES')
out[CLAIM_REPLY.wake_ms] = math.min(math.max(tonumber(nxt[2] or '0') or 0, 0), now + GUARD_DUE_MAX_MS)
out[CLAIM_REPLY.speed] = sp
return out
