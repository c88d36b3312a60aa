-- GET a random resource as its owner: lines of "<path> <token>" (order-service GET /orders/{id},
-- each order read with its buyer's token).
-- wrk -s get_owned.lua http://127.0.0.1:8002 -- <requests file>
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local paths, tokens = {}, {}

function init(args)
  for line in io.lines(args[1]) do
    local path, token = line:match("^(%S+) (%S+)$")
    paths[#paths + 1], tokens[#tokens + 1] = path, token
  end
  math.randomseed(tid * 7919)
end

function request()
  local i = math.random(#paths)
  return wrk.format("GET", paths[i], { ["Authorization"] = "Bearer " .. tokens[i] })
end
