-- The 90/10 mix: nine check-in PUTs to fresh UUIDs for every read. Reads alternate between what a
-- patient's phone syncs (their check-ins of the last week) and what their therapist opens (the caseload
-- and the integration brief). Sessions line: cookie, csrf, patient id, therapist cookie|csrf.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
setup = common.setup
done = common.done

function init(args)
   statuses = {}
   math.randomseed(os.time() * 1000 + index * 7919)
   local cookie, csrf, patient, therapist_cookie = common.session(index)
   put_headers = { ["Content-Type"] = "application/json", ["Cookie"] = cookie, ["X-CSRFToken"] = csrf }
   get_headers = { ["Cookie"] = cookie }
   therapist_headers = { ["Cookie"] = therapist_cookie }
   since = os.date("!%Y-%m-%d", os.time() - 7 * 86400)
   brief = os.getenv("BENCH_BRIEF_PATH")
   n = 0
end

function request()
   n = n + 1
   if n % 10 ~= 0 then
      return wrk.format("PUT", "/api/v1/checkins/" .. common.uuid4(), put_headers, common.checkin_body())
   end
   local which = (n / 10) % 3
   if which == 0 then
      return wrk.format("GET", "/api/v1/checkins?since=" .. since, get_headers)
   elseif which == 1 then
      return wrk.format("GET", "/clinic/", therapist_headers)
   end
   return wrk.format("GET", brief, therapist_headers)
end

function response(status, headers, body)
   common.count(status)
end
