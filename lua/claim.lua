#!lua
-- claim.lua: take up to N due polls of one app, under a lease, within the
-- app's rate limit, in one atomic step.
--
-- KEYS[1] <p>{<app>}:due      ZSET user -> next poll (ms)
-- KEYS[2] <p>{<app>}:leases   ZSET user -> lease expiry (ms)
-- KEYS[3] <p>{<app>}:rl       HASH limiter state (blocked_until, budget_eff, q<hour>, ...)
-- KEYS[4] <p>{<app>}:calls    ZSET the calls granted in the app's window (sliding log)
-- KEYS[5] <p>{<app>}:app      HASH the app (budget_30s, window_ms, quota_24h, mode)
-- ARGV[1] user key prefix, "<p>{<app>}:user:" (same hash tag, so same slot)
-- ARGV[2] most users to take
-- ARGV[3] lease length (ms)
-- ARGV[4] worker id
-- ARGV[5] refresh margin (ms): a token expiring sooner is refreshed first
-- ARGV[6] default budget per 30 s (0 = unlimited), when the app sets none
-- ARGV[7] default 24 h quota for development-mode apps (0 = none)
-- ARGV[8] history backfill interval (ms; 0 or absent = off)
--
-- Returns {code, wake_ms, now_ms, jobs...}:
--   code 0: jobs follow; wake_ms = when the next poll falls due (0 = none)
--   code 1: the app is blocked by a 429 until wake_ms
--   code 2: the 30 s budget is spent until wake_ms
--   code 3: the 24 h quota is spent until wake_ms
-- A "refresh" job is two calls (the token endpoint, then the poll): it is only
-- taken when the limiter has room for both.
-- A "backfill" job is one call, recently-played instead of the poll: taken
-- in place of a poll when the user's backfill_at is due and the user's grant
-- has the user-read-recently-played scope, but never twice in a row (a poll
-- must have completed since the last backfill, backfill_done_at), so a user
-- whose polls are stretched past the backfill interval is still polled. A
-- user's first claim with backfill on sets backfill_cursor (ms: plays after
-- it are announced) to now and backfill_at to now + the interval;
-- complete.lua moves both.
-- Each job is 12 strings: user, fence, kind ("poll" | "refresh" | "backfill"),
-- access_token, expires_at, refresh_token, state, fails, idle, interval_ms,
-- due_ms (when it fell due, for the schedule lag), backfill_cursor (ms; ""
-- unless kind is "backfill").
--
-- The limiter (sliding log, adaptive budget, 24 h quota) is lua/lib/limiter.lua.

--@include lib/limiter.lua

local due_key, lease_key, rl_key, calls_key, app_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local user_prefix = ARGV[1]
local want = tonumber(ARGV[2])
local lease_ms = tonumber(ARGV[3])
local margin_ms = tonumber(ARGV[5])
local backfill_ms = tonumber(ARGV[8] or '0') or 0

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local L = limiter_new(rl_key, calls_key, app_key, ARGV[6], ARGV[7], now)

-- (a) Leases of dead workers return to the schedule, due at once.
local expired = redis.call('ZRANGEBYSCORE', lease_key, '-inf', now, 'LIMIT', 0, 256)
for _, u in ipairs(expired) do
    redis.call('ZREM', lease_key, u)
    if redis.call('HGET', user_prefix .. u, 'status') == 'active' then
        redis.call('ZADD', due_key, now, u)
    end
end

-- (b) The limiter: a blocked app costs one HMGET, not a scan of its users.
local blocked_until = limiter_blocked(L)
if blocked_until then
    return {1, blocked_until, now}
end

local n = want
-- room: the calls the limiter still allows (nil = unlimited); when it runs
-- out before the batch is full, {room_code, room_wake} says until when.
local room, room_code, room_wake, room_all = nil, 0, 0, false
local left, inlog = limiter_room(L)
if left then
    if left <= 0 then
        return {2, limiter_room_wake(L), now}
    end
    room, room_code, room_all = left, 2, inlog == 0
end
local quota_left, quota_used, quota_wake = limiter_quota(L)
if quota_left then
    if quota_left <= 0 then
        return {3, quota_wake, now}
    end
    if room == nil or quota_left < room then
        room, room_code, room_wake, room_all = quota_left, 3, quota_wake, quota_used == 0
    end
end
if room and room < n then n = room end

-- (c) The most overdue users first.
local due = redis.call('ZRANGEBYSCORE', due_key, '-inf', now, 'WITHSCORES', 'LIMIT', 0, n)
local out = {0, 0, now}
local spent = 0
local full = false
-- Users leaving the due set, and the leases taken, are written once per
-- claim (below the loop), not once per user: each redis.call costs.
local gone, leased = {}, {}
local lease_s = string.format('%d', now + lease_ms)
-- Each field looked up costs: the backfill fields only when backfill is on,
-- the refresh token only for a refresh (below).
local fields = {'status', 'access_token', 'expires_at', 'state', 'fails', 'idle', 'interval_ms',
                'refresh_until', 'fence'}
if backfill_ms > 0 then
    fields[#fields + 1], fields[#fields + 2] = 'backfill_at', 'scope'
end
for i = 1, #due, 2 do
    if spent >= n then break end
    local u, due_ms = due[i], due[i + 1]
    local key = user_prefix .. u
    local h = redis.call('HMGET', key, unpack(fields))
    if h[1] ~= 'active' then
        gone[#gone + 1] = u
    else
        local expires_at = tonumber(h[3] or '0') or 0
        local refresh_until = tonumber(h[8] or '0') or 0
        local kind = 'poll'
        local wait_refresh = false
        if expires_at - now < margin_ms then
            if refresh_until > now then
                wait_refresh = true
            else
                kind = 'refresh'
            end
        end
        -- History backfill: a due backfill takes this poll's place. Users
        -- without the scope are left alone (recently-played would answer
        -- 401 Permissions missing) and cost no write.
        local cursor = ''
        if kind == 'poll' and backfill_ms > 0 then
            local bf_at = tonumber(h[10] or '')
            if (bf_at == nil or bf_at <= now) and h[11]
                and string.find(h[11], 'user-read-recently-played', 1, true) then
                if bf_at == nil then
                    redis.call('HSET', key, 'backfill_at', string.format('%d', now + backfill_ms),
                               'backfill_cursor', string.format('%d', now))
                else
                    -- Only here, when a backfill is due: no cost to other claims.
                    local b = redis.call('HMGET', key, 'backfill_cursor', 'backfill_done_at', 'last_poll_at')
                    local done_at = tonumber(b[2] or '')
                    if done_at == nil or (tonumber(b[3] or '') or 0) > done_at then
                        cursor = b[1] or string.format('%d', now)
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
            -- Another worker is refreshing this user: run just after it.
            redis.call('ZADD', due_key, refresh_until + 50, u)
        elseif room and spent + cost > room and not (spent == 0 and room_all) then
            redis.call('ZADD', due_key, due_ms, u)
            full = true
            break
        else
            -- (d) In flight under a lease, with a fencing token.
            local fence = string.format('%d', (tonumber(h[9] or '0') or 0) + 1)
            gone[#gone + 1] = u
            leased[#leased + 1], leased[#leased + 2] = lease_s, u
            if kind == 'refresh' then
                redis.call('HSET', key, 'fence', fence, 'lease_owner', ARGV[4], 'refresh_until', lease_s,
                           'refresh_fence', fence)
            else
                redis.call('HSET', key, 'fence', fence, 'lease_owner', ARGV[4])
            end
            limiter_take(L, fence .. ':' .. u)
            if cost == 2 then
                limiter_take(L, fence .. ':' .. u .. ':t')
            end
            spent = spent + cost
            out[#out + 1] = u
            out[#out + 1] = fence
            out[#out + 1] = kind
            out[#out + 1] = h[2] or ''
            out[#out + 1] = h[3] or '0'
            out[#out + 1] = (kind == 'refresh') and (redis.call('HGET', key, 'refresh_token') or '') or ''
            out[#out + 1] = h[4] or ''
            out[#out + 1] = h[5] or '0'
            out[#out + 1] = h[6] or '0'
            out[#out + 1] = h[7] or '0'
            out[#out + 1] = due_ms
            out[#out + 1] = cursor
        end
    end
end
for i = 1, #gone, 500 do
    redis.call('ZREM', due_key, unpack(gone, i, math.min(i + 499, #gone)))
end
for i = 1, #leased, 1000 do
    redis.call('ZADD', lease_key, unpack(leased, i, math.min(i + 999, #leased)))
end
limiter_count(L, spent)
if full and #out == 3 then
    -- Nothing taken: the first in line needs more room than is left.
    if room_code == 2 then
        room_wake = limiter_room_wake(L)
    end
    return {room_code, room_wake, now}
end

local nxt = redis.call('ZRANGE', due_key, 0, 0, 'WITHSCORES')
if nxt[2] then out[2] = tonumber(nxt[2]) end
return out
