-- Check-in PUTs to fresh UUIDs, one signed-in patient per connection (wrk -t N -c N).
-- The same script drives the bare baseline route, which ignores the cookie and token.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
setup = common.setup
done = common.done

function init(args)
   statuses = {}
   math.randomseed(os.time() * 1000 + index * 7919)
   cookie, csrf = common.session(index)
   headers = { ["Content-Type"] = "application/json", ["Cookie"] = cookie, ["X-CSRFToken"] = csrf }
end

function request()
   return wrk.format("PUT", "/api/v1/checkins/" .. common.uuid4(), headers, common.checkin_body())
end

function response(status, headers, body)
   common.count(status)
end
