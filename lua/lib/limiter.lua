-- lib/limiter.lua: the app's rate limiter, whole: load, room, take, block
-- and save, shared by claim.lua, grant.lua, complete.lua and oauth_slot.lua
-- (spliced in at build time where a script says --@include; Redis scripts
-- cannot load modules). The scripts only decide how many calls they want.
--
-- State, all in the app's hash tag:
--   <p>{<app>}:rl     HASH blocked_until, block_reason, blocked_at,
--                          retry_after_capped_at, budget_eff, budget_ceiling,
--                          probe_at (owner_premium_required: the last probe),
--                          the 24 h quota's allowance (development mode):
--                          allow_slot, allow_left, allow_debt, quota_until,
--                          qblock_<bucket>, pace_ms, pace_until, dev_limit, dev_used,
--                          dev_left_ms, dev_synced_at (limiter_quota_*)
--   <p>{<app>}:calls  ZSET the sliding log of granted calls
--   <p>{<app>}:app    HASH budget_30s, window_ms, quota_24h, mode, developer,
--                          client_id, quota_window_ms
--
-- The 24 h quota is the developer account's (lua/allowance.lua keeps its
-- ledger under the developer's own hash tag): an app spends here, atomically
-- with its claims, the allowance it took there, and only within the slot
-- (1/24 of the quota window) it was taken in.
--
-- The rate limit is a sliding log rather than GCRA: Spotify counts calls in
-- a rolling window (30 s unless the app sets window_ms; tests use short
-- windows to run many of them quickly), and only a log of the calls in that
-- window can promise never to exceed it; its size is bounded by the budget
-- itself. The adaptive budget (AIMD, budget_eff / budget_ceiling) is
-- described in complete.lua's header. Reads happen on first use and writes
-- of the rl hash are gathered until limiter_save, so a batch pays them once.

local LIMITER_WINDOW_MS = 30000
local LIMITER_DAY_MS = 86400000
local LIMITER_SLOTS = 24        -- a quota window's slots (lua/allowance.lua)
local LIMITER_SYNC_MS = 2000    -- an app asks its developer's ledger at least this often
-- The endpoint buckets of the developer quota, named after the simulator's
-- default map: /v1/me/player* -> player, recently-played -> recent, /v1/me
-- -> me, /api/token -> token, anything else -> other.
local LIMITER_BUCKETS = {'player', 'recent', 'me', 'token', 'other'}

-- limiter_new: nothing is read yet. default_budget (0 = unlimited) and
-- default_quota (0 = none) apply when the app sets none.
local function limiter_new(rl_key, calls_key, app_key, default_budget, default_quota, now)
    return {rl_key = rl_key, calls_key = calls_key, app_key = app_key, now = now,
            default_budget = tonumber(default_budget) or 0, default_quota = tonumber(default_quota) or 0,
            dirty = {}, aimd_dirty = false}
end

-- limiter_num(v, whole): v as a number when it is a finite one in [0, 2^53)
-- (whole: an integer too), nil when absent, false when malformed.
local function limiter_num(v, whole)
    if not v then return nil end
    local n = tonumber(v)
    if n == nil or n ~= n or n < 0 or n >= 2 ^ 53 or (whole and n ~= math.floor(n)) then return false end
    return n
end

-- limiter_id(v): v when it is an id (README "Ids": 1-128 of A-Z a-z 0-9
-- . _ : @ + = -), else nil: a developer id becomes a key's hash tag.
local function limiter_id(v)
    if type(v) ~= 'string' or #v < 1 or #v > 128 or not string.find(v, '^[%w%._:@%+=%-]+$') then return nil end
    return v
end

-- limiter_repair(L, field, value): a malformed field of the rl hash is reset
-- (value, or removed when nil), counted as repaired_<field> in the rl hash
-- and logged: written at once, before the script writes anything it could
-- fail on, so a poisoned field never costs a 429 block.
local function limiter_repair(L, field, value)
    redis.log(redis.LOG_WARNING, 'spotwatch: ' .. L.rl_key .. ' ' .. field .. ' was malformed; repaired')
    if value == nil then
        redis.call('HDEL', L.rl_key, field)
    else
        redis.call('HSET', L.rl_key, field, value)
    end
    redis.call('HINCRBY', L.rl_key, 'repaired_' .. field, 1)
end

-- limiter_state: the rl hash's block and AIMD fields, read once and checked:
-- a malformed blocked_until is reset to 0 (not blocked: inf would block the
-- app for ever), a malformed budget_eff/budget_ceiling removed (the
-- configured budget applies). An rl key that is not a hash is the limiter's
-- own state gone bad: it is deleted and rebuilt from nothing.
local function limiter_state(L)
    if L.blocked_until == nil then
        -- block_reason and probe_at (owner_premium_required's probe) are
        -- only compared, never computed with: read as they are.
        local fields = {'blocked_until', 'budget_eff', 'budget_ceiling'}
        local r = redis.pcall('HMGET', L.rl_key, 'blocked_until', 'budget_eff', 'budget_ceiling',
                              'block_reason', 'probe_at', 'pace_ms', 'pace_until')
        if type(r) == 'table' and r.err then
            redis.log(redis.LOG_WARNING, 'spotwatch: ' .. L.rl_key .. ' was not a hash; reset')
            redis.call('DEL', L.rl_key)
            redis.call('HINCRBY', L.rl_key, 'repaired_rl', 1)
            r = {false, false, false, false, false, false, false}
        end
        -- The developer quota's pace (limiter_pace): only read, never
        -- computed with here; malformed reads as none.
        L.pace_ms, L.pace_until = limiter_num(r[6], true) or 0, limiter_num(r[7], true) or 0
        local v = {limiter_num(r[1], true), limiter_num(r[2]), limiter_num(r[3], true)}
        for i, f in ipairs(fields) do
            if v[i] == false or (i > 1 and v[i] == 0) then
                limiter_repair(L, f, i == 1 and 0 or nil)
                v[i] = nil
            end
        end
        L.blocked_until = v[1] or 0
        L.eff, L.ceiling = v[2], v[3]
        L.block_reason, L.probe_at = r[4] or nil, r[5] or nil
    end
    return L
end

-- limiter_app: the app's configured budget, quota and window, read once.
-- keep_ms is how long a granted call stays in the log: the window plus a
-- guard (1 %, at least 250 ms), because a call is logged when it is granted
-- and Spotify counts it when it arrives: a new call must not arrive while
-- Spotify still counts the one it replaces.
local function limiter_app(L)
    if L.budget == nil then
        local a = redis.call('HMGET', L.app_key, 'budget_30s', 'quota_24h', 'mode', 'window_ms',
                             'developer', 'client_id', 'quota_window_ms')
        -- The app's settings (the operator's, written by `app add`): a
        -- malformed one reads as unset.
        L.budget = limiter_num(a[1]) or L.default_budget
        L.quota = limiter_num(a[2], true) or L.default_quota
        -- Development mode is metered: every call is counted in the
        -- developer's ledger, against the configured quota or the one
        -- learned from a QUOTA_EXCEEDED.
        L.developer = limiter_id(a[5]) or limiter_id(a[6])
        L.metered = a[3] == 'development' and L.developer ~= nil
        if not L.metered then L.quota = 0 end
        L.quota_window_ms = limiter_num(a[7], true) or LIMITER_DAY_MS
        if L.quota_window_ms < 24000 or L.quota_window_ms > LIMITER_DAY_MS then
            L.quota_window_ms = LIMITER_DAY_MS
        end
        L.slot = math.floor(L.now / math.floor(L.quota_window_ms / LIMITER_SLOTS))
        L.window_ms = limiter_num(a[4], true) or LIMITER_WINDOW_MS
        if L.window_ms <= 0 or L.window_ms > 86400000 then L.window_ms = LIMITER_WINDOW_MS end
        L.keep_ms = L.window_ms + math.max(250, math.floor(L.window_ms / 100))
    end
    return L
end

-- limiter_blocked: the end of a 429 block still running, or nil.
local function limiter_blocked(L)
    local s = limiter_state(L)
    if s.blocked_until > L.now then return s.blocked_until end
    return nil
end

-- An app blocked for owner_premium_required (every call of it refused until
-- its owner's Premium is back) is not released in a flood when its block
-- ends: the claim that finds the block over takes one job (limiter_probing)
-- and holds the app blocked for a lease (limiter_hold) while that probe is
-- out. A probe that succeeds lifts the block (limiter_succeeded); one refused
-- again blocks the app for another owner-premium-probe-ms.
local LIMITER_PROBE_REASON = 'owner_premium_required'

-- limiter_probing: true when the app's block for its owner's Premium has
-- ended without a call having succeeded since: the next claim is a probe.
local function limiter_probing(L)
    local s = limiter_state(L)
    return s.block_reason == LIMITER_PROBE_REASON and s.blocked_until <= L.now
end

-- limiter_hold: the probe is out: no other call for hold_ms.
local function limiter_hold(L, hold_ms)
    local until_ms = string.format('%d', L.now + hold_ms)
    limiter_state(L).blocked_until = L.now + hold_ms
    redis.call('HSET', L.rl_key, 'blocked_until', until_ms, 'probe_at', string.format('%d', L.now))
end

-- limiter_budget: the budget enforced now (0 = unlimited): the configured
-- one, or the adaptive one while it is lower.
local function limiter_budget(L)
    local budget = limiter_app(L).budget
    local eff = limiter_state(L).eff
    if budget > 0 and eff and eff < budget then return math.max(1, math.floor(eff)) end
    return budget
end

-- limiter_prune: drops the calls that left the window from the log. A log
-- key that is not a ZSET is the limiter's own state gone bad: deleted (the
-- window starts empty), repaired_calls counted in the rl hash, logged.
local function limiter_prune(L)
    local r = redis.pcall('ZREMRANGEBYSCORE', L.calls_key, '-inf', string.format('%d', L.now - L.keep_ms))
    if type(r) == 'table' and r.err then
        redis.log(redis.LOG_WARNING, 'spotwatch: ' .. L.calls_key .. ' was not a sorted set; reset')
        redis.call('DEL', L.calls_key)
        redis.call('HINCRBY', L.rl_key, 'repaired_calls', 1)
    end
end

-- limiter_room: the calls the window still allows (nil = unlimited) and
-- the calls in it now.
local function limiter_room(L)
    local budget = limiter_budget(L)
    if budget <= 0 then return nil, 0 end
    limiter_prune(L)
    local used = redis.call('ZCARD', L.calls_key)
    return budget - used, used
end

-- limiter_room_wake: when the window's oldest call leaves it (the wait
-- when the window is full).
local function limiter_room_wake(L)
    local oldest = redis.call('ZRANGE', L.calls_key, 0, 0, 'WITHSCORES')
    return tonumber(oldest[2] or L.now) + L.keep_ms + 1
end

-- Spreading a window's budget. The log alone lets a saturated app spend a
-- window's whole budget the moment the window frees: Spotify then sees one
-- burst per window, each user polled in it waits a window for its next
-- poll, and a change held for confirmation (complete.lua) a window for the
-- poll that confirms it. So a claim also keeps to a spread: within any
-- LIMITER_SPREAD_PARTS-th of the window at most max(2, ceil(budget /
-- LIMITER_SPREAD_PARTS)) calls are granted (2: a refresh, two calls, always
-- fits). It delays bursts only: an app whose calls come evenly below its
-- budget never meets it, and the window's budget is spent all the same.
-- Only claims keep to it: a grant (the poll after a refresh) and a login's
-- OAuth calls are single calls of work already under way.
local LIMITER_SPREAD_PARTS = 30

-- limiter_spread_room(L): the calls the spread allows now (nil: no budget,
-- or a window too short to split).
local function limiter_spread_room(L)
    local budget = limiter_budget(L)
    local part = math.floor(limiter_app(L).window_ms / LIMITER_SPREAD_PARTS)
    if budget <= 0 or part < 1 then return nil end
    L.spread_part, L.spread_since = part, string.format('(%d', L.now - part)
    local cap = math.min(budget, math.max(2, math.ceil(budget / LIMITER_SPREAD_PARTS)))
    return cap - redis.call('ZCOUNT', L.calls_key, L.spread_since, '+inf')
end

-- limiter_spread_wake(L): when the oldest call of the last part leaves it
-- (after limiter_spread_room).
local function limiter_spread_wake(L)
    local r = redis.call('ZRANGEBYSCORE', L.calls_key, L.spread_since, '+inf', 'WITHSCORES', 'LIMIT', '0', '1')
    return (tonumber(r[2] or '') or L.now) + L.spread_part + 1
end

-- limiter_take: one granted call, logged under a unique member.
local function limiter_take(L, member)
    if limiter_budget(L) > 0 then
        -- Integer text (a Lua number argument is formatted with "%.17g").
        L.now_s = L.now_s or string.format('%d', L.now)
        redis.call('ZADD', L.calls_key, L.now_s, L.now_s .. ':' .. member)
    end
end


-- limiter_quota_state: the app's allowance and the developer's state as
-- last copied from the ledger, read once (metered apps only; a malformed
-- field reads as absent: the next allowance rewrites it).
local function limiter_quota_state(L)
    if L.q == nil then
        local f = {'allow_slot', 'allow_left', 'allow_debt', 'quota_until', 'dev_synced_at', 'pace_ms'}
        for _, b in ipairs(LIMITER_BUCKETS) do f[#f + 1] = 'qblock_' .. b end
        local r = redis.call('HMGET', L.rl_key, unpack(f))
        local q = {}
        for i, name in ipairs(f) do q[name] = limiter_num(r[i], true) or 0 end
        L.q = q
    end
    return L.q
end

-- limiter_allowance: the calls the app may still spend in this slot, less
-- what OAuth callbacks borrowed (nil = not metered: no 24 h count).
local function limiter_allowance(L)
    if not limiter_app(L).metered then return nil end
    local q = limiter_quota_state(L)
    if q.allow_slot ~= L.slot then return 0 end
    return q.allow_left
end

-- limiter_spend: n calls spent from the allowance (the caller checked).
local function limiter_spend(L, n)
    local q = limiter_quota_state(L)
    if n > 0 and limiter_allowance(L) then
        q.allow_left = q.allow_left - n
        redis.call('HSET', L.rl_key, 'allow_left', string.format('%d', q.allow_left))
    end
end

-- limiter_borrow: n calls made without an allowance (an OAuth callback:
-- serve cannot take one), paid from the next allowance.
local function limiter_borrow(L, n)
    local q = limiter_quota_state(L)
    q.allow_debt = q.allow_debt + n
    redis.call('HSET', L.rl_key, 'allow_debt', string.format('%d', q.allow_debt))
end

-- limiter_quota_until: the end of a spent developer quota (the ledger
-- refused an allowance), or nil.
local function limiter_quota_until(L)
    if not limiter_app(L).metered then return nil end
    local u = limiter_quota_state(L).quota_until
    if u > L.now then return u end
    return nil
end

-- limiter_qblocked(L, bucket): the end of a QUOTA_EXCEEDED block of that
-- endpoint bucket (this app's or a sibling's, copied from the ledger), or nil.
local function limiter_qblocked(L, bucket)
    -- Only a metered app records them (complete.lua): an unmetered one
    -- reads none (an HMGET of 11 fields saved on each of its claims).
    if not limiter_app(L).metered then return nil end
    local u = limiter_quota_state(L)['qblock_' .. bucket] or 0
    if u > L.now then return u end
    return nil
end

-- limiter_qblock: a QUOTA_EXCEEDED of bucket recorded for this app until
-- until_ms (never shortened); the worker reports it to the ledger too.
local function limiter_qblock(L, bucket, until_ms)
    local q = limiter_quota_state(L)
    local f = 'qblock_' .. bucket
    if q[f] == nil then f, bucket = 'qblock_other', 'other' end
    if until_ms > q[f] then
        q[f] = until_ms
        redis.call('HSET', L.rl_key, f, string.format('%d', until_ms))
    end
end

-- limiter_need_sync: the app should ask its developer's ledger now: its
-- allowance is spent, or its copy of the ledger (blocks, pace) is older
-- than LIMITER_SYNC_MS.
local function limiter_need_sync(L)
    local left = limiter_allowance(L)
    if left == nil then return false end
    return left <= 0 or L.now - limiter_quota_state(L).dev_synced_at >= LIMITER_SYNC_MS
end

-- limiter_take_allowance(L, a): an allowance just taken from the ledger
-- (allowance.lua's reply, handed over by the worker once): added to the
-- app's when of this slot (what a past slot left is dropped), the debt paid
-- first; and the ledger's blocks, pace and counts copied.
local function limiter_take_allowance(L, a)
    local q = limiter_quota_state(L)
    local n, slot = limiter_num(a.n, true) or 0, limiter_num(a.slot, true) or -1
    local set = {}
    local function put(f, v)
        q[f] = v
        set[#set + 1], set[#set + 2] = f, string.format('%d', v)
    end
    if slot == limiter_app(L).slot then
        local left = (q.allow_slot == slot) and q.allow_left or 0
        left = left + n
        local paid = math.min(q.allow_debt, left)
        put('allow_slot', slot)
        put('allow_left', left - paid)
        put('allow_debt', q.allow_debt - paid)
    end
    if tonumber(a.code) == LIMIT_QUOTA then put('quota_until', limiter_num(a.until_ms, true) or 0) end
    for b, u in string.gmatch(a.blocks or '', '(%a+):(%d+)') do
        local f = 'qblock_' .. b
        local v = tonumber(u)
        if q[f] ~= nil and v > q[f] then put(f, v) end
    end
    put('pace_ms', limiter_num(a.pace, true) or 0)
    put('dev_limit', limiter_num(a.limit, true) or 0)
    put('dev_used', limiter_num(a.used, true) or 0)
    put('dev_left_ms', limiter_num(a.left_ms, true) or 0)
    put('dev_synced_at', L.now)
    -- The pace holds for one slot; an app that stops asking (no longer
    -- metered, or idle) loses it.
    put('pace_until', L.now + math.floor(limiter_app(L).quota_window_ms / LIMITER_SLOTS))
    redis.call('HSET', L.rl_key, unpack(set))
end

-- limiter_pace: the paced interval per user (ms; 0 = none) the app's last
-- allowance brought, while it holds (read with the limiter's state: no
-- extra command for complete.lua).
local function limiter_pace(L)
    local s = limiter_state(L)
    if s.pace_until > L.now then return s.pace_ms end
    return 0
end

-- limiter_aimd_decrease: the effective budget and ceiling after a 429
-- (the rule is in complete.lua's header). first: the app was not blocked
-- yet, so this 429 opens an episode; the calls in the window are then
-- counted from the log.
local function limiter_aimd_decrease(L, first)
    local eff, ceiling = L.eff or L.budget, L.ceiling
    if first then
        limiter_prune(L)
        local used = redis.call('ZCARD', L.calls_key)
        ceiling = math.max(used - 1, math.floor(eff / 2))
        eff = math.floor(eff / 2)
    elseif ceiling then
        ceiling = ceiling - 1
    end
    if ceiling then
        ceiling = math.max(1, ceiling)
        eff = math.min(eff, ceiling - 1)
    end
    L.eff, L.ceiling = math.max(1, math.floor(eff)), ceiling
    L.aimd_dirty = true
end

-- limiter_block: no call for ms from now, for reason (rate_limited |
-- quota_exceeded | invalid_client | owner_premium_required). A window is never shortened by a later,
-- shorter Retry-After. count(field, n) is told what to add to the app's
-- counters. Returns the end of the block.
local function limiter_block(L, ms, reason, capped, count)
    local s = limiter_state(L)
    local until_ms, old = L.now + ms, s.blocked_until
    if until_ms > old then
        s.blocked_until = until_ms
        L.dirty.blocked_until, L.dirty.block_reason = until_ms, reason
        L.dirty.blocked_at = string.format('%d', L.now)
        s.block_reason = reason
    end
    count('blocks_' .. reason, 1)
    if capped then
        L.dirty.retry_after_capped_at = string.format('%d', L.now)
    end
    if reason == 'rate_limited' then
        -- Multiplicative decrease: the budget that drew a 429 was too high.
        count('r429', 1)
        if limiter_app(L).budget > 0 then limiter_aimd_decrease(L, old <= L.now) end
    end
    return s.blocked_until
end

-- limiter_succeeded: additive increase, about +1 call per window of
-- successful calls; slower within one call of the ceiling.
local function limiter_succeeded(L)
    local s = limiter_state(L)
    if s.block_reason == LIMITER_PROBE_REASON and s.probe_at then
        -- The probe went through: the owner's Premium is back.
        redis.call('HDEL', L.rl_key, 'blocked_until', 'block_reason', 'blocked_at', 'probe_at')
        s.blocked_until, s.block_reason, s.probe_at = 0, nil, nil
        L.dirty.blocked_until, L.dirty.block_reason, L.dirty.blocked_at = nil, nil, nil
    end
    if not s.eff then return end
    local budget = limiter_app(L).budget
    if s.ceiling and s.eff >= s.ceiling - 1 and s.eff < s.ceiling + 1 then
        s.eff = s.eff + 1 / (16 * s.eff)
    else
        s.eff = s.eff + 1 / s.eff
    end
    if budget <= 0 or s.eff >= budget then
        s.eff, s.ceiling = nil, nil
    end
    L.aimd_dirty = true
end

-- limiter_save: the rl hash's changed fields, in one write.
local function limiter_save(L)
    local set = {}
    for f, v in pairs(L.dirty) do
        set[#set + 1], set[#set + 2] = f, v
    end
    if L.aimd_dirty then
        if L.eff then
            set[#set + 1], set[#set + 2] = 'budget_eff', tostring(L.eff)
            if L.ceiling then
                set[#set + 1], set[#set + 2] = 'budget_ceiling', L.ceiling
            else
                redis.call('HDEL', L.rl_key, 'budget_ceiling')
            end
        else
            redis.call('HDEL', L.rl_key, 'budget_eff', 'budget_ceiling')
        end
    end
    if #set > 0 then
        redis.call('HSET', L.rl_key, unpack(set))
    end
    L.dirty, L.aimd_dirty = {}, false
end
