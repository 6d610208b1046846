/*
 * token_process: the one process of an llmgated instance that fetches and
 * refreshes Entra ID access tokens (issue 18). The supervisor forks it (see
 * supervisor/tokens.c) with the instance's distinct credentials and the
 * tokens it already holds; it sends every new token, and the state of every
 * fetch, to the supervisor over its socketpair (IPC_TOKEN, IPC_TOKEN_STATUS),
 * which hands the tokens on to the workers. It never serves a client.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "entra.h"

/* One credential, with the token the supervisor holds for it (or none). */
struct token_seed {
	const struct entra_credential *credential;
	const char *token; /* NULL or "": none */
	int64_t expires_at, refresh_at;
};

struct token_process_args {
	const struct token_seed *seeds; /* index = the supervisor's token table index */
	size_t n_seeds;
	int ipc_fd;
	const char *ca_file; /* llmgate.ca_file, or NULL */
	int log_level;
};

/* The child's side of the supervisor's fork(). Never returns. */
__attribute__((noreturn)) void token_process_run(const struct token_process_args *args);
