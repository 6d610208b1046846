/*
 * generation: the workers of one loaded config. A generation starts, serves
 * once every worker is ready (replacing and draining the one before it), and
 * ends draining or discarded; it is freed with its last worker. Supervisor
 * process only.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "slot.h"

struct config;
struct event;
struct supervisor;

enum generation_state {
	GEN_STARTING,
	GEN_SERVING,
	GEN_DRAINING,
	GEN_DISCARDED,
	GEN_STATE__COUNT,
};

const char *generation_state_name(enum generation_state state);

struct generation {
	struct supervisor *sup;
	uint32_t id;
	enum generation_state state;
	struct config *config;
	struct ssl_ctx_st
	        *tls; /* the client listener's TLS context (tls_listener.c); NULL: plain */
	struct slot *slots;
	size_t n_slots;
	struct event *timer; /* STARTING: ready timeout; DRAINING: kill timer */
	struct generation *next;
};

/* A new STARTING generation of CONFIG (which it then owns), newest in
 * sup->generations, no worker forked yet. NULL when out of memory (CONFIG
 * is then still the caller's). */
struct generation *generation_new(struct supervisor *sup, struct config *config);
void generation_free(struct generation *gen);
/* Forks every worker; a generation replacing another must be ready in time. */
void generation_start(struct generation *gen);
/* Asks every worker of GEN to finish and exit; the caller reaps. */
void generation_drain(struct generation *gen, const char *why);
/* Kills a generation that is not to serve; the serving one goes on. */
void generation_discard(struct generation *gen, const char *why);
/* SIGKILLs the workers of GEN that are still running. */
void generation_kill_stragglers(struct generation *gen);
/* Frees retired generations without workers; ends the loop when stopping
 * and nothing is left. */
void generation_reap(struct supervisor *sup);

size_t generation_ready(const struct generation *gen);
/* Worker processes alive, in every generation. */
size_t generation_live_all(const struct supervisor *sup);

/* A worker of GEN said READY: promote GEN once they all have. */
void generation_slot_ready(struct generation *gen);
/* The worker process PID ended with wait STATUS (not one of ours: ignored). */
void generation_child_exited(struct supervisor *sup, pid_t pid, int status);
