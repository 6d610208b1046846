/*
 * answer: the overhead header and the early-answer path (see answer.h). Runs
 * in a worker, on the request path: no allocation beyond the error text.
 */
#include "answer.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api_error.h"
#include "clock.h"
#include "http_server.h"
#include "request_stats.h"
#include "str_cat.h"

void answer_add_overhead(struct http_exchange *ex, int64_t overhead_us)
{
	char value[STR_INT_MAX + 4];
	int64_t frac;
	size_t n;

	if (overhead_us < 0)
		overhead_us = 0; /* the clock is monotonic: never, but never "-0.-5" either */
	frac = overhead_us % 1000;
	n = str_int(value, overhead_us / 1000);
	value[n++] = '.';
	value[n++] = (char)('0' + frac / 100);
	value[n++] = (char)('0' + frac / 10 % 10);
	value[n++] = (char)('0' + frac % 10);
	value[n] = '\0';
	HTTP_EXCHANGE_ADD_KNOWN(ex, "x-llmgate-overhead-ms", value);
}

void answer_early(const struct early_answer *e, int status, const char *json)
{
	const struct http_request *req = e->req;
	int64_t now = clock_now_us();
	struct request_record rec =
	        request_record_early(e->id, req->peer, req->method, req->path, req->path_len,
	                             status, req->body_len, strlen(json));

	rec.model = e->model;
	rec.key_id = e->key_id;
	rec.start_us = e->received_us;
	rec.end_us = now;
	answer_add_overhead(e->ex, now - e->received_us);
	request_stats_done(e->stats, &rec);
	api_json_send(e->ex, status, json);
}

void answer_early_error(const struct early_answer *e, int status, const char *code, const char *fmt,
                        ...)
{
	va_list ap;
	char *json;

	va_start(ap, fmt);
	json = api_error_json("invalid_request_error", code, fmt, ap);
	va_end(ap);
	answer_early(e, status, json);
	api_error_json_free(json);
}
