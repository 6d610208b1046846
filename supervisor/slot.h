/*
 * slot: one worker place of a generation and the process that fills it.
 * Forks the worker, speaks IPC with it over its socketpair, pings it, and
 * respawns it with per-slot backoff after a crash. Supervisor process only;
 * the generation (generation.h) decides what an exit means.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "ipc.h"
#include "worker_state.h"

struct event;
struct generation;

struct slot {
	struct generation *gen;
	unsigned index;
	enum worker_state state;
	pid_t pid;
	int ipc_fd;
	struct event *ipc_event;
	struct event *respawn_timer;
	unsigned crashes; /* consecutive, for backoff */
	unsigned restarts;
	long next_delay_ms;
	struct timespec started;
	struct timespec last_pong;
	uint32_t seq;
	char last_exit[160]; /* how the previous worker of this slot ended */
	bool start_pending;  /* said HELLO; START waits for its Entra ID tokens (tokens.c) */
	int key_cell;        /* its worker's cell in the client keys' counters (client_limits.h) */
};

/* An empty slot of GEN ("not running yet"). Returns 0 or -ENOMEM. */
int slot_init(struct slot *slot, struct generation *gen, unsigned index);
/* Frees what slot_init() and the worker's IPC hold; the process is not touched. */
void slot_release(struct slot *slot);

/* Forks the slot's worker; when that fails, tries again after a backoff. */
void slot_start(struct slot *slot);
/* Applies EV to the slot's state (worker_state.h); an impossible one is ignored. */
void slot_event(struct slot *slot, enum worker_event ev);
void slot_kill(struct slot *slot, int sig);
/* Sends one IPC message to the worker of SLOT (dropped when it is gone). */
void slot_send(struct slot *slot, enum ipc_type type, const void *payload, size_t len);
/* Pings a running worker; kills one silent for too long and returns false. */
bool slot_ping(struct slot *slot);
/* Asks the worker to finish its requests and exit; no respawn. */
void slot_drain(struct slot *slot);
/* Kills the worker at once; no respawn. */
void slot_discard(struct slot *slot);

/* Records that the worker of SLOT ended with wait STATUS: how (into HOW),
 * its last_exit line, no process and no IPC left. Returns its uptime in ms. */
long slot_exited(struct slot *slot, int status, char *how, size_t how_len);
/* The worker crashed: schedules its respawn (slot->next_delay_ms). */
void slot_crashed(struct slot *slot, long uptime_ms);
