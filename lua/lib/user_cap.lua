-- lib/user_cap.lua: the app's user cap (max_users in <p>{<app>}:app: `app
-- add --max-users N`; 5 for a new development-mode app, as Spotify allows;
-- absent or 0: no cap), checked by user_put.lua and oauth_store.lua in the
-- same step as the write, so two logins racing for the last place cannot
-- both take it. serve and the CLI check earlier too, before any Spotify
-- call; this check is the one that decides.
--
-- The app's users are the directory entries (<p>users, user -> app) naming
-- it: `user rm` removes a user's entry, so a removed user frees a place. A
-- user already in the app (re-connecting, new tokens) is not a new user and
-- is never refused. Counting reads the whole directory (HSCAN, stopping at
-- the cap), so it is done only for a capped app and a user id new to it.

-- user_cap_full(app_key, users_key, app, user): the app's cap when the app
-- is capped, user is not already one of its users, and the app has cap
-- users; else 0. A max_users that is not a whole number >= 0 is read as no
-- cap (a bad record never stops a login; `app show` shows it).
local function user_cap_full(app_key, users_key, app, user)
    local cap = tonumber(redis.call('HGET', app_key, 'max_users') or '')
    if cap == nil or cap ~= cap or cap <= 0 or cap ~= math.floor(cap) then
        return 0
    end
    if redis.call('HGET', users_key, user) then
        return 0   -- in this app already (or in another: user_record_put refuses that)
    end
    local n, cursor = 0, '0'
    repeat
        local page = redis.call('HSCAN', users_key, cursor, 'COUNT', 1000)
        cursor = page[1]
        local kv = page[2]
        for i = 2, #kv, 2 do
            if kv[i] == app then
                n = n + 1
                if n >= cap then
                    return cap
                end
            end
        end
    until cursor == '0'
    return 0
end
