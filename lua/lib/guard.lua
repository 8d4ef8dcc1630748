-- lib/guard.lua: reading what another writer may have poisoned, shared by
-- claim.lua and complete.lua (spliced in where a script says --@include).
--
-- Redis does not roll a script back: a command that fails halfway (HINCRBY
-- on "abc", HSET on a STRING key) leaves the writes before it and drops the
-- ones after it, and a claim that fails on one user fails for every user of
-- the app. So what a script reads is checked before it writes, and one bad
-- user is set aside instead of stopping the batch:
--   - a user key that is not a hash (the HMGET every claim does anyway is a
--     redis.pcall; TYPE is asked only when it fails): recorded in
--     <p>{<app>}:broken (HASH user -> reason), off the schedule;
--   - a numeric field that is not a whole number in [0, 2^53) (non-numeric,
--     inf, nan, negative, fractional, beyond 2^53): status "broken", reason
--     naming the field, off the schedule.
-- Either way one event {"id","type":"user_broken","user","at","reason"} goes to
-- the user's channel and the app's stream, as status events do
-- (include/spotify/events.h), and the app's events_user_broken counter moves.
-- `watch start` (status active) or `user add`/a login puts the user back
-- once the operator fixed the field; `user rm` forgets it.
--
-- No extra command per user in the common case: the checks read values
-- already fetched.

-- GUARD_MAX: numbers at or above it are not exact in a double.
local GUARD_MAX = 2 ^ 53
-- GUARD_DUE_MAX_MS: no due time is set further than now + this (30 days):
-- whatever a field or an argument says, a user is never parked for ever.
local GUARD_DUE_MAX_MS = 30 * 86400000

-- GUARD_MAX_TEXT: 2^53 as text; a 16-digit text below it is below 2^53.
local GUARD_MAX_TEXT = '9007199254740992'

-- guard_plain(v): true when the string v is 1-16 decimal digits below 2^53,
-- the form every writer of ours uses: a whole number in [0, 2^53), known
-- without tonumber (whose strtod runs twice, lua_isnumber then
-- lua_tonumber: the costliest thing a claim did per user). Any other text
-- (" 5", "1e3", "-1") is left to guard_int's full check, which decides as
-- it always has.
local function guard_plain(v)
    local n = #v
    return n > 0 and (n < 16 or (n == 16 and v < GUARD_MAX_TEXT)) and not string.find(v, '%D')
end

-- guard_int(v): nil for an absent field (false from HMGET); the number when
-- v is a whole number in [0, 2^53); false when it is malformed.
local function guard_int(v)
    if not v then return nil end
    if guard_plain(v) then
        return v + 0   -- one strtod (tonumber would run two)
    end
    local n = tonumber(v)
    if n == nil or n ~= n or n < 0 or n >= GUARD_MAX or n ~= math.floor(n) then
        return false
    end
    return n
end

-- guard_valid(v): v is absent or guard_int would read it as a number; the
-- check alone, converting nothing in the usual case.
local function guard_valid(v)
    return not v or v == '0' or guard_plain(v) or guard_int(v) ~= false
end

-- guard_reply_int(v): a valid field (guard_valid) as a reply's INT: 0 when
-- absent, the text itself when plain (a decimal string is an INT to
-- include/redis/script_contract.h, and nothing is converted), else its
-- number.
local function guard_reply_int(v)
    if not v then return 0 end
    if v == '0' or guard_plain(v) then return v end
    return tonumber(v) or 0
end

-- guard_due(now, ms): a due time ms from now, bounded to [now, now +
-- GUARD_DUE_MAX_MS], as integer text.
local function guard_due(now, ms)
    ms = tonumber(ms) or 0
    if ms ~= ms or ms < 0 then ms = 0 end
    return string.format('%d', now + math.min(ms, GUARD_DUE_MAX_MS))
end

-- guard_hmget(key, fields): the HMGET's answer, or nil and a reason when
-- the key is not a hash ("<key type> where a hash should be").
local function guard_hmget(key, fields)
    local h = redis.pcall('HMGET', key, unpack(fields))
    if type(h) == 'table' and h.err then
        local t = redis.call('TYPE', key)
        return nil, 'key: ' .. tostring(t.ok or t) .. ' where a hash should be'
    end
    return h
end

-- guard_fields(h, H, names): the first of names whose value in h (H: each
-- name's place) is present but malformed, or nil when all are fine.
local function guard_fields(h, H, names)
    for i = 1, #names do
        local f = names[i]
        if not guard_valid(h[H[f]]) then
            return f
        end
    end
    return nil
end

-- guard_bad_field(f): the reason recorded for a malformed field f.
local function guard_bad_field(f)
    return f .. ': not a whole number of ms or count in [0, 2^53)'
end

-- guard_broken(g, user, key, reason, now, is_hash): sets user aside (see
-- the header). g: broken_key, stream_key, channel_prefix, maxlen, and
-- count(field, n) for the app's counters. The caller takes the user off
-- the due set (it keeps a list of the users leaving it).
local function guard_broken(g, user, key, reason, now, is_hash)
    if is_hash then
        redis.call('HSET', key, 'status', 'broken', 'reason', reason)
    else
        redis.call('HSET', g.broken_key, user, reason)
    end
    -- Its id continues the user's event_seq (README "Events"); seq 0 when
    -- there is none to continue: the key is not a hash, or event_seq is
    -- the malformed field (left as found).
    local seq = 0
    if is_hash then
        local r = redis.pcall('HINCRBY', key, 'event_seq', 1)
        if type(r) == 'number' then
            seq = r
        end
    end
    local id = user .. ':' .. string.format('%d', seq)
    local ev = '{"id":' .. cjson.encode(id) .. ',"type":"user_broken","user":' .. cjson.encode(user) ..
               ',"at":' .. string.format('%d', now) .. ',"reason":' .. cjson.encode(reason) .. '}'
    redis.call('PUBLISH', g.channel_prefix .. user, ev)
    redis.call('XADD', g.stream_key, 'MAXLEN', '~', g.maxlen, '*', 'user', user, 'id', id, 'type',
               'user_broken', 'event', ev)
    g.count('events_user_broken', 1)
    redis.log(redis.LOG_WARNING, 'spotwatch: user ' .. user .. ' set aside as broken: ' .. reason)
end

-- guard_counters(key, counts): adds counts (field -> n) to the counter hash
-- key and cannot fail: each HINCRBY is a redis.pcall (no extra command when
-- all is well); a field that is not an integer (or would overflow) is reset
-- to n, and repaired_<field> counted and logged. A key that is not a hash is
-- left alone (logged): its counters are lost, nothing else is. Called last,
-- after the limiter's state, so a poisoned counter never costs a 429 block.
local function guard_counters(key, counts)
    for f, n in pairs(counts) do
        local r = redis.pcall('HINCRBY', key, f, string.format('%d', n))   -- text: no "%.17g"
        if type(r) == 'table' and r.err then
            if redis.call('TYPE', key).ok ~= 'hash' then
                redis.log(redis.LOG_WARNING, 'spotwatch: ' .. key .. ' is not a hash; counters not kept')
                return
            end
            redis.log(redis.LOG_WARNING, 'spotwatch: ' .. key .. ' ' .. f .. ' was not an integer; repaired')
            redis.call('HSET', key, f, n)
            redis.call('HINCRBY', key, 'repaired_' .. f, 1)
        end
    end
end
