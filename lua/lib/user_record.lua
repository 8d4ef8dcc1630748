-- lib/user_record.lua: the one writer of a user's tokens and registration in
-- <p>{<app>}:user:<u> (README, "Redis key schema"), spliced in where a script
-- says --@include: user_put.lua (`user add`, `user import`) and
-- oauth_store.lua (a finished login) call user_record_put; a refresh
-- (token_store.lua) stores its pair through user_record_tokens.
--
-- Every value is checked before anything is written: Redis does not roll a
-- script back, so a bad argument fails the whole script and leaves the user
-- as it was.
--
-- New tokens bump the user's fence: a poll or refresh still in flight with
-- the old ones is fenced out (complete.lua, refresh_begin.lua compare
-- fences), so its verdict on the old tokens (say reauth_required) cannot
-- land on the new ones. Its lease is left to lapse, and an active user is
-- due again no sooner: two polls of one user never overlap.

-- user_record_bad: the error reply that ends the script, nothing written.
local function user_record_bad(field, why)
    error({err = 'ERR user record: ' .. field .. ' ' .. why})
end

-- user_record_str: s, a string (empty only when may_be_empty).
local function user_record_str(field, s, may_be_empty)
    if type(s) ~= 'string' or (s == '' and not may_be_empty) then
        user_record_bad(field, 'missing')
    end
    return s
end

-- user_record_ms: s as a whole, non-negative number of ms (exact in a double).
local function user_record_ms(field, s)
    local n = tonumber(s)
    if n == nil or n ~= n or n < 0 or n >= 2 ^ 53 or n ~= math.floor(n) then
        user_record_bad(field, 'is not a whole number of ms')
    end
    return n
end

-- user_record_base_scope(s): s grants exactly the base scopes
-- (USER_SCOPE_BASE, include/redis/script_contract.h), in any order: stored
-- as no scope field at all (absent reads as them), since nearly every user
-- has them and a user hash is kept small (README "Redis key schema").
local function user_record_base_scope(s)
    local want, n = {}, 0
    for w in string.gmatch(USER_SCOPE_BASE, '%S+') do
        want[w], n = true, n + 1
    end
    for w in string.gmatch(s, '%S+') do
        if not want[w] then return false end
        want[w], n = nil, n - 1
    end
    return n == 0
end

-- user_record_tokens(t, now, set, del): checks a token pair and appends its
-- fields to set (a list of field, value pairs for one HSET) and to del
-- (fields for one HDEL):
--   t.access_token   sealed, never empty
--   t.lifetime_ms    the access token's lifetime: expires_at = now + it
--   t.refresh_token  sealed, never empty; nil keeps the stored one
--   t.scope          the granted scope (may be ""); nil keeps the stored one;
--                    the base scopes go to del (absent = them)
-- Returns set. Writes nothing and leaves the fence alone: the caller either
-- holds the user's lease with the current fence (a refresh) or goes through
-- user_record_put.
local function user_record_tokens(t, now, set, del)
    set[#set + 1], set[#set + 2] = 'access_token', user_record_str('access_token', t.access_token)
    set[#set + 1], set[#set + 2] = 'expires_at', now + user_record_ms('lifetime_ms', t.lifetime_ms)
    if t.refresh_token ~= nil then
        set[#set + 1], set[#set + 2] = 'refresh_token', user_record_str('refresh_token', t.refresh_token)
    end
    if t.scope ~= nil then
        if user_record_base_scope(user_record_str('scope', t.scope, true)) then
            del[#del + 1] = 'scope'
        else
            set[#set + 1], set[#set + 2] = 'scope', t.scope
        end
    end
    return set
end

-- user_record_put(k, u, now): a user's new tokens and registration, whole.
--   k.user    <p>{<app>}:user:<u>, which must be u.user's key in u.app
--   k.members <p>{<app>}:members, the app's users (SADD here; the user cap
--             counts it). The directory <p>users (user -> app) is another
--             slot: the caller claims the id for u.app there before the
--             script (src/redis/user_dir.c), so a script touches one slot.
--   k.due, k.leases  the app's schedule and leases
--   u.user, u.app    ids
--   u.access_token, u.refresh_token, u.lifetime_ms, u.scope  as
--                    user_record_tokens takes them (all required here)
--   u.set     more field, value pairs to store with them (nil: none)
--   u.watch   true: start watching, as `watch start` does: status active,
--             reason, fails and idle absent (none, 0, 0), interval_ms when u.interval_ms is
--             above 0; due at now + u.due_in_ms, or, with u.keep_due, at the
--             time it is already due if it is. Otherwise a new user is
--             stopped and a known one keeps its status and schedule.
-- authorized_at is now (the refresh token's six months start). The app is
-- the key's hash tag, not a field (an `app` field an earlier release wrote
-- is dropped here, with its done_fence and lease_owner, which complete.lua no
-- longer reads). Returns the new fence.
local function user_record_put(k, u, now)
    local user, app = user_record_str('user', u.user), user_record_str('app', u.app)
    local tail = '{' .. app .. '}:user:' .. user
    if string.sub(k.user, -#tail) ~= tail then
        user_record_bad('user', 'does not match its key')
    end
    local set = {}
    -- Absent: no refresh lock, nothing of an earlier release's left over.
    local del = {'refresh_until', 'refresh_fence', 'app', 'done_fence', 'lease_owner'}
    if u.watch then
        set[#set + 1], set[#set + 2] = 'status', 'active'
    end
    user_record_str('refresh_token', u.refresh_token)
    user_record_str('scope', u.scope, true)
    user_record_tokens(u, now, set, del)
    set[#set + 1], set[#set + 2] = 'authorized_at', now
    for i = 1, #(u.set or {}), 2 do
        set[#set + 1] = user_record_str('field name', u.set[i])
        set[#set + 1] = user_record_str(u.set[i], u.set[i + 1], true)
    end
    local due_at
    if u.watch then
        -- Watched again: no reason, fails and idle 0, all absent (memory).
        del[#del + 1], del[#del + 2], del[#del + 3] = 'reason', 'fails', 'idle'
        local interval = user_record_ms('interval_ms', u.interval_ms or 0)
        if interval > 0 then
            set[#set + 1], set[#set + 2] = 'interval_ms', interval
        end
        due_at = now + user_record_ms('due_in_ms', u.due_in_ms or 0)
    end

    -- Checked: from here on, only writes.
    redis.call('HSET', k.user, unpack(set))
    if not u.watch then
        redis.call('HSETNX', k.user, 'status', 'stopped')
    end
    redis.call('HDEL', k.user, unpack(del))
    local fence = redis.call('HINCRBY', k.user, 'fence', 1)
    redis.call('SADD', k.members, user)

    if u.watch or redis.call('HGET', k.user, 'status') == 'active' then
        local lease = tonumber(redis.call('ZSCORE', k.leases, user) or '')
        if lease then
            -- The poll in flight was just fenced out; claim.lua takes the
            -- lease back once it lapses.
            redis.call('ZADD', k.due, math.max(lease, due_at or now), user)
        elseif u.watch and u.keep_due then
            redis.call('ZADD', k.due, 'NX', due_at, user)
        elseif u.watch then
            redis.call('ZADD', k.due, due_at, user)
        end
    end
    return fence
end
