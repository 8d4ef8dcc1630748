-- lib/schedule.lua: the schedule's own sorted sets, due and leases, checked
-- where claim.lua first reads them and rebuilt when one holds another type
-- (a hand-made mistake: `SET <p>{app}:due x`), so that it stops no app.
-- Needs lib/zset.lua (zset_is_bad, zset_reset, zset_try).
--
-- The rebuild: each of the two that is neither a sorted set nor absent is
-- deleted (repaired_due, repaired_leases counted in :stats, logged); then
-- every member of the app (<p>{<app>}:members, the set every user record
-- joins: lua/lib/user_record.lua) whose hash says status active and that
-- neither set holds is due at once. A user whose lease was lost with the
-- leases set is polled again; its old worker's completion then finds its
-- fence moved on and writes nothing. A members key that is not a set
-- rebuilds nothing (counted as repaired_members_unreadable): the users come
-- back as they are watched again. One pass over the app's users, once per
-- repair: up to three commands per user (two ZSCORE, one HGET).

-- schedule_new(due_key, lease_key, members_key, user_prefix, now_s, count):
-- what the rebuild needs; count(field, n) adds to the app's counters.
local function schedule_new(due_key, lease_key, members_key, user_prefix, now_s, count)
    return {due = due_key, leases = lease_key, members = members_key, prefix = user_prefix, now_s = now_s,
            count = count}
end

local function schedule_type(key)
    local t = redis.call('TYPE', key)
    return t.ok or t
end

-- schedule_rebuild(S): the repair above.
local function schedule_rebuild(S)
    for _, name in ipairs({'due', 'leases'}) do
        local t = schedule_type(S[name])
        if t ~= 'zset' and t ~= 'none' then
            zset_reset(S[name], name, S.count)
        end
    end
    local members = redis.pcall('SMEMBERS', S.members)
    if type(members) == 'table' and members.err then   -- not a set
        S.count('repaired_members_unreadable', 1)
        return
    end
    local back = {}
    for _, u in ipairs(members) do
        if not redis.call('ZSCORE', S.due, u) and not redis.call('ZSCORE', S.leases, u) then
            local h = redis.pcall('HGET', S.prefix .. u, 'status')
            if h == 'active' then
                back[#back + 1], back[#back + 2] = S.now_s, u
            end
        end
    end
    zset_add(S.due, back)
end

-- schedule_read(S, cmd, key, ...): redis.call(cmd, key, ...) on due or
-- leases, rebuilding the schedule first when key is of another type.
local function schedule_read(S, cmd, key, ...)
    local r = redis.pcall(cmd, key, ...)
    if zset_is_bad(r) then
        schedule_rebuild(S)
        r = redis.call(cmd, key, ...)
    end
    return r
end

-- schedule_write(cmd, key, list): complete.lua's ZADD or ZREM on due or
-- leases. One of another type is left to the next claim, which rebuilds
-- the schedule (above), instead of failing the script whose limiter state
-- and counters are still to be written; logged.
local function schedule_write(cmd, key, list)
    if not zset_try(cmd, key, list) then
        redis.log(redis.LOG_WARNING, 'spotwatch: ' .. key .. ' is not a sorted set; the next claim rebuilds it')
    end
end
