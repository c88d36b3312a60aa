-- GET <path prefix>/<id> with a random id in [first, last]: user-service and baseline
-- GET /users/{id}, order-service GET /orders/{id}.
-- wrk -s get_by_id.lua http://127.0.0.1:8001 -- /users/ 1 200
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local prefix, first, last

function init(args)
  prefix, first, last = args[1], tonumber(args[2]), tonumber(args[3])
  math.randomseed(tid * 7919)
end

function request()
  return wrk.format("GET", prefix .. math.random(first, last))
end
