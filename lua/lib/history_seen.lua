-- lib/history_seen.lua: a user's memory of the plays a history backfill
-- announced (the field backfill_seen), for complete.lua, its one writer.
-- The text and its rules are in include/spotify/history_scan.h:
--   <since>[,<played_at>.<tag>]...   (ms; tag: 8 lower-case hex digits)
-- A play is announced when its key is well formed, its played_at is above
-- the floor, max(since, now - window), and the memory does not hold it; it
-- is then remembered until it leaves the window. An absent field is
-- since = the user's backfill_cursor and no entry; a malformed one reads
-- the same, and is rewritten: no play is announced twice, and the late
-- plays older than the cursor still to come in that window are lost.

-- HISTORY_SEEN_MAX (history_scan.h): the most plays remembered. Beyond it
-- the oldest go, and since rises to the newest of them.
local HISTORY_SEEN_MAX = 400
local HISTORY_NUM_MAX = 9007199254740991   -- 2^53 - 1: exact in a double

-- history_num: a whole decimal number of 1..16 digits below 2^53, or nil.
local function history_num(s)
    if s == nil or #s == 0 or #s > 16 or string.find(s, '[^0-9]') then return nil end
    local v = tonumber(s)
    if v > HISTORY_NUM_MAX then return nil end
    return v
end

-- history_key: the played_at of a well-formed "<played_at>.<tag>", or nil.
local function history_key(k)
    local t, tag = string.match(k, '^([0-9]+)%.([0-9a-f]+)$')
    if t == nil or #tag ~= 8 then return nil end
    return history_num(t)
end

-- history_seen_read(text, cursor): the memory {since, has = {key = ms},
-- n}, and true when text was malformed (then read as absent).
local function history_seen_read(text, cursor)
    local m = {since = cursor, has = {}, n = 0}
    if not text or text == '' then return m, false end
    local since, rest = string.match(text, '^([0-9]+)(.*)$')
    since = history_num(since)
    -- after since: nothing, or ",<key>" pieces that cover the rest
    if since == nil or (rest ~= '' and string.sub(rest, 1, 1) ~= ',') then return m, true end
    local has, n = {}, 0
    for k in string.gmatch(rest, ',([^,]*)') do
        local ms = history_key(k)
        n = n + 1
        if ms == nil or n > HISTORY_SEEN_MAX then return m, true end
        has[k] = ms
    end
    m.since, m.has, m.n = since, has, n
    return m, false
end

-- history_seen_take(m, key, floor): true when the play is to be announced
-- (and m now holds it).
local function history_seen_take(m, key, floor)
    local ms = key and history_key(key)
    if ms == nil or ms <= floor or m.has[key] then return false end
    m.has[key] = ms
    m.n = m.n + 1
    return true
end

-- history_seen_text(m, keep_after): the memory to store, trimmed to the
-- plays after keep_after (the window's start) and to HISTORY_SEEN_MAX, or
-- nil when nothing is left to remember beyond since.
local function history_seen_text(m, keep_after)
    local list = {}
    for k, ms in pairs(m.has) do
        if ms > keep_after then list[#list + 1] = {ms, k} end
    end
    table.sort(list, function(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end)
    local first, since = 1, m.since
    if #list > HISTORY_SEEN_MAX then
        first = #list - HISTORY_SEEN_MAX + 1
        since = math.max(since, list[first - 1][1])
    end
    local parts = {string.format('%d', since)}
    for i = first, #list do parts[#parts + 1] = list[i][2] end
    return table.concat(parts, ','), #list - first + 1, since
end
