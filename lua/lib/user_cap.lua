-- lib/user_cap.lua: the app's user cap (max_users in <p>{<app>}:app: `app
-- add --max-users N`; 5 for a new development-mode app, as Spotify allows;
-- absent or 0: no cap), checked by user_put.lua and oauth_store.lua in the
-- same step as the write, so two logins racing for the last place cannot
-- both take it. serve and the CLI check earlier too, before any Spotify
-- call; this check is the one that decides.
--
-- The app's users are the members of <p>{<app>}:members (user_record_put
-- adds them; `user rm` removes them), under the app's hash tag so that the
-- cap is decided in the app's slot, in a cluster too. A user already in the
-- app (re-connecting, new tokens) is not a new user and is never refused.
-- Counting is SCARD: O(1).

-- user_cap_full(app_key, members_key, user): the app's cap when the app is
-- capped, user is not already one of its members, and the app has cap
-- members; else 0. A max_users that is not a whole number >= 0 is read as
-- no cap (a bad record never stops a login; `app show` shows it).
local function user_cap_full(app_key, members_key, user)
    local cap = tonumber(redis.call('HGET', app_key, 'max_users') or '')
    if cap == nil or cap ~= cap or cap <= 0 or cap ~= math.floor(cap) then
        return 0
    end
    if redis.call('SISMEMBER', members_key, user) == 1 then
        return 0
    end
    if redis.call('SCARD', members_key) >= cap then
        return cap
    end
    return 0
end
