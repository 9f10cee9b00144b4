-- wrk script of scripts/load_test.sh: every connection sends a fixed mix of requests to a
-- running `sam3rt serve` (concept text and object clicks on two cached images, uploads
-- of a small image that push the LRU cache into eviction, health / model / page reads)
-- and each thread stops after requests-per-connection x its connections answers. (wrk's
-- main thread still sleeps for -d: scripts/load_test.sh interrupts it once every worker
-- thread has stopped, which makes wrk report.)
-- Arguments (after --): image id A, image id B, path of the PNG to upload,
-- requests per connection, connections, threads (as given to wrk -c / -t).
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  local a, b, png_path = args[1], args[2], args[3]
  local per_connection, connections, nthreads = tonumber(args[4]), tonumber(args[5]), tonumber(args[6])
  local f = assert(io.open(png_path, "rb"))
  local png = f:read("*a")
  f:close()
  local json = { ["Content-Type"] = "application/json" }
  local image = { ["Content-Type"] = "image/png" }
  local seg = function(id, body) return wrk.format("POST", "/v1/images/" .. id .. "/segment", json, body) end
  -- One cycle of 20 requests: 5 segmentations, 1 upload, 14 reads.
  mix = {
    seg(a, '{"text": "oven", "threshold": 0.3}'),
    wrk.format("GET", "/v1/health"),
    wrk.format("GET", "/v1/model"),
    seg(a, '{"points": [{"x": 160, "y": 210, "label": 1}], "png": true}'),
    wrk.format("GET", "/v1/health"),
    wrk.format("GET", "/"),
    seg(b, '{"text": "handle", "boxes": [{"x1": 10, "y1": 10, "x2": 50, "y2": 40}], "threshold": 0.3}'),
    wrk.format("GET", "/v1/health"),
    wrk.format("GET", "/v1/model"),
    wrk.format("POST", "/v1/images", image, png),
    wrk.format("GET", "/v1/health"),
    seg(b, '{"points": [{"x": 20, "y": 30}, {"x": 60, "y": 40, "label": 0}]}'),
    wrk.format("GET", "/"),
    wrk.format("GET", "/v1/health"),
    wrk.format("GET", "/v1/model"),
    seg(a, '{"mode": "object", "boxes": [{"x1": 40, "y1": 150, "x2": 300, "y2": 420}], "overlay": true}'),
    wrk.format("GET", "/v1/health"),
    wrk.format("GET", "/"),
    wrk.format("GET", "/v1/model"),
    wrk.format("GET", "/v1/health"),
  }
  target = per_connection * connections / nthreads
  counter = id * 7
  answers = 0
  failures = 0
  first_failure = ""
end

function request()
  counter = counter + 1
  return mix[(counter % #mix) + 1]
end

function response(status, headers, body)
  answers = answers + 1
  if status ~= 200 then
    failures = failures + 1
    if first_failure == "" then first_failure = status .. " " .. body end
  end
  if answers >= target then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local answered, failed, first = 0, 0, ""
  for _, t in ipairs(threads) do
    answered = answered + t:get("answers")
    failed = failed + t:get("failures")
    local f = t:get("first_failure")
    if first == "" and f ~= "" then first = f end
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT answered=%d non200=%d connect=%d read=%d write=%d timeout=%d seconds=%.1f rps=%.1f " ..
    "p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f max_ms=%.1f\n",
    answered, failed, e.connect, e.read, e.write, e.timeout, summary.duration / 1e6,
    answered / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
  if first ~= "" then io.write("FIRST_FAILURE " .. first .. "\n") end
end
