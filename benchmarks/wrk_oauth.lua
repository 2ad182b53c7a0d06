-- wrk script for benchmarks/compare.py: every response is checked, and in a "chain" run each
-- connection walks its own refresh-token chain. compare.py replaces the __DATA__ line with a Lua
-- table and runs wrk with as many threads as connections (-t N -c N), so each thread's Lua state
-- serves exactly one connection and holds that connection's chain.
--
-- data = {method, path, headers, kind = "chain" | "fixed", expect (a Lua pattern the body must
--         match), body (fixed), prefix (chain: the body before the token), tokens[tid] (chain: the
--         first token of each connection), spares[tid] (chain: tokens to restart a broken chain),
--         bodies[tid] (fixed, optional: one body per connection), proof_files[tid] (optional: a file
--         of DPoP proofs, one a line, sent one per request in a DPoP header; a proof cannot be signed
--         here, so compare.py signs them before the run)}
local data = __DATA__

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  failures = 0
  checked = 0
  spare = 0
  if data.kind == "chain" then
    token = data.tokens[tid]
  end
  proofs = nil
  if data.proof_files then
    proofs = {}
    for line in io.lines(data.proof_files[tid]) do
      table.insert(proofs, line)
    end
    next_proof = 1
  end
  if data.bodies then
    fixed_body = data.bodies[tid]
  else
    fixed_body = data.body
  end
end

function request()
  local body = fixed_body
  if data.kind == "chain" then
    body = data.prefix .. token
  end
  if proofs then
    -- past the pool's end the proofs repeat, and the server refuses them: counted as failures
    data.headers["DPoP"] = proofs[next_proof] or proofs[1]
    next_proof = next_proof + 1
  end
  return wrk.format(data.method, data.path, data.headers, body)
end

function response(status, headers, body)
  checked = checked + 1
  if status ~= 200 or not string.find(body, data.expect) then
    failures = failures + 1
    if failures <= 2 then
      -- which proof of the pool went with it: a proof sent twice (a pool too short, a request sent
      -- again) shows as a number seen before, or past the pool's end
      local proof = proofs and (" [proof " .. (next_proof - 1) .. " of " .. #proofs .. "]") or ""
      io.stderr:write("WRKFAIL " .. status .. proof .. " " .. string.sub(body, 1, 160) .. "\n")
    end
    if data.kind == "chain" then
      -- the chain is broken (counted as a failure): go on with a spare one
      spare = spare + 1
      local spares = data.spares[tid]
      if spares and spares[spare] then
        token = spares[spare]
      end
    end
    return
  end
  if data.kind == "chain" then
    local successor = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
    if successor then
      token = successor
    else
      failures = failures + 1
    end
  end
end

function done(summary, latency, requests)
  local failed, seen = 0, 0
  for _, thread in ipairs(threads) do
    failed = failed + thread:get("failures")
    seen = seen + thread:get("checked")
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, '
      .. '"timeout": %d, "failures": %d, "checked": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
      .. '"max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout, failed, seen,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
