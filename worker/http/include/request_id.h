/*
 * request_id: the id every response carries as x-request-id: the client's
 * own when it is sane, else a fresh random one. Fresh ids come from a
 * per-process generator seeded from getrandom() once (after fork), so a
 * request costs no system call.
 */
#pragma once

#include <stdbool.h>

#define REQUEST_ID_MAX 64 /* longest id accepted from a client */

/* Is ID acceptable as given: 1..64 bytes of [A-Za-z0-9._-]? */
bool request_id_valid(const char *id);

/* Writes a new 32-hex-digit id into BUF (REQUEST_ID_MAX + 1 bytes). */
void request_id_generate(char *buf);
