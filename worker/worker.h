/*
 * worker: entry points of the processes the supervisor forks from this
 * folder: a worker (worker_run()) and the token process
 * (token_process_run(), worker/token_process.c). The supervisor fork()s and
 * calls one in the child, which never returns. The child starts from a
 * clean slate: default signal dispositions, no descriptor but the listening
 * socket, its IPC end and stdio, a fresh event loop and its own libcurl state;
 * it only reads the (copy-on-write) config it was given.
 */
#pragma once

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "token_seed.h"

struct config;
struct ssl_ctx_st;

struct worker_args {
	const struct config *config;
	int listen_fd;
	int ipc_fd;
	unsigned slot;
	uint32_t generation;
	pid_t supervisor_pid;
	/* The client listener's TLS context (the generation's, made by the
	 * supervisor: shared certificate and ticket keys); NULL: plain HTTP. */
	struct ssl_ctx_st *tls;
	sigset_t sigmask; /* the mask to restore once dispositions are reset */
};

__attribute__((noreturn)) void worker_run(const struct worker_args *args);

/* The token process: the one process of an instance that fetches and
 * refreshes Entra ID access tokens, with the upstream client library. It
 * sends every new token, and the state of every fetch, to the supervisor
 * over ARGS->ipc_fd (IPC_TOKEN, IPC_TOKEN_STATUS), which hands the tokens on
 * to the workers. It never serves a client. */
__attribute__((noreturn)) void token_process_run(const struct token_process_args *args);
