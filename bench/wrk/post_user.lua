-- POST /users with a unique e-mail on every request (run tag, wrk thread, counter) and a
-- password: each registration pays one Argon2id hash.
-- wrk -s post_user.lua http://127.0.0.1:8001 -- <run tag>
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local tag
local counter = 0
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  tag = args[1] or tostring(os.time())
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"name":"Bench User %d","email":"bench-%s-%d-%d@example.com","password":"bench password"}',
    counter, tag, tid, counter)
  return wrk.format("POST", "/users", headers, body)
end
