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
#define INGRESS_MAX_DEPLOYMENT_NAME 256

/*
 * True when PATH (PATH_LEN bytes, not necessarily NUL-terminated) is an
 * Azure-SDK ingress path; then NAME (room for INGRESS_MAX_DEPLOYMENT_NAME + 1
 * bytes) gets the {name} part, NUL-terminated, and *RET_OP the operation.
 */
bool ingress_azure_path(const char *path, size_t path_len, char *name, enum proxy_op *ret_op);

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
