-- Requests for the benchmark, and a one-line JSON summary for the harness.
--
-- Arguments (after "--"): mode ("read", "write" or "list"), number of seeded items,
-- a nonce that makes written names unique across runs, and an optional number
-- of responses after which each thread stops (0: run for the duration), the
-- path that writes post to and reads take an id after (default /api/items),
-- and optionally one
-- header every request carries ("Name: value", e.g. a tenant's X-Tenant).
--
-- "list" asks for a page of 20 items that starts at a random item: the cursor
-- the API would hand out for it (base64url of "k1:<id>", see pagination.py).

local threads = {}
local json_headers = { ["Content-Type"] = "application/json" }
local read_headers = {}

function setup(thread)
   thread:set("id", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   mode = args[1] or "read"
   items = tonumber(args[2] or "1000")
   nonce = args[3] or "run"
   stop_after = tonumber(args[4] or "0")
   write_path = args[5] or "/api/items"
   read_prefix = write_path .. "/"
   extra_name, extra_value = string.match(args[6] or "", "^([^:]+):%s*(.*)$")
   if extra_name then
      json_headers[extra_name] = extra_value
      read_headers[extra_name] = extra_value
   end
   counter = 0
   responses = 0
   math.randomseed(os.time() * 1000 + id)
end

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

-- base64url without padding, as the API writes its cursors.
local function base64url(text)
   local out = {}
   for i = 1, #text, 3 do
      local a, b, c = string.byte(text, i, i + 2)
      local n = a * 65536 + (b or 0) * 256 + (c or 0)
      local chars = b == nil and 2 or (c == nil and 3 or 4)
      for j = 1, chars do
         local index = math.floor(n / 2 ^ (6 * (4 - j))) % 64
         out[#out + 1] = ALPHABET:sub(index + 1, index + 1)
      end
   end
   return table.concat(out)
end

function request()
   if mode == "list" then
      local after = math.random(0, items - 20)
      return wrk.format(
         "GET", write_path .. "?limit=20&cursor=" .. base64url("k1:" .. after), read_headers
      )
   end
   if mode == "write" then
      counter = counter + 1
      local body = string.format(
         '{"name":"w-%s-%d-%d","description":"written by the benchmark"}', nonce, id, counter
      )
      return wrk.format("POST", write_path, json_headers, body)
   end
   return wrk.format("GET", read_prefix .. math.random(1, items), read_headers)
end

function response(status, headers, body)
   if stop_after > 0 then
      responses = responses + 1
      if responses >= stop_after then
         wrk.thread:stop()
      end
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,' ..
      '"write":%d,"status":%d,"timeout":%d},"latency_us":{"p50":%d,"p90":%d,"p99":%d,' ..
      '"max":%d,"mean":%.1f}}\n',
      summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean
   ))
end
