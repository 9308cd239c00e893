-- wrk script: signed GitHub push deliveries for hookd, each with its own
-- X-GitHub-Delivery id and an X-Hub-Signature-256 computed here
-- (HMAC-SHA256 of the body, as GitHub signs).
--
--   wrk -t2 -c16 -d10s -s docs/bench/push.lua http://127.0.0.1:8080/webhooks/github -- SECRET [REPO] [MODE]
--
-- MODE "branch" (default) pushes to main (hookd stores them as ignored);
-- "tag" pushes one annotated assignment tag again and again (TAG, default
-- churn#prod#1, whose tag object is OBJECT when given); "tags" pushes a new
-- assignment tag each request (churn#prod#N, N counting per thread). A
-- tag push names the tag object as "after" and its commit as head_commit,
-- as GitHub does for an annotated tag (were they equal, the tag would be a
-- lightweight one, which GTO never reads).
--
--   wrk ... -s push.lua URL -- SECRET REPO tag TAG OBJECT
local bit = require("bit")
local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local rshift, lshift, ror, tobit = bit.rshift, bit.lshift, bit.ror, bit.tobit

local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

-- sha256 returns the raw 32-byte digest of msg.
local function sha256(msg)
  local len = #msg
  msg = msg .. "\128" .. string.rep("\0", (55 - len) % 64)
  local bits = len * 8
  for i = 7, 0, -1 do
    msg = msg .. string.char(math.floor(bits / 2 ^ (8 * i)) % 256)
  end
  local h = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }
  local w = {}
  for chunk = 1, #msg, 64 do
    for i = 0, 15 do
      local a, b, c, d = msg:byte(chunk + 4 * i, chunk + 4 * i + 3)
      w[i] = bor(lshift(a, 24), lshift(b, 16), lshift(c, 8), d)
    end
    for i = 16, 63 do
      local s0 = bxor(ror(w[i - 15], 7), ror(w[i - 15], 18), rshift(w[i - 15], 3))
      local s1 = bxor(ror(w[i - 2], 17), ror(w[i - 2], 19), rshift(w[i - 2], 10))
      w[i] = tobit(w[i - 16] + s0 + w[i - 7] + s1)
    end
    local a, b, c, d, e, f, g, hh = h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]
    for i = 0, 63 do
      local S1 = bxor(ror(e, 6), ror(e, 11), ror(e, 25))
      local ch = bxor(band(e, f), band(bnot(e), g))
      local t1 = tobit(hh + S1 + ch + K[i + 1] + w[i])
      local S0 = bxor(ror(a, 2), ror(a, 13), ror(a, 22))
      local maj = bxor(band(a, b), band(a, c), band(b, c))
      local t2 = tobit(S0 + maj)
      hh, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + t2)
    end
    h[1], h[2], h[3], h[4] = tobit(h[1] + a), tobit(h[2] + b), tobit(h[3] + c), tobit(h[4] + d)
    h[5], h[6], h[7], h[8] = tobit(h[5] + e), tobit(h[6] + f), tobit(h[7] + g), tobit(h[8] + hh)
  end
  local out = {}
  for i = 1, 8 do
    local v = h[i]
    out[i] = string.char(band(rshift(v, 24), 255), band(rshift(v, 16), 255), band(rshift(v, 8), 255), band(v, 255))
  end
  return table.concat(out)
end

local function xorKey(key, pad)
  return (key:gsub(".", function(c) return string.char(bxor(c:byte(), pad)) end))
end

-- hmacHex is HMAC-SHA256(key, msg) in lower-case hex.
local function hmacHex(key, msg)
  if #key > 64 then key = sha256(key) end
  key = key .. string.rep("\0", 64 - #key)
  local mac = sha256(xorKey(key, 0x5c) .. sha256(xorKey(key, 0x36) .. msg))
  return (mac:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local secret, repo, mode, tag, object
-- me numbers this wrk thread. setup (in wrk's main Lua state) sets the
-- global thread_id in each thread's state; a local of that name here would
-- hide it, and every thread would then send the same delivery ids, half of
-- them read by hookd as GitHub redelivering.
local me, n = 0, 0
local threads_made = 0

function setup(thread)
  threads_made = threads_made + 1
  thread:set("thread_id", threads_made)
end

-- commits pads a push to the 8–10 KB of a push of a few commits.
local function commits(sha)
  local one = '{"id":"%s","tree_id":"%s","distinct":true,"message":"Retrain the churn model",' ..
    '"timestamp":"2026-11-30T10:00:00+01:00","url":"https://github.com/%s/commit/%s",' ..
    '"author":{"name":"Ada Lovelace","email":"ada@example.com","username":"ada"},' ..
    '"committer":{"name":"GitHub","email":"noreply@github.com","username":"web-flow"},' ..
    '"added":["models/churn/model.pkl"],"removed":[],"modified":["dvc.lock","params.yaml","metrics.json"]}'
  local list = {}
  for i = 1, 14 do list[i] = string.format(one, sha, sha, repo, sha) end
  return "[" .. table.concat(list, ",") .. "]", string.format(one, sha, sha, repo, sha)
end

function init(args)
  secret = args[1] or error("usage: wrk ... -s push.lua URL -- SECRET [REPO] [branch|tag|tags] [TAG OBJECT]")
  repo = args[2] or "acme/models"
  mode = args[3] or "branch"
  tag = args[4] or "churn#prod#1"
  object = args[5]
  me = thread_id or 0
  math.randomseed(os.time() * 1000 + me)
end

-- bodies caches signed bodies: the signature covers the body only (the
-- delivery id is a header), so each distinct body is signed once and wrk
-- spends its CPU sending, not hashing.
local bodies = {}

local function signed(key)
  local b = bodies[key]
  if b then return b end
  local sha = string.format("%040x", n * 64 + me)
  local ref, after = "refs/heads/main", sha
  if mode == "tag" then
    ref, after = "refs/tags/" .. tag, object or string.rep("a", 40)
  elseif mode == "tags" then
    ref, after = "refs/tags/churn#prod#" .. key, string.format("%040x", (n * 64 + me) * 2 + 1)
  end
  local list, head = commits(sha)
  local body = string.format('{"ref":"%s","before":"%040d","after":"%s","created":%s,"deleted":false,' ..
    '"commits":%s,"head_commit":%s,"repository":{"id":123456789,"name":"models","full_name":"%s","private":true},' ..
    '"pusher":{"name":"ada","email":"ada@example.com"},"sender":{"login":"ada","id":2}}',
    ref, 0, after, tostring(mode ~= "branch"), list, head, repo)
  b = { body = body, sig = "sha256=" .. hmacHex(secret, body) }
  if mode ~= "tags" then bodies[key] = b end
  return b
end

function request()
  n = n + 1
  local id = string.format("wrk-%d-%d-%d-%d", os.time(), me, n, math.random(1e9))
  local key = "one"
  if mode == "tags" then key = tostring(n * 16 + me) end
  local b = signed(key)
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["X-GitHub-Event"] = "push",
    ["X-GitHub-Delivery"] = id,
    ["X-Hub-Signature-256"] = b.sig,
  }, b.body)
end
