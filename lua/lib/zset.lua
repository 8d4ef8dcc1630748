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

-- zset_is_bad(r): r, a redis.pcall's answer on a sorted set, is the error of
-- a key holding another type (WRONGTYPE). Any other error is raised again,
-- as redis.call would: only the wrong type is repaired.
local function zset_is_bad(r)
    if type(r) ~= 'table' or r.err == nil then return false end
    if string.find(r.err, 'WRONGTYPE', 1, true) then return true end
    error(r)
end

-- zset_reset(key, name, count): a set found holding another type is
-- dropped, logged and counted as repaired_<name> through count(field, n),
-- so one bad key never stops its app's claims or completions.
local function zset_reset(key, name, count)
    redis.log(redis.LOG_WARNING, 'spotwatch: ' .. key .. ' was not a sorted set; reset')
    redis.call('DEL', key)
    count('repaired_' .. name, 1)
end

-- zset_try(cmd, key, list): zset_write (cmd ZADD or ZREM), but false instead
-- of failing the script when key holds another type (the chunks before the
-- one that met it are written, which ZADD and ZREM can repeat).
local function zset_try(cmd, key, list)
    for k = 1, #list, ZSET_CHUNK do
        if zset_is_bad(redis.pcall(cmd, key, unpack(list, k, math.min(k + ZSET_CHUNK - 1, #list)))) then
            return false
        end
    end
    return true
end

-- zset_add_derived(key, list, name, count): zset_add to a set that only
-- speeds work up (the confirm set: every entry is checked against the due
-- set before it is believed), reset first (zset_reset) when it holds
-- another type.
local function zset_add_derived(key, list, name, count)
    if not zset_try('ZADD', key, list) then
        zset_reset(key, name, count)
        zset_add(key, list)
    end
end
