-- lib/zset.lua: sorted-set writes of many members at once, shared by
-- claim.lua and complete.lua (spliced in at build time where a script says
-- --@include; Redis scripts cannot load modules). A script gathers the
-- members a batch moves and writes them here once, not one command per
-- member: each redis.call costs.

-- ZSET_CHUNK: the most arguments one command gets. unpack() puts them all on
-- Lua's C stack (LUAI_MAXCSTACK is 8000); even, so ZADD's score/member pairs
-- never straddle two commands.
local ZSET_CHUNK = 1000

local function zset_write(cmd, key, list)
    for k = 1, #list, ZSET_CHUNK do
        redis.call(cmd, key, unpack(list, k, math.min(k + ZSET_CHUNK - 1, #list)))
    end
end

-- zset_add: ZADD key score1 member1 score2 member2 ... (list holds the pairs flat).
local function zset_add(key, list)
    zset_write('ZADD', key, list)
end

-- zset_rem: ZREM key member1 member2 ...
local function zset_rem(key, list)
    zset_write('ZREM', key, list)
end

-- zset_is_bad(r): r, a redis.pcall's answer, is the error of a key that is
-- not a sorted set.
local function zset_is_bad(r)
    return type(r) == 'table' and r.err ~= nil
end

-- zset_reset(key, count): a derived set (the confirm set: it only orders
-- work, and every entry is checked against the due set before it is
-- believed) found holding another type is dropped, logged and counted as
-- repaired_<name> through count(field, n), so one bad key never stops its
-- app's claims or completions.
local function zset_reset(key, name, count)
    redis.log(redis.LOG_WARNING, 'spotwatch: ' .. key .. ' was not a sorted set; reset')
    redis.call('DEL', key)
    count('repaired_' .. name, 1)
end

-- zset_add_derived(key, list, name, count): zset_add to a derived set,
-- reset first (zset_reset) when it is not a sorted set.
local function zset_add_derived(key, list, name, count)
    if #list == 0 then return end
    if zset_is_bad(redis.pcall('ZADD', key, unpack(list, 1, math.min(ZSET_CHUNK, #list)))) then
        zset_reset(key, name, count)
    elseif #list <= ZSET_CHUNK then
        return
    end
    zset_add(key, list)
end

-- zset_try(cmd, key, list): zset_write (cmd ZADD or ZREM) to a set of the
-- schedule (due, leases) from complete.lua: one holding another type is
-- left as it is and logged instead of failing the script, whose limiter
-- state and counters are still to be written; the next claim rebuilds the
-- schedule (lua/lib/schedule.lua). False when it was.
local function zset_try(cmd, key, list)
    for k = 1, #list, ZSET_CHUNK do
        if zset_is_bad(redis.pcall(cmd, key, unpack(list, k, math.min(k + ZSET_CHUNK - 1, #list)))) then
            redis.log(redis.LOG_WARNING, 'spotwatch: ' .. key .. ' is not a sorted set; the next claim rebuilds it')
            return false
        end
    end
    return true
end
