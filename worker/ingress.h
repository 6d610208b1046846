/*
 * ingress: pure parsing of what a client's request names, for endpoints and
 * proxy: the Azure-SDK ingress path /openai/deployments/{name}/{op} and the
 * JSON body with its `model`. No I/O, so it is unit-tested and fuzzed alone.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "proxy.h"

#define INGRESS_AZURE_PREFIX        "/openai/deployments/"
#define INGRESS_AZURE_V1_PREFIX     "/openai/v1"        /* + an OpenAI path without /v1 */
#define INGRESS_AZURE_RESPONSES     "/openai/responses" /* the Azure SDK's dated Responses */
#define INGRESS_MAX_DEPLOYMENT_NAME 256

/*
 * True when PATH (PATH_LEN bytes, not necessarily NUL-terminated) is an
 * Azure-SDK ingress path; then NAME (room for INGRESS_MAX_DEPLOYMENT_NAME + 1
 * bytes) gets the {name} part, NUL-terminated, and *RET_OP the operation.
 */
bool ingress_azure_path(const char *path, size_t path_len, char *name, enum proxy_op *ret_op);

/* Which operation on a stored response a path names. */
enum ingress_response_route {
	INGRESS_RESPONSE_NONE,        /* not /v1/responses/{id}... */
	INGRESS_RESPONSE_BAD_ID,      /* one, with an id that cannot be one */
	INGRESS_RESPONSE_ITEM,        /* /v1/responses/{id}: GET or DELETE */
	INGRESS_RESPONSE_CANCEL,      /* /v1/responses/{id}/cancel: POST */
	INGRESS_RESPONSE_INPUT_ITEMS, /* /v1/responses/{id}/input_items: GET */
};

/*
 * What PATH (PATH_LEN bytes, not necessarily NUL-terminated) names under
 * /v1/responses/ or /responses/; ID (room for PROXY_RESPONSE_ID_MAX + 1
 * bytes) gets the response id, NUL-terminated, unless NONE or BAD_ID.
 * "input_tokens" is no id: that path is routed by model.
 */
enum ingress_response_route ingress_response_path(const char *path, size_t path_len, char *id);

/*
 * Parses a client's request body BODY[0..LEN) as a JSON object and finds the
 * model group it asks for: NAMED when not NULL (the ingress path named it),
 * else the body's string "model". Returns 0 with *RET_ROOT (the caller's
 * reference) and *RET_MODEL (NAMED, or a string inside *RET_ROOT);
 * -EBADMSG when the body is not a JSON object (WHY, WHY_LEN bytes, says
 * why); -EILSEQ when the body's model contains a NUL ("\u0000" is valid
 * JSON, and accepted elsewhere in the body); -ENOENT when no non-empty model
 * is named. *RET_ROOT is NULL on error.
 */
int ingress_parse_body(const char *body, size_t len, const char *named, json_t **ret_root,
                       const char **ret_model, char *why, size_t why_len);
