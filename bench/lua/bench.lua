-- wrk script for `python -m bench.run`: the request shape comes from the environment, an optional
-- fixed rate paces the requests, and done() prints one "BENCH_JSON {...}" line the runner parses.
--
--   BENCH_METHOD  GET (default) or POST ...       BENCH_BODY  request body (optional)
--   BENCH_RATE    requests per second for each wrk thread; 0 or unset = as fast as possible
--
-- Fixed rate: wrk calls delay() before each request and waits that many milliseconds; latency is timed
-- from the moment the request is written, so the wait is never counted. Each thread hands out send
-- slots 1000/BENCH_RATE ms apart on a monotonic clock (LuaJIT FFI clock_gettime): a slow answer makes
-- the next requests go at once until the schedule is caught up, so the mean rate holds.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
if body ~= nil and body ~= "" then
  wrk.body = body
end

local rate = tonumber(os.getenv("BENCH_RATE") or "0") or 0
if rate > 0 then
  local interval = 1000 / rate
  local next_slot = nil
  function delay()
    local now = now_ms()
    if next_slot == nil or next_slot < now - 1000 then
      next_slot = now -- start, or more than a second behind: restart the schedule rather than burst
    end
    local wait = next_slot - now
    next_slot = next_slot + interval
    if wait <= 0 then
      return 0
    end
    return math.floor(wait + 0.5)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)
  ))
end
