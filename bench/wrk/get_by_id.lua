-- GET <path prefix>/<id> with a random id in [first, last], with an optional bearer token (the
-- admin's, who may read every user): user-service and baseline GET /users/{id}.
-- wrk -s get_by_id.lua http://127.0.0.1:8001 -- /users/ 1 200 [token]
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local prefix, first, last
local headers = {}

function init(args)
  prefix, first, last = args[1], tonumber(args[2]), tonumber(args[3])
  if args[4] then headers["Authorization"] = "Bearer " .. args[4] end
  math.randomseed(tid * 7919)
end

function request()
  return wrk.format("GET", prefix .. math.random(first, last), headers)
end
