-- wrk script of bench/run. Arguments: MODE DIR
--   get     GET one number, a random one of org 1's (DIR/numbers.txt)
--   list    GET the numbers of the configuration with 1,000 numbers
--   label   PUT a new label on a random number (no carrier call)
--   bind    POST …/sync of a random number of DIR/bind.txt: one push each
--           (a PUT of the same binding no longer reaches the carrier)
--   hang    as bind, on the numbers of DIR/hang.txt (carrier never answers)
--   inbound-N  POST the signed Twilio starts of DIR/inbound-N.txt, each once
--              (threads take alternate lines, so no CallSid is sent twice)
--   forged  POST Twilio starts of the bind account with a wrong signature
--   telnyx-N  POST the signed Telnyx starts of DIR/telnyx-N.txt, each once
--             (Ed25519 over timestamp|body; each answered through the mock API)
--   forged-vonage  POST DIR/forged_vonage.txt: a Vonage start whose token
--                  names a seeded account but is signed with the wrong secret
--   plain   GET / (the ceiling server)
-- done() prints one line: RESULT requests seconds errors non2xx p50_us p99_us

local thread_counter = 0
function setup(thread)
  thread_counter = thread_counter + 1
  thread:set("thread_id", thread_counter)
end

local function lines(path)
  local out = {}
  for line in io.lines(path) do
    if line ~= "" then out[#out + 1] = line end
  end
  return out
end

local function pairs_of(path)
  local out = {}
  for _, line in ipairs(lines(path)) do
    local c, n = line:match("(%d+) (%d+)")
    out[#out + 1] = { c, n }
  end
  return out
end

local mode, targets, list_path, inbound, numbers, telnyx, vonage
local run_path = "/api/v1/telephony/inbound/run"
local base = "/api/v1/organizations/telephony-configs/"

function init(args)
  mode = args[1]
  local dir = args[2]
  math.randomseed(os.time() * 1000 + (thread_id or 0))
  if mode:sub(1, 8) == "inbound-" then
    inbound = {}
    local i = 0
    for line in io.lines(dir .. "/" .. mode .. ".txt") do
      if i % 2 == ((thread_id or 1) - 1) % 2 then
        local sig, body = line:match("([^\t]+)\t(.+)")
        inbound[#inbound + 1] = { sig, body }
      end
      i = i + 1
    end
    return
  elseif mode:sub(1, 7) == "telnyx-" then
    telnyx = {}
    local i = 0
    for line in io.lines(dir .. "/" .. mode .. ".txt") do
      if i % 2 == ((thread_id or 1) - 1) % 2 then
        local ts, sig, body = line:match("([^\t]+)\t([^\t]+)\t(.+)")
        telnyx[#telnyx + 1] = { ts, sig, body }
      end
      i = i + 1
    end
    return
  elseif mode == "forged-vonage" then
    local token, body = lines(dir .. "/forged_vonage.txt")[1]:match("([^\t]+)\t(.+)")
    vonage = { token, body }
    return
  elseif mode == "forged" then
    numbers = lines(dir .. "/inbound_numbers.txt")
    return
  end
  if mode ~= "plain" then
    local key = lines(dir .. "/key")[1]
    wrk.headers["X-API-Key"] = key
    wrk.headers["Content-Type"] = "application/json"
  end
  if mode == "get" or mode == "label" then
    targets = pairs_of(dir .. "/numbers.txt")
  elseif mode == "bind" then
    targets = pairs_of(dir .. "/bind.txt")
  elseif mode == "hang" then
    targets = pairs_of(dir .. "/hang.txt")
  elseif mode == "list" then
    list_path = base .. lines(dir .. "/list_config")[1] .. "/phone-numbers"
  end
end

local counter = 0
function request()
  counter = counter + 1
  if mode == "plain" then
    return wrk.format("GET", "/")
  elseif inbound then
    local r = inbound[(counter - 1) % #inbound + 1]
    return wrk.format("POST", run_path,
      { ["Content-Type"] = "application/x-www-form-urlencoded", ["X-Twilio-Signature"] = r[1] }, r[2])
  elseif telnyx then
    local r = telnyx[(counter - 1) % #telnyx + 1]
    return wrk.format("POST", run_path, { ["Content-Type"] = "application/json",
      ["telnyx-timestamp"] = r[1], ["telnyx-signature-ed25519"] = r[2] }, r[3])
  elseif vonage then
    return wrk.format("POST", run_path,
      { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. vonage[1] }, vonage[2])
  elseif mode == "forged" then
    local to = numbers[math.random(#numbers)]:gsub("%+", "%%2B")
    local body = "AccountSid=ACbench0000000000000000000000000001&ApiVersion=2010-04-01&CallSid=CAforged"
      .. (thread_id or 0) .. "-" .. counter .. "&CallStatus=ringing&Direction=inbound&To=" .. to
    return wrk.format("POST", run_path,
      { ["Content-Type"] = "application/x-www-form-urlencoded", ["X-Twilio-Signature"] = "Zm9yZ2VkIHNpZ25hdHVyZSAyMGI=" }, body)
  elseif mode == "list" then
    return wrk.format("GET", list_path)
  end
  local t = targets[math.random(#targets)]
  local path = base .. t[1] .. "/phone-numbers/" .. t[2]
  if mode == "get" then
    return wrk.format("GET", path)
  elseif mode == "label" then
    return wrk.format("PUT", path, nil, '{"label":"bench ' .. (thread_id or 0) .. "-" .. counter .. '"}')
  else
    return wrk.format("POST", path .. "/sync")
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %.3f %d %d %.0f %.0f\n",
    summary.requests, summary.duration / 1e6,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
