-- consume_usage, executed atomically by Redis: the receipt (a retry of an
-- accepted consume is answered, not counted), the usage rule with credits
-- (dream_core::decide_usage: the allowance first, then credits, all or nothing),
-- the rate rule (dream_core::gcra), then every write, or no write at all.
--
-- KEYS[1]  usage hash of the tenant's meter and period: customer id -> units
-- KEYS[2]  usage total of the tenant's period (only touched when ARGV[14] is 1,
--          i.e. for the requests meter)
-- KEYS[3]  the customer's GCRA theoretical arrival time (TAT), microseconds
-- KEYS[4]  last-consumed hash of the tenant: customer id -> RFC 3339 time
-- KEYS[5]  credits hash of the customer: meter -> balance (only read when the
--          allowance cannot hold the amount)
-- KEYS[6]  the customer key's GCRA TAT, microseconds (only read or written when
--          ARGV[18] > 0; the caller passes a placeholder otherwise)
-- KEYS[7]  (only when the call has a receipt) the receipt:
--          "<used> <unix seconds> <nanoseconds> <credits spent>" of the consume
--          that wrote it (receipts written before credits have no 4th field: 0)
-- ARGV[1]  customer id
-- ARGV[2]  amount, 0 <= amount <= 2 * MAX (larger amounts arrive as 2 * MAX)
-- ARGV[3]  limit, or -1 for none (Unlimited, or a limit above MAX)
-- ARGV[4]  rate per minute (>= 1), or 0 for no rate limit
-- ARGV[5]  now, microseconds since the epoch, |now| <= 2^52
-- ARGV[6]  now as RFC 3339 text, stored verbatim for last_consumed_at
-- ARGV[7]  TTL (ms) of the period's keys, or 0: they never expire (lifetime)
-- ARGV[8]  rate key TTL (ms), longer than the 60 s window
-- ARGV[9]  MAX = 2^51, the largest counter or period total this store keeps
-- ARGV[10] now: whole Unix seconds    } compared as a pair with a receipt's time,
-- ARGV[11] now: nanoseconds past them } exactly as the caller's clock has it
-- ARGV[12] how long a receipt replays, whole seconds
-- ARGV[13] receipt key TTL (ms), longer than that
-- ARGV[14] 1 when the period total counts this meter (requests), else 0
-- ARGV[15] TTL (ms) of the last-consumed hash
-- ARGV[16] the meter's name: the field of KEYS[5]
-- ARGV[17] MAX_CREDIT_BALANCE = 2^50, the largest balance a grant writes
-- ARGV[18] the customer key's rate per minute (>= 1), or 0 for no key window
-- ARGV[19] what the call costs in the key's window (>= 1, <= 2^31)
--
-- Returns {status, value, credits}:
--   {0, used, spent}  accepted; used includes this call, spent is the credits it
--                     took (for a replayed receipt: what the call that wrote it
--                     answered)
--   {1, used, 0}      usage limit reached (credits too few); nothing written
--   {2, start, 0}     rate limited; nothing written; start = max(TAT, now), from
--                     which the caller derives retry_after_ms with dream_core::gcra
--   {5, start, 0}     the same for the customer key's window
--   {3, 0, 0}         the counter or the period total would pass MAX; nothing
--                     written
--   {4, 0, 0}         a stored value is not one this script writes; nothing
--                     written
--
-- Lua numbers are IEEE doubles, exact for integers below 2^53. Every number that
-- takes part in a decision stays below that: counters and period totals <= 2^51
-- (checked before anything is written), amount <= 2^52 and balances <= 2^50, so
-- their sums and differences stay under 2^53; |now| <= 2^52 µs (about the year
-- 2112) and a stored TAT is at most 60 s after an earlier now. Clamping the
-- amount at 2^52 keeps decide_usage exact: a clamped amount needs at least
-- 2^52 - 2^51 > 2^50 credits, more than any balance, as the real amount does.
-- The one product that can be larger, interval * amount, only decides "past the
-- window or not", and rounding never brings a product above 2^53 back under
-- 60 000 000. Receipt times are compared as (seconds, nanoseconds) pairs, each
-- small. Numbers are written with string.format('%.0f'), exact for any integral
-- double and independent of how redis.call happens to print numbers; Lua's own
-- tostring (and `..`) would print 14 significant digits and silently round a
-- microsecond timestamp or a large counter.
--
-- Atomicity: Redis runs the script alone, but does not roll back writes made
-- before an error. So every check (types included: HGET and GET fail on a key of
-- another type) happens before the first write, and the first write, HSET on
-- KEYS[4], is the only one that can still fail (a wrong type); after it nothing
-- can fail. Redis also refuses a script for lack of memory only at its first write.
-- Concurrent retries of one receipt therefore see either no receipt or the whole
-- consume: exactly one of them counts.
--
-- Cost on the hot path (within the allowance): the credits hash is never read,
-- so a call that needs no credits runs the same commands as before credits.

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
local counts_total = ARGV[14] == '1'

-- 0. Receipt: replay while (written + retention) is later than now.
local raw
if KEYS[7] then
  raw = redis.call('GET', KEYS[7])
  if raw then
    local r_used, r_secs, r_nanos, r_credits =
      string.match(raw, '^(%d+) (%-?%d+) (%d+) (%d+)$')
    if not r_used then
      r_used, r_secs, r_nanos = string.match(raw, '^(%d+) (%-?%d+) (%d+)$')
      r_credits = '0'
    end
    if not r_used then return {4, 0, 0} end
    local until_secs = tonumber(r_secs) + tonumber(ARGV[12])
    local now_secs = tonumber(ARGV[10])
    if until_secs > now_secs
        or (until_secs == now_secs and tonumber(r_nanos) > tonumber(ARGV[11])) then
      return {0, tonumber(r_used), tonumber(r_credits)}
    end
  end
end

local used = 0
raw = redis.call('HGET', KEYS[1], customer)
if raw then
  used = int(raw)
  if not used then return {4, 0, 0} end
end

-- 1. Usage: decide_usage(used, amount, limit, credits). The balance is read only
-- when the allowance cannot hold the amount.
local spend = 0
if limit >= 0 and used + amount > limit then
  local balance = 0
  raw = redis.call('HGET', KEYS[5], ARGV[16])
  if raw then
    balance = int(raw)
    if not balance or balance < 0 or balance > tonumber(ARGV[17]) then
      return {4, 0, 0}
    end
  end
  spend = amount - math.max(limit - used, 0)
  if spend > balance then
    return {1, used, 0}
  end
end

local total = 0
if counts_total then
  raw = redis.call('GET', KEYS[2])
  if raw then
    total = int(raw)
    if not total then return {4, 0, 0} end
  end
end
if used + amount > max or total + amount > max then
  return {3, 0, 0}
end

-- 2. Rate: gcra(tat, now, rate, cost) for the customer's window, then the key's.
-- Returns the new TAT, or nil and the start to answer with.
local function gcra(key, per_minute, cost)
  local tat = now
  local stored = redis.call('GET', key)
  if stored then
    tat = int(stored)
    if not tat then return nil, nil end
  end
  local start = math.max(tat, now)
  -- Integer division: exact, since a quotient just below an integer is at least
  -- 1/rate below it, far more than a double's rounding.
  local interval = math.floor(WINDOW_US / per_minute)
  local next_tat = start + interval * cost
  if next_tat - WINDOW_US > now then
    return nil, start
  end
  return next_tat, nil
end

local new_tat = nil
if rate > 0 then
  local start
  new_tat, start = gcra(KEYS[3], rate, amount)
  if start then return {2, start, 0} end
  if not new_tat then return {4, 0, 0} end
end
local key_rate = tonumber(ARGV[18])
local new_key_tat = nil
if key_rate > 0 then
  local start
  new_key_tat, start = gcra(KEYS[6], key_rate, tonumber(ARGV[19]))
  if start then return {5, start, 0} end
  if not new_key_tat then return {4, 0, 0} end
end

-- 3. Commit.
redis.call('HSET', KEYS[4], customer, ARGV[6])
local new_used = redis.call('HINCRBY', KEYS[1], customer, ARGV[2])
if counts_total then
  redis.call('INCRBY', KEYS[2], ARGV[2])
end
if spend > 0 then
  redis.call('HINCRBY', KEYS[5], ARGV[16], string.format('%.0f', -spend))
end
if new_tat then
  redis.call('SET', KEYS[3], string.format('%.0f', new_tat), 'PX', ARGV[8])
end
if new_key_tat then
  redis.call('SET', KEYS[6], string.format('%.0f', new_key_tat), 'PX', ARGV[8])
end
if KEYS[7] then
  redis.call('SET', KEYS[7],
    string.format('%.0f', new_used) .. ' ' .. ARGV[10] .. ' ' .. ARGV[11]
      .. ' ' .. string.format('%.0f', spend),
    'PX', ARGV[13])
end
if ARGV[7] ~= '0' then
  extend(KEYS[1], ARGV[7])
  if counts_total then
    extend(KEYS[2], ARGV[7])
  end
end
extend(KEYS[4], ARGV[15])
return {0, new_used, spend}
