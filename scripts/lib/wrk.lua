-- wrk script for scripts/bench-http.
--
-- With BENCH_SK set, every request is `POST /api/data` with that secret key and an
-- `X-User-Id` of BENCH_USER_PREFIX followed by a number: 1 when BENCH_USERS is 1
-- (one hot customer), else a number from 1 to BENCH_USERS drawn at random.
-- With BENCH_CK also set, every request is instead `POST /api/keys/verify` of that
-- customer key with `amount` 1 (verify and count, the customer-key hot path).
-- With BENCH_METER set, each track counts that meter (`{"meter": …}` body).
-- Without BENCH_SK, wrk's own request (GET of the URL) is sent.
-- At the end one line is printed for the script to parse:
--   BENCH rps=… p50_us=… p99_us=… requests=… non2xx=… errors=…

local sk = os.getenv("BENCH_SK")
if sk == "" then
  sk = nil
end
local ck = os.getenv("BENCH_CK")
if ck == "" then
  ck = nil
end
local meter = os.getenv("BENCH_METER")
if meter == "" then
  meter = nil
end
local users = tonumber(os.getenv("BENCH_USERS") or "1")
local prefix = os.getenv("BENCH_USER_PREFIX") or "bench-user-"
local prepared = {}

local function track_request(n)
  if meter then
    local body = '{"meter":"' .. meter .. '"}'
    return wrk.format("POST", "/api/data", {
      ["Authorization"] = "Bearer " .. sk,
      ["X-User-Id"] = prefix .. n,
      ["Content-Type"] = "application/json",
      ["Content-Length"] = tostring(#body),
    }, body)
  end
  return wrk.format("POST", "/api/data", {
    ["Authorization"] = "Bearer " .. sk,
    ["X-User-Id"] = prefix .. n,
    ["Content-Length"] = "0",
  })
end

local function verify_request()
  local body = '{"key":"' .. ck .. '","amount":1}'
  return wrk.format("POST", "/api/keys/verify", {
    ["Authorization"] = "Bearer " .. sk,
    ["Content-Type"] = "application/json",
    ["Content-Length"] = tostring(#body),
  }, body)
end

function init(args)
  math.randomseed(os.time())
  if sk and ck then
    prepared[1] = verify_request()
    users = 1
  elseif sk then
    -- Formatted once: the load generator's own cost stays out of the figures.
    for n = 1, users do
      prepared[n] = track_request(n)
    end
  end
end

function request()
  if not sk then
    return wrk.request()
  end
  if users == 1 then
    return prepared[1]
  end
  return prepared[math.random(users)]
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "BENCH rps=%.1f p50_us=%d p99_us=%d requests=%d non2xx=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), summary.requests,
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
