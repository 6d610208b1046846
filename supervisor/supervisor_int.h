/*
 * supervisor_int: the supervisor's state, shared by the files of the
 * supervisor process only (supervisor.c runs the daemon; slot.c, generation.c
 * and reload.c the workers and their generations; status.c, control.c,
 * health.c and admin.c read it). Workers never see this.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "generation.h"
#include "reload.h"
#include "slot.h"

struct admin;
struct control;
struct health;
struct metrics;
struct tokens;
struct event;
struct event_base;

struct supervisor {
	const struct supervisor_options *options;
	struct event_base *base;
	int listen_fd;
	uint32_t last_generation;
	struct generation *generations; /* newest first */
	struct generation *serving;
	struct generation *pending; /* a reload in progress */
	/* A reload asked for while the first generation starts: run once it serves. */
	bool reload_queued;
	reload_done_fn *queued_done;
	void *queued_ctx;
	bool stopping;
	int signal_fd;
	struct event *signal_event;
	struct event *ping_timer;
	uint64_t watchdog_usec;
	struct timespec started;
	struct control *control;
	struct health *health;
	struct metrics *metrics; /* request statistics of every worker */
	struct admin *admin;     /* /metrics; NULL when admin_listen is off */
	struct tokens *tokens;   /* Entra ID tokens and the token process (tokens.c) */
	uint64_t restarts_total; /* workers respawned after a crash */

	reload_done_fn *reload_done;
	void *reload_ctx;

	/* Operator override of the fallback mode (config default, then control). */
	enum fallback_setting fallback_override;
	uid_t fallback_override_uid; /* (uid_t)-1: from the config */
	time_t fallback_override_time;
};

/* Sets the log level here and in every worker. */
void supervisor_set_log_level(struct supervisor *sup, int level);
/* Sets the operator's fallback override (the fallback module applies it). */
void supervisor_set_fallback_override(struct supervisor *sup, enum fallback_setting setting,
                                      uid_t uid);

long supervisor_uptime_ms(const struct supervisor *sup);
/* Something the systemd STATUS line shows has changed. */
void supervisor_status_changed(struct supervisor *sup);
/* Allows or forbids core dumps (llmgate.core_dumps), for workers forked later too. */
void supervisor_apply_core_dumps(bool allow);
/* The child's side of slot.c's fork(): runs the worker of SLOT, whose end
 * of the IPC socketpair is IPC_FD. Never returns. */
__attribute__((noreturn)) void supervisor_become_worker(const struct slot *slot, int ipc_fd);
struct token_process_args;
/* The child's side of tokens.c's fork(): the token process. */
__attribute__((noreturn)) void supervisor_become_token_process(
        const struct token_process_args *args);
