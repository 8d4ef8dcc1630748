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
