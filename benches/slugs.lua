-- wrk script for benches/redirect.sh: every request asks for a random slug among
-- b1 .. b<SLUGS> (default 10000), so the service works over the whole link set, not one
-- hot cache entry. No response() callback: defining one makes wrk hand every response to
-- Lua, which slows the load generator down more than the servers under test. Status codes
-- other than 2xx/3xx are still counted by wrk itself (summary.errors.status), and done()
-- prints one machine-readable line that redirect.sh parses.

local slugs = tonumber(os.getenv("SLUGS") or "10000")
local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  -- Distinct random sequences per thread.
  math.randomseed(os.time() * 1000 + id * 7919)
end

function request()
  return wrk.format("GET", "/b" .. math.random(1, slugs))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d bytes=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d status_errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
