/*
 * decimal: unsigned integers written in decimal into a caller's buffer, for
 * the request path's heads, header lines and encoders (no printf there).
 * One place for what the HTTP server, the upstream client, the key limits
 * and the span encoder each wrote by hand. Pure.
 */
#pragma once

#include <stdint.h>

/* The most bytes decimal_put() writes: UINT64_MAX has 20 digits. */
#define DECIMAL_MAX 20

/* V in decimal at P (no NUL); returns the end. */
char *decimal_put(char *p, uint64_t v);
