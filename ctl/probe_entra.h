/*
 * probe_entra: `llmgatectl probe` acquires the Entra ID token of each
 * credential itself (no daemon needed), with the request and answer rules
 * llmgated uses (common/entra.c), so that a wrong secret, an unknown tenant
 * or application, an unassigned managed identity or a missing federated
 * token file is named in plain words before any deployment is tried.
 */
#pragma once

#include <stddef.h>

#include "entra.h"

/*
 * Fetches a token for CRED within TIMEOUT_MS (libcurl, blocking). Returns 0
 * and a malloc'd token in *RET_TOKEN (wipe and free it), or a negative
 * errno and what went wrong in plain words in ERR (never a secret).
 */
int probe_entra_fetch(const struct entra_credential *cred, long timeout_ms, char **ret_token,
                      char *err, size_t errlen);
