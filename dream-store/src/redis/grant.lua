-- grant_credits, executed atomically by Redis: a grant id seen before adds
-- nothing and answers the balance its first grant produced; otherwise the
-- balance grows by the amount unless that would pass MAX_CREDIT_BALANCE.
--
-- KEYS[1]  the grant id's key (per tenant): the balance right after its grant
-- KEYS[2]  credits hash of the customer: meter -> balance
-- ARGV[1]  the meter's name: the field of KEYS[2]
-- ARGV[2]  amount, 0 <= amount <= MAX_CREDIT_BALANCE + 1 (larger amounts arrive
--          as MAX_CREDIT_BALANCE + 1: refused either way)
-- ARGV[3]  MAX_CREDIT_BALANCE = 2^50
-- ARGV[4]  TTL (ms) of the grant id's key
--
-- Returns {status, balance}:
--   {0, balance}  granted; the balance after it
--   {1, balance}  the grant id was seen before; its first grant's balance
--   {2, 0}        the balance would pass MAX_CREDIT_BALANCE; nothing written
--   {3, 0}        a stored value is not one dream writes; nothing written
--
-- Balances and amounts stay at most 2^50 + 1, so their sum is exact in Lua's
-- doubles. Every check (the types of both keys included) happens before the
-- first write, HINCRBY, which can then no longer fail; SET cannot fail.

local function int(raw)
  if raw and string.match(raw, '^%d+$') then
    return tonumber(raw)
  end
  return nil
end

local max = tonumber(ARGV[3])
local raw = redis.call('GET', KEYS[1])
if raw then
  local first = int(raw)
  if not first then return {3, 0} end
  return {1, first}
end

local balance = 0
raw = redis.call('HGET', KEYS[2], ARGV[1])
if raw then
  balance = int(raw)
  if not balance or balance > max then return {3, 0} end
end
if balance + tonumber(ARGV[2]) > max then
  return {2, 0}
end

local after = redis.call('HINCRBY', KEYS[2], ARGV[1], ARGV[2])
redis.call('SET', KEYS[1], string.format('%.0f', after), 'PX', ARGV[4])
return {0, after}
