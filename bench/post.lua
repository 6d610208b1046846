-- wrk script for bench/run: POSTs the body in $BENCH_BODY to the URL given on wrk's command
-- line, and prints one machine-readable line at the end:
--   BENCH {"requests":N,"duration_us":N,"bytes":N,"errors":N,"non2xx":N,"p50_us":N,...}
-- "non2xx" counts answers that were not 2xx/3xx; "errors" adds connect, read, write and
-- timeout errors to it. Latency is wrk's: from the request written to the whole response
-- read (for a stream, the last SSE event).
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or '{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]}'
wrk.headers["Content-Type"] = "application/json"
-- bench/run's keys scenario: the client key of the run
if os.getenv("BENCH_AUTH") then wrk.headers["Authorization"] = os.getenv("BENCH_AUTH") end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		'BENCH {"requests":%d,"duration_us":%d,"bytes":%d,"errors":%d,"non2xx":%d,' ..
		'"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
		summary.requests, summary.duration, summary.bytes,
		e.connect + e.read + e.write + e.timeout + e.status, e.status,
		latency:percentile(50), latency:percentile(90), latency:percentile(99),
		latency.max, latency.mean))
end
