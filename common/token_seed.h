/*
 * token_seed: what the supervisor hands the token process it forks (issue
 * 18): the instance's distinct Entra ID credentials, each with the token the
 * supervisor already holds, so that a respawned token process refreshes when
 * a token is due rather than at once. The process itself is
 * worker/token_process.c (token_process_run(), declared in worker/worker.h
 * with the workers' entry point); the supervisor's side is
 * supervisor/tokens.c.
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
