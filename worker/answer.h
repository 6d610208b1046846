/*
 * answer: what the worker's own answers share. Every answer of the endpoints
 * and the proxy carries x-llmgate-overhead-ms; an early answer (one given
 * before any upstream attempt: a refused request, the model list, a 404, a
 * wrong key...) is sent by one function that also counts and logs it
 * (request_stats), so its accounting record is built in one place.
 */
#pragma once

#include <stdint.h>

struct http_exchange;
struct http_request;
struct request_stats;

/* Adds the x-llmgate-overhead-ms header (milliseconds, 3 decimals). */
void answer_add_overhead(struct http_exchange *ex, int64_t overhead_us);

/* A request to be answered before any upstream attempt. */
struct early_answer {
	struct request_stats *stats; /* NULL: not counted */
	struct http_exchange *ex;
	const struct http_request *req;
	const char *id;      /* its x-request-id */
	const char *model;   /* as the client named it; NULL: none (yet) */
	int64_t received_us; /* monotonic: handed to the endpoints */
	const char *key_id;  /* the client key's id, or NULL (request_record.key_id) */
};

/* Sends JSON (NUL-terminated) with STATUS, counted and logged. Ends the
 * exchange. */
void answer_early(const struct early_answer *e, int status, const char *json);

/* Sends an OpenAI-shaped invalid_request_error with STATUS and CODE, counted
 * and logged. Ends the exchange. */
void answer_early_error(const struct early_answer *e, int status, const char *code, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));
