#!lua
-- allowance.lua: a developer account's quota ledger, <p>{dev:<id>}:quota,
-- shared by every development-mode app of that developer (Spotify counts
-- the 24 h quota per developer account since July 2026). The ledger has its
-- own hash tag, so in Redis Cluster it lives apart from the apps' keys and no
-- script can touch both atomically: an app takes ALLOWANCES here (chunks of
-- calls) and spends them inside claim.lua / grant.lua / oauth_slot.lua,
-- atomically with its claims (README, "Rate limits": quota groups).
--
-- KEYS, ARGV and the reply are named in include/redis/script_contract.h
-- (ALLOWANCE_*).
--
-- The window is cut into 24 slots (slot_ms = window / 24). An allowance is
-- counted in the slot it is taken in, and claim.lua spends it only while
-- that slot lasts (what is left at the slot's end is stranded: counted,
-- never spent, so the chunk is small). A slot's calls are counted until 25
-- slots have begun since it began: any rolling window of window_ms overlaps
-- at most 25 slots, so the calls in any window never exceed the limit.
--
-- Ledger fields: s<slot> (calls taken in that slot), block_<bucket> (ms: a
-- QUOTA_EXCEEDED of that bucket ends), learned (the limit learned from a
-- QUOTA_EXCEEDED of the player bucket, which nearly every call uses, when
-- none is configured: the count at that moment),
-- users:<app> ("<users>:<ms>": the app's scheduled users when it last
-- asked), quota (the last configured limit seen). All written here only;
-- a malformed value reads as absent.
--
-- Pace: with a limit known, pace_ms = left_ms * users / calls_left, the
-- interval per user that spreads the calls left evenly over the time until
-- the oldest counted slot leaves the window (users: every app's of the
-- developer that asked recently). claim.lua copies it into the app's rl;
-- complete.lua applies it as a floor to each user's next poll.

--@include contract.lua

local BUCKETS = {'player', 'recent', 'me', 'token', 'other'}
local SLOTS = 24
local CHUNK_MAX = 20

local key = KEYS[ALLOWANCE_KEY.LEDGER]
local mode, app = ARGV[ALLOWANCE_ARG.MODE], ARGV[ALLOWANCE_ARG.APP]
local function whole(v)
    local n = tonumber(v)
    if n == nil or n ~= n or n < 0 or n >= 2 ^ 53 then return 0 end
    return math.floor(n)
end
local quota = whole(ARGV[ALLOWANCE_ARG.QUOTA])
local window = whole(ARGV[ALLOWANCE_ARG.WINDOW_MS])
if window < SLOTS * 1000 or window > 86400000 then window = 86400000 end
local users = whole(ARGV[ALLOWANCE_ARG.USERS])

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local slot_ms = math.floor(window / SLOTS)
local slot = math.floor(now / slot_ms)

-- A ledger that is not a hash is rebuilt from nothing (it only counts).
local kind = redis.call('TYPE', key).ok
if kind ~= 'hash' and kind ~= 'none' then
    redis.log(redis.LOG_WARNING, 'spotwatch: ' .. key .. ' was not a hash; reset')
    redis.call('DEL', key)
end

-- The window's count and its oldest counted slot.
local fields = {}
for i = 0, SLOTS do fields[#fields + 1] = 's' .. (slot - i) end
local counts = redis.call('HMGET', key, unpack(fields))
local used, oldest = 0, nil
for i = SLOTS + 1, 1, -1 do
    local c = whole(counts[i])
    if c > 0 and oldest == nil then oldest = slot - (i - 1) end
    used = used + c
end
redis.call('HDEL', key, 's' .. (slot - SLOTS - 1), 's' .. (slot - SLOTS - 2), 's' .. (slot - SLOTS - 3))

local learned = whole(redis.call('HGET', key, 'learned'))
local limit = quota > 0 and quota or learned
redis.call('HSET', key, 'quota', quota)
if mode ~= 'block' then redis.call('HSET', key, 'users:' .. app, users .. ':' .. now) end

local granted, code, until_ms = 0, LIMIT_OK, 0
if mode == 'block' then
    local bucket = ARGV[ALLOWANCE_ARG.BUCKET]
    local ok = false
    for _, b in ipairs(BUCKETS) do ok = ok or b == bucket end
    if not ok then bucket = 'other' end
    local ends = now + whole(ARGV[ALLOWANCE_ARG.BLOCK_MS])
    if ends > whole(redis.call('HGET', key, 'block_' .. bucket)) then
        redis.call('HSET', key, 'block_' .. bucket, ends)
    end
    if quota == 0 and learned == 0 and used > 0 and bucket == 'player' then
        -- Spotify refused at this count: that is the limit, until an
        -- operator says otherwise (`app unblock` forgets it).
        redis.call('HSET', key, 'learned', used)
        limit = used
    end
else
    local want = whole(ARGV[ALLOWANCE_ARG.WANT])
    -- A chunk is at most a quarter of one slot's fair share, so what an
    -- app strands at a slot's end is little.
    local chunk = CHUNK_MAX
    if limit > 0 then chunk = math.max(1, math.min(CHUNK_MAX, math.floor(limit / (SLOTS + 1) / 4))) end
    granted = math.min(want, chunk)
    if limit > 0 and granted > limit - used then granted = math.max(0, limit - used) end
    if granted > 0 then
        redis.call('HINCRBY', key, 's' .. slot, granted)
        used = used + granted
        if oldest == nil then oldest = slot end
    elseif want > 0 then
        code = LIMIT_QUOTA
        until_ms = ((oldest or slot) + SLOTS + 1) * slot_ms
    end
end

-- The blocks still running, for every app of the developer to copy.
local bl = redis.call('HMGET', key, 'block_player', 'block_recent', 'block_me', 'block_token', 'block_other')
local blocks = {}
for i, b in ipairs(BUCKETS) do
    local u = whole(bl[i])
    if u > now then blocks[#blocks + 1] = b .. ':' .. string.format('%d', u) end
end

-- The users of every app that asked within the last two slots (at least a
-- minute): an app gone quiet stops counting.
local total = 0
local all = redis.call('HGETALL', key)
local recent = now - math.max(60000, 2 * slot_ms)
for i = 1, #all, 2 do
    if string.sub(all[i], 1, 6) == 'users:' then
        local n, at = string.match(all[i + 1], '^(%d+):(%d+)$')
        if n and tonumber(at) >= recent then total = total + tonumber(n) end
    end
end

local left_ms = ((oldest or slot) + SLOTS + 1) * slot_ms - now
local pace = 0
if limit > 0 and total > 0 then
    local calls_left = limit - used + granted   -- the calls this grant brings are still to come
    if calls_left <= 0 then
        pace = left_ms
    else
        pace = math.min(left_ms, math.floor(left_ms * total / calls_left))
    end
end
redis.call('PEXPIRE', key, window * 2)

return allowance_reply{code = code, granted = granted, slot = slot, until_ms = until_ms,
                       blocks = table.concat(blocks, ','), pace_ms = pace, limit = limit,
                       used = used, left_ms = left_ms, now_ms = now}
