/*
 * token_store: the Entra ID access tokens a worker holds, one per
 * credential of its config (config.credentials), as the supervisor sends
 * them (IPC_TOKEN: on every refresh, and before START). A worker never
 * fetches a token itself. Per process, like the log level.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct config;
struct ipc_token;

/* Room for CONFIG's credentials. 0 or -ENOMEM. */
int token_store_init(const struct config *config);
void token_store_free(void);

/* Stores MSG's token (length 0 withdraws it). -EINVAL for a credential the
 * config does not have. */
int token_store_apply(const struct ipc_token *msg);

/* The token of credential INDEX when it is valid at NOW (realtime seconds),
 * else NULL. */
const char *token_store_get(size_t index, int64_t now);
