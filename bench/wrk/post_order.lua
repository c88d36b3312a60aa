-- POST /orders for a random existing user in [first, last], two items, and a unique
-- Idempotency-Key per request (what a careful client sends), so the key path is measured too.
-- wrk -s post_order.lua http://127.0.0.1:8002 -- <run tag> 1 200
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local tag, first, last
local counter = 0

function init(args)
  tag, first, last = args[1], tonumber(args[2]), tonumber(args[3])
  math.randomseed(tid * 104729)
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"user_id":%d,"currency":"EUR","items":['
      .. '{"product_id":"sku-%d","quantity":2,"unit_price":1250},'
      .. '{"product_id":"sku-gift","quantity":1,"unit_price":0}]}',
    math.random(first, last), counter % 97)
  local headers = {
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("bench-%s-%d-%d", tag, tid, counter),
  }
  return wrk.format("POST", "/orders", headers, body)
end
