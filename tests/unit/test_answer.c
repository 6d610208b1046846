/*
 * Unit tests of the worker's early-answer path (worker/answer.c) with
 * request_stats and a real access log file, the HTTP exchange stubbed: the
 * overhead header, and an answer given before any attempt goes out with its
 * status and body and is logged once with what it has (model, no
 * deployment, route or upstream time).
 */
#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "answer.h"
#include "clock.h"
#include "config.h"
#include "http_server.h"
#include "request_stats.h"
#include "tap.h"

/* The http_server functions the path uses: record what was sent. */
static char last_header[64];
static int sent_status;
static char sent_body[512];

int http_exchange_add_known_header(struct http_exchange *ex, const char *name, size_t name_len,
                                   const char *value)
{
	(void)ex;
	snprintf(last_header, sizeof(last_header), "%.*s: %s", (int)name_len, name, value);
	return 0;
}

int http_exchange_send(struct http_exchange *ex, int status, const char *content_type,
                       const void *body, size_t len)
{
	(void)ex;
	(void)content_type;
	sent_status = status;
	snprintf(sent_body, sizeof(sent_body), "%.*s", (int)len, (const char *)body);
	return 0;
}

static void test_overhead_header(void)
{
	answer_add_overhead(NULL, 1234);
	tap_ok(strcmp(last_header, "x-llmgate-overhead-ms: 1.234") == 0, "overhead header: %s",
	       last_header);
}

static void test_early(struct event_base *base)
{
	char path[] = "/tmp/llmgate-test-answer-XXXXXX";
	int fd = mkstemp(path);
	static struct group groups[1] = {{.name = (char *)"gpt-4o"}};
	struct config c = {.groups = groups, .n_groups = 1, .access_log = path};
	struct request_stats *rs = NULL;
	struct http_request req = {
	        .method = "POST",
	        .path = "/v1/chat/completions",
	        .path_len = 20,
	        .body = "{}",
	        .body_len = 2,
	        .peer = "127.0.0.1:7",
	};
	struct early_answer e = {
	        .ex = NULL,
	        .req = &req,
	        .id = "req-1",
	        .model = "nope",
	        .received_us = clock_now_us(),
	};
	char text[4096];
	ssize_t n;

	close(fd);
	tap_ok(request_stats_new(&c, base, &rs) == 0, "stats with an access log file");
	e.stats = rs;
	last_header[0] = '\0';
	answer_early_error(&e, 404, "model_not_found", "model '%s' is not served here", e.model);
	tap_ok(sent_status == 404 && strstr(sent_body, "\"type\":\"invalid_request_error\"") &&
	               strstr(sent_body, "\"code\":\"model_not_found\"") &&
	               strstr(sent_body, "model 'nope' is not served here"),
	       "an OpenAI-shaped error with its status: %s", sent_body);
	tap_ok(strncmp(last_header, "x-llmgate-overhead-ms: ", 23) == 0,
	       "the early answer carries the overhead header");
	request_stats_free(rs); /* writes what is buffered */

	fd = open(path, O_RDONLY);
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	unlink(path);
	text[n > 0 ? n : 0] = '\0';
	json_error_t err;
	json_t *a = json_loads(text, JSON_DISABLE_EOF_CHECK, &err);
	tap_ok(a && strchr(text, '\n') == text + strlen(text) - 1, "one line logged");
	tap_ok(a && strcmp(json_string_value(json_object_get(a, "request_id")), "req-1") == 0 &&
	               strcmp(json_string_value(json_object_get(a, "model")), "nope") == 0 &&
	               json_integer_value(json_object_get(a, "status")) == 404 &&
	               json_integer_value(json_object_get(a, "bytes_in")) == 2 &&
	               json_integer_value(json_object_get(a, "bytes_out")) ==
	                       (json_int_t)strlen(sent_body) &&
	               json_is_null(json_object_get(a, "deployment")) &&
	               json_is_null(json_object_get(a, "route")) &&
	               json_is_null(json_object_get(a, "upstream_ms")) &&
	               json_is_null(json_object_get(a, "ttfb_ms")),
	       "the record: the request's identity and model, no deployment or upstream time");
	json_decref(a);
}

int main(void)
{
	struct event_base *base = event_base_new();

	test_overhead_header();
	test_early(base);
	event_base_free(base);
	return tap_done();
}
