-- release_usage, executed atomically by Redis: gives back up to `amount` units
-- of a customer's count, never below zero, and answers the count after.
--
-- KEYS[1]  usage hash of the tenant's meter and period: customer id -> units
-- KEYS[2]  usage total of the tenant's period (only touched when ARGV[3] is 1,
--          i.e. for the requests meter)
-- ARGV[1]  customer id
-- ARGV[2]  amount, 0 <= amount <= MAX + 1 (larger amounts arrive as MAX + 1:
--          past any counter either way)
-- ARGV[3]  1 when the period total counts this meter (requests), else 0
--
-- Returns {status, used}:
--   {0, used}  the count after the release (0 for a customer never counted:
--              nothing is written then)
--   {4, 0}     a stored value is not one dream writes; nothing written
--
-- Counters and totals are at most 2^51, exact in Lua's doubles. Both values are
-- read and checked before the first write; the writes then cannot fail. Keys are
-- neither created nor given a new expiry: a release only lowers what a consume
-- wrote.

local function int(raw)
  if raw and string.match(raw, '^%d+$') then
    return tonumber(raw)
  end
  return nil
end

local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {0, 0} end
local used = int(raw)
if not used then return {4, 0} end
local give = math.min(used, tonumber(ARGV[2]))

local total = nil
if ARGV[3] == '1' then
  raw = redis.call('GET', KEYS[2])
  if raw then
    total = int(raw)
    if not total then return {4, 0} end
  end
end

if give == 0 then return {0, used} end
local after = redis.call('HINCRBY', KEYS[1], ARGV[1], string.format('%.0f', -give))
if total then
  -- The total holds at least this customer's count unless it expired apart;
  -- never below zero either way.
  redis.call('DECRBY', KEYS[2], string.format('%.0f', math.min(give, total)))
end
return {0, after}
