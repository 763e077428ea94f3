-- wrk script for benches/zipf.sh: sends each path listed in $ZIPF_PATHS (one per line)
-- once, in the file's order (run it with -t1), then ends the run when the last answer is
-- in: a connection with nothing left to send parks in delay(), and once all $ZIPF_CONNS
-- connections are parked, wrk is sent SIGINT until it ends (a process-wide signal may be
-- taken by the worker thread instead of the main thread that waits for -d).
-- The time is taken from the first request to the last answer (wrk's own duration would
-- count that wait), so RESULT is: requests seconds req/s MB/s p50_ms p99_ms non2xx errors.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } zipf_timespec;
  int clock_gettime(int clk, zipf_timespec *ts);
]]
local ts = ffi.new("zipf_timespec")
local function now()
  ffi.C.clock_gettime(1, ts)            -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local paths, given, parked, started = {}, 0, 0, nil
local conns = tonumber(os.getenv("ZIPF_CONNS"))
for line in io.lines(os.getenv("ZIPF_PATHS")) do paths[#paths + 1] = line end

delay = function()
  started = started or now()
  if given < #paths then
    given = given + 1
    return 0
  end
  parked = parked + 1
  if parked == conns then
    wrk.thread:set("elapsed", now() - started)
    -- popen, not os.execute: system() ignores SIGINT in the caller while it runs
    io.popen("while kill -INT $PPID 2>/dev/null; do sleep 0.05; done")
  end
  return 3600000
end

local i = 0
request = function()
  i = math.min(i + 1, #paths)
  return wrk.format("GET", paths[i])
end

local threads = {}
setup = function(thread) threads[#threads + 1] = thread end

done = function(summary, latency, requests)
  local s = threads[1]:get("elapsed") or summary.duration / 1e6
  local e = summary.errors
  io.write(string.format("RESULT %d %.3f %.1f %.2f %.3f %.3f %d %d\n",
    summary.requests, s, summary.requests / s, summary.bytes / s / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end
