-- wrk script for bench/run's upload scenario: POSTs the bytes of the file $BENCH_BODY_FILE
-- (a multipart/form-data transcription request) with Content-Type $BENCH_CONTENT_TYPE to the
-- URL on wrk's command line, and prints the same BENCH line as post.lua (its done()).
local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE")

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
