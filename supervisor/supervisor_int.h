/*
 * supervisor_int: the supervisor's state, shared by the files of the
 * supervisor process only (supervisor.c runs the life cycle; status.c and
 * control.c read it for the control socket). Workers never see this.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "diag.h"
#include "ipc.h"
#include "worker_state.h"

struct admin;
struct control;
struct health;
struct metrics;
struct event;
struct event_base;

enum generation_state {
	GEN_STARTING,
	GEN_SERVING,
	GEN_DRAINING,
	GEN_DISCARDED,
	GEN_STATE__COUNT,
};

const char *generation_state_name(enum generation_state state);

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
};

struct generation {
	struct supervisor *sup;
	uint32_t id;
	enum generation_state state;
	struct config *config;
	struct slot *slots;
	size_t n_slots;
	struct event *timer; /* STARTING: ready timeout; DRAINING: kill timer */
	struct generation *next;
};

/* How a reload ended: 0 serving, -EINVAL config errors (DIAGS has them),
 * -EBUSY another reload running, other negative errno: the new generation
 * failed (MESSAGE says why). DIAGS may be NULL. */
typedef void supervisor_reload_fn(void *ctx, int result, const char *message,
                                  const struct diag_list *diags);

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
	supervisor_reload_fn *queued_done;
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
	uint64_t restarts_total; /* workers respawned after a crash */

	supervisor_reload_fn *reload_done;
	void *reload_ctx;

	/* Operator override of the fallback mode (config default, then control). */
	enum fallback_setting fallback_override;
	uid_t fallback_override_uid; /* (uid_t)-1: from the config */
	time_t fallback_override_time;
};

/* Starts a reload; DONE (may be NULL) is called once with the outcome. */
void supervisor_reload(struct supervisor *sup, supervisor_reload_fn *done, void *ctx);
/* Forgets the waiter of a running reload (its control client went away). */
void supervisor_reload_forget(struct supervisor *sup, void *ctx);
/* Sets the log level here and in every worker. */
void supervisor_set_log_level(struct supervisor *sup, int level);
/* Sets the operator's fallback override (the fallback module applies it). */
void supervisor_set_fallback_override(struct supervisor *sup, enum fallback_setting setting,
                                      uid_t uid);

long supervisor_uptime_ms(const struct supervisor *sup);
/* Something the systemd STATUS line shows has changed. */
void supervisor_status_changed(struct supervisor *sup);
/* Sends one IPC message to the worker of SLOT (dropped when it is gone). */
void slot_send(struct slot *slot, enum ipc_type type, const void *payload, size_t len);
size_t generation_ready(const struct generation *gen);
