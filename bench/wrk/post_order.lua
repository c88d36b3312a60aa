-- POST /orders as a random seeded buyer (their bearer token), two items, and a unique
-- Idempotency-Key per request (what a careful client sends), so the key path is measured too.
-- wrk -s post_order.lua http://127.0.0.1:8002 -- <run tag> <tokens file: one token per line>
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local tag
local tokens = {}
local counter = 0

function init(args)
  tag = args[1]
  for line in io.lines(args[2]) do tokens[#tokens + 1] = line end
  math.randomseed(tid * 104729)
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"currency":"EUR","items":['
      .. '{"product_id":"sku-%d","quantity":2,"unit_price":1250},'
      .. '{"product_id":"sku-gift","quantity":1,"unit_price":0}]}',
    counter % 97)
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)],
    ["Idempotency-Key"] = string.format("bench-%s-%d-%d", tag, tid, counter),
  }
  return wrk.format("POST", "/orders", headers, body)
end
