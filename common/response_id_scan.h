/*
 * response_id_scan: finds the id of a new Responses API response in an
 * upstream's answer without building a JSON tree, so that a worker can learn
 * which deployment holds it (response_affinity.h) while relaying the answer
 * unchanged. Pure: no allocation, no I/O; the id points into the caller's
 * buffer.
 *
 * Two shapes:
 * - a JSON body (POST /v1/responses without streaming, GET by id, a
 *   background response): the top-level "id";
 * - the start of a Responses stream, whose first event is
 *   `event: response.created` with `data: {"type":"response.created",...,
 *   "response":{"id":"resp_...",...}}`: that "response"."id". The scan stops
 *   at the id, so the caller needs to keep only the stream's first bytes
 *   (the id comes early; at most RESPONSE_ID_SCAN_STREAM_MAX of them count).
 *
 * What counts as an id: a JSON string without escapes of 1 to
 * RESPONSE_AFFINITY_ID_MAX bytes from [A-Za-z0-9_-] (ids go back into URL
 * paths). Anything else, a first event that is not response.created, or one
 * whose data spans several lines, is "no id": the follow-ups then find the
 * deployment by the not-found walk, only more slowly.
 *
 * The scan skips the values before the id without validating them: for a
 * well-formed object without duplicate keys (checked against jansson by the
 * fuzz target) it returns that object's id or nothing, never other bytes.
 * Keys written with escapes never match.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "response_affinity.h"

#define RESPONSE_ID_SCAN_STREAM_MAX 65536

/* Whether ID (LEN bytes) is a response id as above: the rule for the ids a
 * client sends too (they go into upstream URL paths as they are). */
bool response_id_valid(const char *id, size_t len);

/* 0 with *RET_ID, *RET_LEN set (into BUF), or -ENOENT. */
int response_id_scan_body(const char *buf, size_t len, const char **ret_id, size_t *ret_len);

/*
 * BUF holds the first LEN bytes of a Responses SSE stream. 0 with the id set,
 * -EAGAIN when the id may still come in bytes not yet received, or -ENOENT
 * (no id in the first event, or none in the first
 * RESPONSE_ID_SCAN_STREAM_MAX bytes).
 */
int response_id_scan_stream(const char *buf, size_t len, const char **ret_id, size_t *ret_len);
