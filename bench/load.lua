-- wrk script for bench/run.py: every request a patient the server has never seen.
--
--   wrk -t2 -c8 -d10s -s bench/load.lua URL -- TEMPLATE RUN
--
-- TEMPLATE is one hook request whose patient id, hookInstance, resource ids and references each end
-- in the marker "@@N@@" (bench/run.py patient_template). Each request replaces every marker with a
-- suffix no other request of any thread or run uses (RUN, the thread's number, a counter), so the
-- clinical content, hence the work, stays the same while no id repeats. done() prints one JSON line.

local marker = "@@N@@"
local threads = {}
local pieces, run, number = {}, "", 0

function setup(thread)
  thread:set("id", #threads + 1)
  threads[#threads + 1] = thread
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local template = file:read("*a")
  file:close()
  run = args[2] or "run"
  local start = 1
  while true do
    local at, stop = template:find(marker, start, true)
    if not at then break end
    pieces[#pieces + 1] = template:sub(start, at - 1)
    start = stop + 1
  end
  pieces[#pieces + 1] = template:sub(start)
end

function request()
  number = number + 1
  local body = table.concat(pieces, "-" .. run .. "-" .. id .. "-" .. number)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "errors": %d, "seconds": %.3f, "p50": %.3f, "p99": %.3f, "max": %.3f}\n',
    summary.requests, errors.connect + errors.read + errors.write + errors.status + errors.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
