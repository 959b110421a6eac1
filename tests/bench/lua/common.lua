-- Shared by the benchmark scripts: one signed-in device per wrk thread (run wrk with -t equal to -c, so
-- each connection has its own session cookie and CSRF token), fresh UUIDs, and a JSON summary at the end.
local M = {}

local counter = 0
local threads = {}

-- Runs in the main Lua state, once per thread before it starts.
function M.setup(thread)
   thread:set("index", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

-- The sessions file has one line per device: "<cookie header>\t<csrf token>\t<patient id>\t<extra>".
function M.session(index)
   local path = os.getenv("BENCH_SESSIONS")
   local lines = {}
   for line in io.lines(path) do
      table.insert(lines, line)
   end
   local line = lines[(index % #lines) + 1]
   local fields = {}
   for value in (line .. "\t"):gmatch("([^\t]*)\t") do
      table.insert(fields, value)
   end
   return fields[1], fields[2], fields[3], fields[4]
end

local hex = "0123456789abcdef"
function M.uuid4()
   local out = {}
   for i = 1, 36 do
      if i == 9 or i == 14 or i == 19 or i == 24 then
         out[i] = "-"
      elseif i == 15 then
         out[i] = "4"
      elseif i == 20 then
         local n = math.random(8, 11)
         out[i] = hex:sub(n + 1, n + 1)
      else
         local n = math.random(0, 15)
         out[i] = hex:sub(n + 1, n + 1)
      end
   end
   return table.concat(out)
end

local notes = {
   "Walked by the river, felt a bit lighter.", "Tired but okay.", "Called an old friend.", "",
   "Hard conversation with my sister.", "Noticed I laughed today.", "", "Work was a lot.",
}
local tags = { "calm", "tired", "hopeful", "anxious", "nature", "friends", "work" }

-- A check-in as the phone sends it (mood 2-9: the low-mood safety rule is not what this measures).
function M.checkin_body()
   return string.format(
      '{"mood":%d,"anxiety":%d,"energy":%d,"sleep_hours":%.1f,"tags":["%s","%s"],"note":"%s","sharing":"shared"}',
      math.random(2, 9), math.random(0, 10), math.random(0, 10), math.random(10, 17) / 2,
      tags[math.random(1, #tags)], tags[math.random(1, #tags)], notes[math.random(1, #notes)])
end

-- Count statuses per thread; the main state adds them up in done().
function M.count(status)
   statuses[status] = (statuses[status] or 0) + 1
end

function M.done(summary, latency, requests)
   local totals = {}
   for _, thread in ipairs(threads) do
      local s = thread:get("statuses")
      for code, n in pairs(s) do
         totals[code] = (totals[code] or 0) + n
      end
   end
   local parts = {}
   for code, n in pairs(totals) do
      table.insert(parts, string.format('"%s":%d', code, n))
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,'
         .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"statuses":{%s}}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout,
      table.concat(parts, ",")))
end

return M
