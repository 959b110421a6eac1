-- GETs of one page (BENCH_PATH) by signed-in devices, one session per connection (wrk -t N -c N):
-- the caseload of a therapist (/clinic/) or the integration brief of a patient (/clinic/patients/ID).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
setup = common.setup
done = common.done

function init(args)
   statuses = {}
   cookie, csrf = common.session(index)
   headers = { ["Cookie"] = cookie }
   path = os.getenv("BENCH_PATH")
end

function request()
   return wrk.format("GET", path, headers)
end

function response(status, headers, body)
   common.count(status)
end
