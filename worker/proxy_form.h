/*
 * proxy_form: what admission needs from an upload's multipart/form-data body
 * (audio transcriptions and translations, image edits): its boundary, the
 * `model` field's value and where it lies (so that proxy_request can replace
 * it for upstreams that need another name), whether `stream` is "true", and
 * whether the whole body is a well-formed form (strict, RFC 7578).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "proxy_request.h"

#define PROXY_FORM_MODEL_MAX 256 /* bytes of a form's model value */

/*
 * Reads BODY (LEN bytes) sent with CONTENT_TYPE into FORM and MODEL (room
 * for MODEL_CAP bytes; "" when the form has no model field). 0; -EINVAL when
 * the Content-Type is not multipart/form-data with a boundary; -EBADMSG when
 * the body is not a whole, well-formed form (or has two models, or one too
 * long). *RET_WHY says what was wrong.
 */
int proxy_form_scan(const char *body, size_t len, const char *content_type, struct proxy_form *form,
                    char *model, size_t model_cap, bool *ret_stream, const char **ret_why);
/* The same for a body spooled to a file (LEN bytes of FD from 0), read in
 * pieces of 64 KiB into one buffer of the worker's: the whole form is read
 * once, never held. -EIO (*RET_WHY set) when the file cannot be read. */
int proxy_form_scan_file(int fd, size_t len, const char *content_type, struct proxy_form *form,
                         char *model, size_t model_cap, bool *ret_stream, const char **ret_why);
