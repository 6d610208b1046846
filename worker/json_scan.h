/*
 * json_scan: reads `model` and `stream` from a request body without building
 * a JSON tree, for the common request that is forwarded as received. Pure:
 * no allocation, no I/O.
 *
 * It is never more lenient than the tree path (jansson's json_loadb with
 * JSON_REJECT_DUPLICATES): the whole body is checked as JSON, and whatever
 * it cannot vouch for cheaply makes it answer "unsure" (-EAGAIN), after which
 * the caller parses the tree as before. Unsure: any syntax error (the tree
 * path then reports it), a key with a backslash, an object with more than
 * JSON_SCAN_MAX_KEYS keys or nesting deeper than JSON_SCAN_MAX_DEPTH (for
 * duplicate detection), a number with an exponent or more than 15 digits
 * (range errors), \u0000 or a lone surrogate, a `model` that is not a string
 * without escapes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define JSON_SCAN_MAX_DEPTH 32
#define JSON_SCAN_MAX_KEYS  32

struct json_scan_result {
	const char *model; /* into the body, not NUL-terminated; NULL when absent */
	size_t model_len;
	bool stream; /* "stream": true at the top level */
};

/* 0 with RET filled for a valid JSON object; -EAGAIN when unsure (see above). */
int json_scan_request(const char *buf, size_t len, struct json_scan_result *ret);
