-- POST /token (the OAuth2 password flow) for a random seeded user: one Argon2id verification and
-- one EdDSA signature per request.
-- wrk -s login.lua http://127.0.0.1:8001 -- <emails file: one per line> <password>
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local emails = {}
local password
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

local function encode(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
  for line in io.lines(args[1]) do emails[#emails + 1] = line end
  password = args[2]
  math.randomseed(tid * 31337)
end

function request()
  local body = "username=" .. encode(emails[math.random(#emails)]) .. "&password=" .. encode(password)
  return wrk.format("POST", "/token", headers, body)
end
