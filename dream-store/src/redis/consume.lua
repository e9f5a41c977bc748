-- consume_usage, executed atomically by Redis: the receipt (a retry of an
-- accepted consume is answered, not counted), the usage rule
-- (dream_core::within_limit), the rate rule (dream_core::gcra), then every write,
-- or no write at all.
--
-- KEYS[1]  usage hash of the tenant's period: customer id -> units counted
-- KEYS[2]  usage total of the tenant's period
-- KEYS[3]  the customer's GCRA theoretical arrival time (TAT), microseconds
-- KEYS[4]  last-consumed hash of the tenant: customer id -> RFC 3339 time
-- KEYS[5]  (only when the call has a receipt) the receipt:
--          "<used> <unix seconds> <nanoseconds>" of the consume that wrote it
-- ARGV[1]  customer id
-- ARGV[2]  amount, 0 <= amount <= MAX + 1 (larger amounts arrive as MAX + 1)
-- ARGV[3]  limit, or -1 for none (Unlimited, or a limit above MAX)
-- ARGV[4]  rate per minute (>= 1), or 0 for no rate limit
-- ARGV[5]  now, microseconds since the epoch, |now| <= MAX
-- ARGV[6]  now as RFC 3339 text, stored verbatim for last_consumed_at
-- ARGV[7]  TTL (ms) of the period's keys and of the last-consumed hash
-- ARGV[8]  rate key TTL (ms), longer than the 60 s window
-- ARGV[9]  MAX = 2^51, the largest counter or period total this store keeps
-- ARGV[10] now: whole Unix seconds    } compared as a pair with a receipt's time,
-- ARGV[11] now: nanoseconds past them } exactly as the caller's clock has it
-- ARGV[12] how long a receipt replays, whole seconds
-- ARGV[13] receipt key TTL (ms), longer than that
--
-- Returns {status, value}:
--   {0, used}   accepted; used includes this call (or, for a replayed receipt,
--               the call that wrote it)
--   {1, used}   usage limit reached; nothing written
--   {2, start}  rate limited; nothing written; start = max(TAT, now), from
--               which the caller derives retry_after_ms with dream_core::gcra
--   {3, 0}      the counter or the period total would pass MAX; nothing written
--   {4, 0}      a stored value is not one this script writes; nothing written
--
-- Lua numbers are IEEE doubles, exact for integers below 2^53. Every number that
-- takes part in a decision stays below that: counters and period totals <= 2^51
-- (checked before anything is written) and amount <= 2^51 + 1, so their sums stay
-- under 2^53; |now| <= 2^52 µs (about the year 2112) and a stored TAT is at most
-- 60 s after an earlier now. The one product that can be larger, interval * amount,
-- only decides "past the window or not", and rounding never brings a product
-- above 2^53 back under 60 000 000. Receipt times are compared as (seconds,
-- nanoseconds) pairs, each small. Numbers are written with string.format('%.0f'),
-- exact for any integral double and independent of how redis.call happens to
-- print numbers; Lua's own tostring (and `..`) would print 14 significant digits
-- and silently round a microsecond timestamp or a large counter.
--
-- Atomicity: Redis runs the script alone, but does not roll back writes made
-- before an error. So every check (types included: HGET and GET fail on a key of
-- another type) happens before the first write, and the first write, HSET on
-- KEYS[4], is the only one that can still fail (a wrong type); after it nothing
-- can fail. Redis also refuses a script for lack of memory only at its first write.
-- Concurrent retries of one receipt therefore see either no receipt or the whole
-- consume: exactly one of them counts.

local WINDOW_US = 60000000 -- dream_core::gcra's burst window: one minute

local function int(raw)
  if raw and string.match(raw, '^%-?%d+$') then
    return tonumber(raw)
  end
  return nil
end

local function extend(key, ttl_ms)
  -- Keeps the later expiry when calls for an older period arrive late.
  if redis.call('PTTL', key) < tonumber(ttl_ms) then
    redis.call('PEXPIRE', key, ttl_ms)
  end
end

local customer = ARGV[1]
local amount = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local rate = tonumber(ARGV[4])
local now = tonumber(ARGV[5])
local max = tonumber(ARGV[9])

-- 0. Receipt: replay while (written + retention) is later than now.
local raw
if KEYS[5] then
  raw = redis.call('GET', KEYS[5])
  if raw then
    local r_used, r_secs, r_nanos = string.match(raw, '^(%d+) (%-?%d+) (%d+)$')
    if not r_used then return {4, 0} end
    local until_secs = tonumber(r_secs) + tonumber(ARGV[12])
    local now_secs = tonumber(ARGV[10])
    if until_secs > now_secs
        or (until_secs == now_secs and tonumber(r_nanos) > tonumber(ARGV[11])) then
      return {0, tonumber(r_used)}
    end
  end
end

local used = 0
raw = redis.call('HGET', KEYS[1], customer)
if raw then
  used = int(raw)
  if not used then return {4, 0} end
end

-- 1. Usage: within_limit(used, amount, limit).
if limit >= 0 and used + amount > limit then
  return {1, used}
end

local total = 0
raw = redis.call('GET', KEYS[2])
if raw then
  total = int(raw)
  if not total then return {4, 0} end
end
if used + amount > max or total + amount > max then
  return {3, 0}
end

-- 2. Rate: gcra(tat, now, rate, amount).
local new_tat = nil
if rate > 0 then
  local tat = now
  raw = redis.call('GET', KEYS[3])
  if raw then
    tat = int(raw)
    if not tat then return {4, 0} end
  end
  local start = math.max(tat, now)
  -- Integer division: exact, since a quotient just below an integer is at least
  -- 1/rate below it, far more than a double's rounding.
  local interval = math.floor(WINDOW_US / rate)
  new_tat = start + interval * amount
  if new_tat - WINDOW_US > now then
    return {2, start}
  end
end

-- 3. Commit.
redis.call('HSET', KEYS[4], customer, ARGV[6])
local new_used = redis.call('HINCRBY', KEYS[1], customer, ARGV[2])
redis.call('INCRBY', KEYS[2], ARGV[2])
if new_tat then
  redis.call('SET', KEYS[3], string.format('%.0f', new_tat), 'PX', ARGV[8])
end
if KEYS[5] then
  redis.call('SET', KEYS[5],
    string.format('%.0f', new_used) .. ' ' .. ARGV[10] .. ' ' .. ARGV[11],
    'PX', ARGV[13])
end
extend(KEYS[1], ARGV[7])
extend(KEYS[2], ARGV[7])
extend(KEYS[4], ARGV[7])
return {0, new_used}
