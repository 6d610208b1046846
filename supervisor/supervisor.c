/*
 * supervisor: process model of llmgated (see supervisor.h).
 *
 * Workers are grouped in generations, one per loaded config. The serving
 * generation's crashed workers are respawned with per-slot backoff. A reload
 * (SIGHUP) loads the config beside the running one; on success it starts the
 * next generation and only once every new worker has said READY does it
 * promote it and drain the old one (nginx's model, HAProxy's READY-before-
 * retire). A new generation that does not become ready is discarded and the
 * old one keeps serving. The listening socket is never closed.
 *
 * Workers are plain fork()ed children: they inherit the parsed config
 * copy-on-write and nothing else. Signals are blocked across fork() so that
 * no handler of the supervisor's event loop runs in a child; the child resets
 * every disposition, closes every descriptor it does not own and never touches
 * the supervisor's event base (see worker_run()).
 *
 * Every IPC message is validated before use; a worker that sends garbage or
 * stops answering pings is killed (and respawned), never trusted.
 */
#include "supervisor.h"
#include "supervisor_int.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "backoff.h"
#include "build_config.h"
#include "config.h"
#include "control.h"
#include "health.h"
#include "ipc.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "privdrop.h"
#include "worker.h"
#include "worker_state.h"
#include "clock.h"

#define STOP_GRACE_MS      1000  /* beyond drain_timeout before SIGKILL */
#define READY_TIMEOUT_MS   15000 /* a new generation must be ready by then */
#define PING_INTERVAL_MS   1000
#define PING_TIMEOUT_MS    10000 /* no PONG for this long: the worker is hung */
#define CRASH_LOOP_CRASHES 3

/* Reachable from a global so that forked workers' leak checks see it as live. */
static struct supervisor the_supervisor;

static size_t gen_live(const struct generation *gen)
{
	size_t n = 0;

	for (size_t i = 0; i < gen->n_slots; i++)
		if (gen->slots[i].pid > 0)
			n++;
	return n;
}

static size_t gen_ready(const struct generation *gen);

static const char *const generation_state_names[GEN_STATE__COUNT] = {
        [GEN_STARTING] = "starting",
        [GEN_SERVING] = "serving",
        [GEN_DRAINING] = "draining",
        [GEN_DISCARDED] = "discarded",
};

const char *generation_state_name(enum generation_state state)
{
	return (unsigned)state < GEN_STATE__COUNT ? generation_state_names[state] : "unknown";
}

long supervisor_uptime_ms(const struct supervisor *sup)
{
	return clock_ms_since(&sup->started);
}

size_t generation_ready(const struct generation *gen)
{
	return gen_ready(gen);
}

static size_t gen_ready(const struct generation *gen)
{
	size_t n = 0;

	for (size_t i = 0; i < gen->n_slots; i++)
		if (gen->slots[i].state == WORKER_READY)
			n++;
	return n;
}

static size_t all_live(const struct supervisor *sup)
{
	size_t n = 0;

	for (const struct generation *g = sup->generations; g; g = g->next)
		n += gen_live(g);
	return n;
}

static void slot_event(struct slot *slot, enum worker_event ev)
{
	int next = worker_state_next(slot->state, ev);

	if (next < 0) {
		log_debug("worker[%u]: ignoring %s while %s", slot->index, worker_event_name(ev),
		          worker_state_name(slot->state));
		return;
	}
	if ((enum worker_state)next != slot->state)
		log_debug("worker[%u]: generation %u: %s -> %s", slot->index, slot->gen->id,
		          worker_state_name(slot->state), worker_state_name(next));
	slot->state = (enum worker_state)next;
}

/* The systemd STATUS line: generation, workers, crash loops. */
static void update_status(struct supervisor *sup)
{
	const struct generation *g = sup->serving ? sup->serving : sup->pending;
	char loops[256] = "";
	size_t used = 0;

	if (!g)
		return;
	for (size_t i = 0; i < g->n_slots && used < sizeof(loops); i++) {
		const struct slot *s = &g->slots[i];

		if (s->crashes >= CRASH_LOOP_CRASHES) {
			int n = snprintf(loops + used, sizeof(loops) - used,
			                 "; worker[%u] crash loop (%u crashes, next in %ld ms)",
			                 s->index, s->crashes, s->next_delay_ms);
			if (n > 0)
				used += (size_t)n;
		}
	}
	char mode[256] = "mode normal";

	if (sup->health)
		health_summary(sup->health, mode, sizeof(mode));
	notify_send("STATUS=generation %u, %zu/%zu workers ready, %s%s%s", g->id, gen_ready(g),
	            g->n_slots, mode, sup->pending && sup->serving ? ", reloading" : "", loops);
}

static void slot_close_ipc(struct slot *slot)
{
	if (slot->ipc_event) {
		event_free(slot->ipc_event);
		slot->ipc_event = NULL;
	}
	if (slot->ipc_fd >= 0) {
		close(slot->ipc_fd);
		slot->ipc_fd = -1;
	}
}

static void slot_kill(struct slot *slot, int sig)
{
	if (slot->pid > 0)
		(void)kill(slot->pid, sig);
}

void slot_send(struct slot *slot, enum ipc_type type, const void *payload, size_t len)
{
	if (slot->ipc_fd < 0)
		return;
	if (ipc_send(slot->ipc_fd, type, slot->gen->id, ++slot->seq, payload, len) < 0 &&
	    errno != EAGAIN)
		log_debug("worker[%u]: cannot send %s: %s", slot->index, ipc_type_name(type),
		          strerror(errno));
}

static void gen_promote(struct generation *gen);
static void gen_drain(struct generation *gen, const char *why);
static void gen_discard(struct generation *gen, const char *why);
static void reload_finish(struct supervisor *sup, int result, const char *message,
                          const struct diag_list *diags);

static void on_slot_ready(struct slot *slot)
{
	struct generation *gen = slot->gen;

	slot_event(slot, WORKER_EV_READY);
	clock_gettime(CLOCK_MONOTONIC, &slot->last_pong);
	if (gen->state == GEN_STARTING && gen_ready(gen) == gen->n_slots)
		gen_promote(gen);
	else
		update_status(gen->sup);
}

static void handle_message(struct slot *slot, const struct ipc_header *h, const void *payload)
{
	switch ((enum ipc_type)h->type) {
	case IPC_HELLO: {
		struct ipc_hello hello;

		memcpy(&hello, payload, sizeof(hello));
		if (hello.slot != slot->index || (pid_t)hello.pid != slot->pid ||
		    h->generation != slot->gen->id) {
			log_error("worker[%u]: hello claims slot %u pid %u generation %u, "
			          "killing it",
			          slot->index, hello.slot, hello.pid, h->generation);
			slot_kill(slot, SIGKILL);
			return;
		}
		log_debug("worker[%u]: hello from pid %d", slot->index, slot->pid);
		/* Its initial state, before it may accept: log level, modes. */
		struct ipc_log_level level = {.level = log_get_level()};
		slot_send(slot, IPC_LOG_LEVEL, &level, sizeof(level));
		health_send_modes(slot->gen->sup->health, slot);
		slot_send(slot, IPC_START, NULL, 0);
		break;
	}
	case IPC_READY:
		on_slot_ready(slot);
		break;
	case IPC_PONG:
		clock_gettime(CLOCK_MONOTONIC, &slot->last_pong);
		break;
	case IPC_REPORT:
		if (health_report(slot->gen->sup->health, slot, payload) < 0) {
			log_error("worker[%u]: report names an unknown backend, killing it",
			          slot->index);
			slot_kill(slot, SIGKILL);
		}
		break;
	case IPC_REQUESTS: {
		struct ipc_requests msg;

		memcpy(&msg, payload, sizeof(msg));
		if (metrics_add_requests(slot->gen->sup->metrics, slot->gen->config, &msg) < 0) {
			log_error("worker[%u]: request statistics name unknown labels, killing it",
			          slot->index);
			slot_kill(slot, SIGKILL);
		}
		break;
	}
	case IPC_LATENCY: {
		struct ipc_latency msg;

		memcpy(&msg, payload, sizeof(msg));
		if (metrics_add_latency(slot->gen->sup->metrics, slot->gen->config, &msg) < 0) {
			log_error(
			        "worker[%u]: latency statistics name an unknown group, killing it",
			        slot->index);
			slot_kill(slot, SIGKILL);
		}
		break;
	}
	default:
		log_error("worker[%u]: unexpected message %s, killing it", slot->index,
		          ipc_type_name(h->type));
		slot_kill(slot, SIGKILL);
		break;
	}
}

static void on_ipc(evutil_socket_t fd, short what, void *arg)
{
	struct slot *slot = arg;
	char buf[IPC_MAX_MESSAGE];

	for (int i = 0; i < 64 && slot->ipc_fd >= 0; i++) {
		struct ipc_header h;
		const void *payload;
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
		int r;

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			/* The worker is gone or going; SIGCHLD tells the rest. */
			slot_close_ipc(slot);
			return;
		}
		r = (size_t)n > sizeof(buf) ? -EMSGSIZE : ipc_decode(buf, (size_t)n, &h, &payload);
		if (r < 0) {
			log_error("worker[%u]: malformed ipc message (%zd bytes): %s, killing it",
			          slot->index, n, strerror(-r));
			slot_kill(slot, SIGKILL);
			slot_close_ipc(slot);
			return;
		}
		handle_message(slot, &h, payload);
	}
}

static int slot_spawn(struct slot *slot)
{
	struct generation *gen = slot->gen;
	struct supervisor *sup = gen->sup;
	sigset_t all, old;
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		log_error("worker[%u]: socketpair: %s", slot->index, strerror(errno));
		return -errno;
	}

	fflush(NULL);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0) {
		struct worker_args args = {
		        .config = gen->config,
		        .listen_fd = sup->listen_fd,
		        .ipc_fd = sv[1],
		        .slot = slot->index,
		        .generation = gen->id,
		        .supervisor_pid = getppid(),
		};
		/* Workers start with nothing blocked (the supervisor blocks the
		 * signals it reads from its signalfd). */
		sigemptyset(&args.sigmask);
		worker_run(&args);
	}
	int saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sv[1]);
	if (pid < 0) {
		log_error("worker[%u]: fork: %s", slot->index, strerror(saved));
		close(sv[0]);
		return -saved;
	}

	slot->pid = pid;
	slot->ipc_fd = sv[0];
	slot_event(slot, WORKER_EV_SPAWNED);
	clock_gettime(CLOCK_MONOTONIC, &slot->started);
	slot->last_pong = slot->started;
	slot->ipc_event = event_new(sup->base, sv[0], EV_READ | EV_PERSIST, on_ipc, slot);
	if (!slot->ipc_event || event_add(slot->ipc_event, NULL) < 0) {
		log_error("worker[%u]: cannot watch its socket, killing it", slot->index);
		slot_kill(slot, SIGKILL);
	}
	log_info("worker[%u]: started pid %d, generation %u", slot->index, pid, gen->id);
	return 0;
}

static void slot_schedule_respawn(struct slot *slot, long uptime_ms)
{
	slot->crashes = backoff_next_crashes(slot->crashes, uptime_ms);
	slot->next_delay_ms = backoff_delay_ms(slot->crashes);
	struct timeval tv = clock_tv_ms(slot->next_delay_ms);
	evtimer_add(slot->respawn_timer, &tv);
}

static void on_respawn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct slot *slot = arg;

	if (slot->gen->sup->stopping || slot->state != WORKER_BACKOFF)
		return;
	slot->restarts++;
	slot->gen->sup->restarts_total++;
	if (slot_spawn(slot) < 0)
		slot_schedule_respawn(slot, 0);
	update_status(slot->gen->sup);
}

static struct slot *slot_by_pid(struct supervisor *sup, pid_t pid)
{
	for (struct generation *g = sup->generations; g; g = g->next)
		for (size_t i = 0; i < g->n_slots; i++)
			if (g->slots[i].pid == pid)
				return &g->slots[i];
	return NULL;
}

static void gen_free(struct generation *gen)
{
	struct supervisor *sup = gen->sup;

	for (struct generation **p = &sup->generations; *p; p = &(*p)->next) {
		if (*p == gen) {
			*p = gen->next;
			break;
		}
	}
	for (size_t i = 0; i < gen->n_slots; i++) {
		slot_close_ipc(&gen->slots[i]);
		if (gen->slots[i].respawn_timer)
			event_free(gen->slots[i].respawn_timer);
	}
	if (gen->timer)
		event_free(gen->timer);
	free(gen->slots);
	config_free(gen->config);
	free(gen);
}

/* Frees a retired generation once its last worker is gone; ends the loop
 * when stopping and nothing is left. */
static void reap_generations(struct supervisor *sup)
{
	struct generation *g = sup->generations, *next;

	for (; g; g = next) {
		next = g->next;
		if ((g->state == GEN_DRAINING || g->state == GEN_DISCARDED) && gen_live(g) == 0 &&
		    g != sup->serving) {
			log_info("generation %u: all workers gone", g->id);
			gen_free(g);
		}
	}
	if (sup->stopping && all_live(sup) == 0)
		event_base_loopexit(sup->base, NULL);
}

static void slot_exited(struct slot *slot, int status)
{
	struct generation *gen = slot->gen;
	struct supervisor *sup = gen->sup;
	long uptime = clock_ms_since(&slot->started);
	pid_t pid = slot->pid;
	char how[96];

	if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "killed by signal %d (%s)", WTERMSIG(status),
		         strsignal(WTERMSIG(status)));
	else
		snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(status));

	slot_close_ipc(slot);
	slot->pid = 0;
	snprintf(slot->last_exit, sizeof(slot->last_exit), "pid %d %s after %ld ms", (int)pid, how,
	         uptime);

	if (sup->stopping || gen->state == GEN_DRAINING || gen->state == GEN_DISCARDED) {
		slot_event(slot, WORKER_EV_EXITED);
		log_info("worker[%u]: pid %d of generation %u stopped after %ld ms, %s",
		         slot->index, pid, gen->id, uptime, how);
		reap_generations(sup);
		return;
	}
	if (gen->state == GEN_STARTING && sup->serving) {
		slot_event(slot, WORKER_EV_EXITED);
		log_error("worker[%u]: pid %d of new generation %u %s before it was ready",
		          slot->index, pid, gen->id, how);
		gen_discard(gen, "a worker died before it was ready");
		return;
	}

	slot_event(slot, WORKER_EV_CRASHED);
	slot_schedule_respawn(slot, uptime);
	log_error("worker[%u]: pid %d of generation %u %s after %ld ms uptime; restart in %ld ms",
	          slot->index, pid, gen->id, how, uptime, slot->next_delay_ms);
	update_status(sup);
}

static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
	struct supervisor *sup = arg;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct slot *slot = slot_by_pid(sup, pid);

		if (slot)
			slot_exited(slot, status);
	}
}

static void kill_stragglers(struct generation *gen)
{
	for (size_t i = 0; i < gen->n_slots; i++) {
		if (gen->slots[i].pid > 0) {
			log_warning("worker[%zu]: pid %d of generation %u still running after the "
			            "drain timeout, killing it",
			            i, gen->slots[i].pid, gen->id);
			slot_kill(&gen->slots[i], SIGKILL);
		}
	}
}

static void on_gen_timer(evutil_socket_t fd, short what, void *arg)
{
	struct generation *gen = arg;

	if (gen->state == GEN_STARTING) {
		char why[96];

		snprintf(why, sizeof(why), "only %zu of %zu workers ready after %d ms",
		         gen_ready(gen), gen->n_slots, READY_TIMEOUT_MS);
		gen_discard(gen, why);
	} else {
		kill_stragglers(gen);
	}
}

static struct generation *gen_new(struct supervisor *sup, struct config *config)
{
	struct generation *gen = calloc(1, sizeof(*gen));
	long n = config->workers;

	if (!gen)
		return NULL;
	if (n <= 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	gen->sup = sup;
	gen->id = ++sup->last_generation;
	gen->state = GEN_STARTING;
	gen->n_slots = n > 0 ? (size_t)n : 1;
	gen->slots = calloc(gen->n_slots, sizeof(*gen->slots));
	gen->timer = evtimer_new(sup->base, on_gen_timer, gen);
	if (!gen->slots || !gen->timer) {
		free(gen->slots);
		if (gen->timer)
			event_free(gen->timer);
		free(gen);
		return NULL;
	}
	for (size_t i = 0; i < gen->n_slots; i++) {
		struct slot *slot = &gen->slots[i];

		slot->gen = gen;
		slot->index = (unsigned)i;
		slot->ipc_fd = -1;
		slot->state = WORKER_BACKOFF; /* "not running yet": spawning makes it STARTING */
		slot->respawn_timer = evtimer_new(sup->base, on_respawn_timer, slot);
	}
	gen->config = config;
	gen->next = sup->generations;
	sup->generations = gen;
	return gen;
}

static void gen_start(struct generation *gen)
{
	struct timeval tv = clock_tv_ms(READY_TIMEOUT_MS);

	for (size_t i = 0; i < gen->n_slots; i++)
		if (slot_spawn(&gen->slots[i]) < 0)
			slot_schedule_respawn(&gen->slots[i], 0);
	/* The first generation has nothing to fall back to: it keeps trying. */
	if (gen->sup->serving)
		evtimer_add(gen->timer, &tv);
}

static void run_queued_reload(evutil_socket_t fd, short what, void *arg)
{
	struct supervisor *sup = arg;

	(void)fd;
	(void)what;
	if (!sup->reload_queued)
		return;
	sup->reload_queued = false;
	supervisor_reload(sup, sup->queued_done, sup->queued_ctx);
}

static void gen_promote(struct generation *gen)
{
	struct supervisor *sup = gen->sup;
	struct generation *old = sup->serving;

	evtimer_del(gen->timer);
	gen->state = GEN_SERVING;
	sup->serving = gen;
	health_config_changed(sup->health);
	if (sup->pending == gen)
		sup->pending = NULL;
	if (old) {
		log_notice("reload: generation %u serving with %zu workers, draining generation %u",
		           gen->id, gen->n_slots, old->id);
		gen_drain(old, "replaced by a new generation");
		reap_generations(sup);
	} else {
		log_notice("ready: generation %u, %zu workers, listening on '%s'", gen->id,
		           gen->n_slots, gen->config->listen);
	}
	notify_send("READY=1");
	update_status(sup);
	if (old) {
		char message[96];

		snprintf(message, sizeof(message), "generation %u serving", gen->id);
		reload_finish(sup, 0, message, NULL);
	} else if (sup->reload_queued) {
		static const struct timeval now = {0, 0};

		/* from the loop, not from inside the promotion */
		if (event_base_once(sup->base, -1, EV_TIMEOUT, run_queued_reload, sup, &now) < 0)
			run_queued_reload(-1, EV_TIMEOUT, sup);
	}
}

/* Asks every worker of GEN to finish and exit; the caller reaps. */
static void gen_drain(struct generation *gen, const char *why)
{
	long grace = gen->config->drain_timeout_ms + STOP_GRACE_MS;
	struct timeval tv = clock_tv_ms(grace);

	gen->state = GEN_DRAINING;
	log_info("generation %u: draining %zu workers (%s)", gen->id, gen_live(gen), why);
	for (size_t i = 0; i < gen->n_slots; i++) {
		struct slot *slot = &gen->slots[i];

		event_del(slot->respawn_timer);
		slot_event(slot, WORKER_EV_DRAIN);
		/* DRAIN on the socketpair; SIGTERM only when that is gone (a
		 * worker that already left its loop would die of a late SIGTERM). */
		if (slot->ipc_fd >= 0)
			slot_send(slot, IPC_DRAIN, NULL, 0);
		else
			slot_kill(slot, SIGTERM);
	}
	evtimer_add(gen->timer, &tv);
}

static void gen_discard(struct generation *gen, const char *why)
{
	struct supervisor *sup = gen->sup;

	char message[256];

	snprintf(message, sizeof(message),
	         "generation %u discarded (%s); generation %u keeps serving", gen->id, why,
	         sup->serving ? sup->serving->id : 0);
	log_error("reload failed: %s", message);
	evtimer_del(gen->timer);
	gen->state = GEN_DISCARDED;
	if (sup->pending == gen)
		sup->pending = NULL;
	for (size_t i = 0; i < gen->n_slots; i++) {
		event_del(gen->slots[i].respawn_timer);
		slot_event(&gen->slots[i], WORKER_EV_DRAIN);
		slot_kill(&gen->slots[i], SIGKILL);
	}
	notify_send("READY=1");
	update_status(sup);
	if (sup->serving && sup->serving != gen)
		reload_finish(sup, -ECHILD, message, NULL);
	reap_generations(sup);
}

/* Core dumps (and ptrace by the same user) are off unless the config asks:
 * they would expose the keys in memory. Workers inherit it through fork. */
static void apply_core_dumps(bool allow)
{
	int r = privdrop_set_dumpable(allow);

	if (r < 0)
		log_warning("cannot %s core dumps: %s", allow ? "allow" : "disable", strerror(-r));
	else if (allow)
		log_notice("core dumps allowed (llmgate.core_dumps): they may contain API keys");
}

/* Settings a running daemon cannot change: warn and keep the running value. */
static void keep_restart_only(const struct config *running, struct config *next)
{
	if (strcmp(running->listen, next->listen) != 0) {
		log_warning("reload: llmgate.listen changed to '%s'; it needs a restart, keeping "
		            "'%s'",
		            next->listen, running->listen);
		char *keep = strdup(running->listen);
		if (keep) {
			free(next->listen);
			next->listen = keep;
		}
	}
	if ((running->admin_listen || next->admin_listen) &&
	    (!running->admin_listen || !next->admin_listen ||
	     strcmp(running->admin_listen, next->admin_listen) != 0))
		log_warning("reload: llmgate.admin_listen changed; it needs a restart, keeping "
		            "the running one");
	if ((running->user || next->user) &&
	    (!running->user || !next->user || strcmp(running->user, next->user) != 0))
		log_warning("reload: llmgate.user changed; it needs a restart, keeping the "
		            "running user");
}

static void reload_finish(struct supervisor *sup, int result, const char *message,
                          const struct diag_list *diags)
{
	supervisor_reload_fn *done = sup->reload_done;
	void *ctx = sup->reload_ctx;

	sup->reload_done = NULL;
	sup->reload_ctx = NULL;
	if (done)
		done(ctx, result, message, diags);
}

void supervisor_reload_forget(struct supervisor *sup, void *ctx)
{
	if (sup->reload_queued && sup->queued_ctx == ctx) {
		sup->queued_done = NULL;
		sup->queued_ctx = NULL;
	}
	if (sup->reload_ctx == ctx) {
		sup->reload_done = NULL;
		sup->reload_ctx = NULL;
	}
}

void supervisor_reload(struct supervisor *sup, supervisor_reload_fn *done, void *ctx)
{
	struct diag_list diags = {0};
	struct config *config = NULL;
	struct generation *gen;
	char message[160];
	int r;

	if (sup->stopping || sup->pending) {
		snprintf(message, sizeof(message), "%s",
		         sup->stopping ? "llmgated is stopping" : "another reload is in progress");
		log_warning("reload refused: %s", message);
		if (done)
			done(ctx, -EBUSY, message, NULL);
		return;
	}
	if (!sup->serving) {
		/* The first generation is still starting (a SIGHUP right after the
		 * start): the reload runs once it serves, so the new config is not
		 * lost and nothing is replaced half-started. */
		if (sup->reload_queued) {
			if (done)
				done(ctx, -EBUSY, "another reload is in progress", NULL);
			return;
		}
		sup->reload_queued = true;
		sup->queued_done = done;
		sup->queued_ctx = ctx;
		log_notice("reload: queued until the first generation serves");
		return;
	}
	sup->reload_done = done;
	sup->reload_ctx = ctx;
	notify_reloading();
	log_notice("reload: loading '%s'", sup->options->config_path);
	r = config_load(sup->options->config_path, &config, &diags);
	diag_sort(&diags);
	for (size_t i = 0; i < diags.n; i++) {
		char line[2048];

		diag_format(&diags.items[i], line, sizeof(line));
		log_msg(diags.items[i].severity == DIAG_ERROR ? LOG_ERR : LOG_WARNING, "reload: %s",
		        line);
	}
	if (r < 0) {
		snprintf(message, sizeof(message), "config has errors; generation %u keeps serving",
		         sup->serving ? sup->serving->id : 0);
		log_error("reload failed: %s", message);
		notify_send("READY=1");
		update_status(sup);
		reload_finish(sup, -EINVAL, message, &diags);
		diag_free(&diags);
		return;
	}
	keep_restart_only(sup->serving->config, config);
	apply_core_dumps(config->core_dumps);
	gen = gen_new(sup, config);
	if (!gen) {
		log_error("reload failed: out of memory");
		config_free(config);
		notify_send("READY=1");
		reload_finish(sup, -ENOMEM, "out of memory", &diags);
		diag_free(&diags);
		return;
	}
	diag_free(&diags);
	sup->pending = gen;
	log_info("reload: starting generation %u with %zu workers", gen->id, gen->n_slots);
	gen_start(gen);
	update_status(sup);
}

void supervisor_status_changed(struct supervisor *sup)
{
	update_status(sup);
}

void supervisor_set_log_level(struct supervisor *sup, int level)
{
	struct ipc_log_level msg = {.level = level};

	log_set_level(level);
	for (struct generation *g = sup->generations; g; g = g->next)
		for (size_t i = 0; i < g->n_slots; i++)
			slot_send(&g->slots[i], IPC_LOG_LEVEL, &msg, sizeof(msg));
	log_notice("log level set to %s", log_level_name(level));
}

void supervisor_set_fallback_override(struct supervisor *sup, enum fallback_setting setting,
                                      uid_t uid)
{
	sup->fallback_override = setting;
	sup->fallback_override_uid = uid;
	sup->fallback_override_time = time(NULL);
	log_notice("fallback override set to '%s' by uid %u", fallback_setting_name(setting),
	           (unsigned)uid);
	if (sup->health)
		health_override_changed(sup->health);
}

static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
	supervisor_reload(arg, NULL, NULL);
}

static void on_ping_timer(evutil_socket_t fd, short what, void *arg)
{
	struct supervisor *sup = arg;
	bool all_answer = sup->serving != NULL;
	struct ipc_ping ping;

	for (struct generation *g = sup->generations; g; g = g->next) {
		for (size_t i = 0; i < g->n_slots; i++) {
			struct slot *slot = &g->slots[i];
			long silent = clock_ms_since(&slot->last_pong);

			if (slot->pid <= 0 || slot->state == WORKER_STARTING)
				continue;
			if (silent > PING_TIMEOUT_MS) {
				log_error("worker[%u]: pid %d has not answered pings for %ld ms, "
				          "killing it",
				          slot->index, slot->pid, silent);
				slot_kill(slot, SIGKILL);
				if (g == sup->serving)
					all_answer = false;
				continue;
			}
			ping.token = ((uint64_t)g->id << 32) | slot->seq;
			slot_send(slot, IPC_PING, &ping, sizeof(ping));
		}
	}
	if (sup->watchdog_usec && all_answer && gen_ready(sup->serving) > 0)
		notify_send("WATCHDOG=1");
}

static int open_listener(const char *address)
{
	int fd = notify_listen_fd();

	if (fd == -EINVAL) {
		log_error("socket activation: expected exactly one listening stream socket");
		return fd;
	}
	if (fd >= 0) {
		int flags = fcntl(fd, F_GETFL);

		(void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		log_info("using the listening socket passed by systemd (fd %d)", fd);
		return fd;
	}
	fd = listen_open(address);
	if (fd < 0)
		log_error("cannot listen on '%s': %s", address, strerror(-fd));
	return fd;
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct supervisor *sup = arg;

	if (sup->stopping) {
		log_notice("second %s: killing workers now", strsignal((int)sig));
		for (struct generation *g = sup->generations; g; g = g->next)
			kill_stragglers(g);
		return;
	}
	sup->stopping = true;
	notify_send("STOPPING=1");
	log_notice("%s: stopping %zu workers", strsignal((int)sig), all_live(sup));
	if (sup->pending)
		gen_discard(sup->pending, "stopping");
	for (struct generation *g = sup->generations; g; g = g->next)
		if (g->state != GEN_DISCARDED)
			gen_drain(g, "stopping");
	reap_generations(sup);
}

/*
 * Signals reach the supervisor through a signalfd watched by the event loop,
 * not through libevent's signal events: libevent keeps process-global signal
 * state that forked workers would inherit and trip over when they set up
 * their own loop. The signals stay blocked here; workers unblock them.
 */
static void on_signalfd(evutil_socket_t fd, short what, void *arg)
{
	struct supervisor *sup = arg;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			on_stop_signal((evutil_socket_t)si.ssi_signo, 0, sup);
			break;
		case SIGCHLD:
			on_sigchld(SIGCHLD, 0, sup);
			break;
		case SIGHUP:
			on_sighup(SIGHUP, 0, sup);
			break;
		default:
			break;
		}
	}
}

static int signals_open(struct supervisor *sup)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	sup->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sup->signal_fd < 0) {
		log_error("signalfd: %s", strerror(errno));
		return -errno;
	}
	sup->signal_event =
	        event_new(sup->base, sup->signal_fd, EV_READ | EV_PERSIST, on_signalfd, sup);
	if (!sup->signal_event || event_add(sup->signal_event, NULL) < 0)
		return -ENOMEM;
	return 0;
}

static void supervisor_free(struct supervisor *sup)
{
	control_close(sup->control);
	sup->control = NULL;
	admin_close(sup->admin);
	sup->admin = NULL;
	metrics_free(sup->metrics);
	sup->metrics = NULL;
	health_free(sup->health);
	sup->health = NULL;
	while (sup->generations)
		gen_free(sup->generations);
	if (sup->signal_event)
		event_free(sup->signal_event);
	if (sup->signal_fd >= 0)
		close(sup->signal_fd);
	if (sup->ping_timer)
		event_free(sup->ping_timer);
	if (sup->listen_fd >= 0)
		close(sup->listen_fd);
	if (sup->base)
		event_base_free(sup->base);
	memset(sup, 0, sizeof(*sup));
}

int supervisor_run(const struct supervisor_options *options, struct config *config)
{
	struct supervisor *sup = &the_supervisor;
	struct generation *gen;
	char note[256];
	long ping_ms = PING_INTERVAL_MS;
	int r;

	*sup = (struct supervisor){
	        .options = options,
	        .listen_fd = -1,
	        .signal_fd = -1,
	        .fallback_override = config->fallback.mode,
	        .fallback_override_uid = (uid_t)-1,
	};
	clock_gettime(CLOCK_MONOTONIC, &sup->started);
	sup->fallback_override_time = time(NULL);
	log_set_title("supervisor");
	signal(SIGPIPE, SIG_IGN);
	if (config->verbose && log_get_level() < LOG_DEBUG)
		log_set_level(LOG_DEBUG);

	sup->listen_fd = open_listener(config->listen);
	if (sup->listen_fd < 0) {
		config_free(config);
		return 1;
	}
	sup->base = event_base_new();
	if (!sup->base) {
		log_error("cannot create the event loop");
		config_free(config);
		supervisor_free(sup);
		return 1;
	}
	/* Created before dropping privileges: /run/llmgate may be root's. */
	r = control_open(sup, config->control_socket, config->user, &sup->control);
	if (r < 0) {
		config_free(config);
		supervisor_free(sup);
		return 1;
	}
	sup->metrics = metrics_new();
	if (!sup->metrics) {
		log_error("out of memory");
		config_free(config);
		supervisor_free(sup);
		return 1;
	}
	if (config->admin_listen && admin_open(sup, config->admin_listen, &sup->admin) < 0) {
		config_free(config);
		supervisor_free(sup);
		return 1;
	}
	r = privdrop(config->user, note, sizeof(note));
	if (r < 0) {
		log_error("cannot drop privileges to '%s': %s", config->user ? config->user : "",
		          strerror(-r));
		config_free(config);
		supervisor_free(sup);
		return 1;
	}
	if (note[0])
		log_warning("%s", note);
	apply_core_dumps(config->core_dumps);
	if (signals_open(sup) < 0) {
		config_free(config);
		supervisor_free(sup);
		return 1;
	}
	sup->watchdog_usec = notify_watchdog_usec();
	if (sup->watchdog_usec && (long)(sup->watchdog_usec / 2000) < ping_ms)
		ping_ms = (long)(sup->watchdog_usec / 2000);
	sup->ping_timer = event_new(sup->base, -1, EV_PERSIST, on_ping_timer, sup);
	struct timeval ping_tv = clock_tv_ms(ping_ms > 0 ? ping_ms : 1);
	evtimer_add(sup->ping_timer, &ping_tv);

	gen = gen_new(sup, config);
	if (!gen) {
		log_error("out of memory");
		config_free(config);
		supervisor_free(sup);
		return 1;
	}
	sup->health = health_new(sup);
	if (!sup->health) {
		log_error("out of memory");
		supervisor_free(sup);
		return 1;
	}
	health_config_changed(sup->health);
	log_notice("llmgated " LLMGATE_VERSION " starting: %zu workers on '%s', config '%s'",
	           gen->n_slots, config->listen, config->path);
	gen_start(gen);

	r = event_base_dispatch(sup->base);
	log_notice("stopped");
	supervisor_free(sup);
	return r < 0 ? 1 : 0;
}
