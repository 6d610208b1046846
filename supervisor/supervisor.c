/*
 * supervisor: the llmgated parent process (see supervisor.h).
 *
 * What it owns: the listening socket (opened once, never closed while the
 * daemon runs, so nothing queued in the kernel is lost), the worker
 * generations (generation.c), each of its slots with their worker process
 * and IPC socketpair (slot.c), the control socket (control.c), the /metrics
 * listener (admin.c), the global fallback decision (health.c), the request
 * statistics (metrics.c) and the shared response-id table the workers
 * read and write (response_affinity.c; it only reads its counters). It never serves a client and
 * never talks to an upstream; it only forks workers, watches them and tells them what to do.
 *
 * Its states: starting (the first generation starts; nothing to fall back to,
 * so its crashed workers are respawned with backoff until it serves), serving
 * (one generation serves; at most one more starts beside it during a reload,
 * older ones drain), stopping (SIGTERM/SIGINT: every generation drains, the
 * loop ends with the last worker; a second signal kills them).
 *
 * How a reload flows (SIGHUP or `llmgatectl reload`, reload.c):
 *   load and check the config; errors: log them, generation N keeps serving
 *   -> start generation N+1 beside N (slot.c forks its workers)
 *   -> every worker of N+1 says READY: promote N+1, drain N under a timer
 *      (DRAIN over IPC, SIGKILL after drain_timeout)
 *   -> or N+1 misses the ready timeout or loses a worker first: discard it;
 *      N keeps serving.
 *
 * Signals come through a signalfd watched by the event loop; everything else
 * is an event of that one loop.
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "build_config.h"
#include "client_keys_state.h"
#include "client_limits.h"
#include "clock.h"
#include "config.h"
#include "control.h"
#include "health.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "privdrop.h"
#include "response_affinity.h"
#include "tls_listener.h"
#include "tokens.h"
#include "worker/worker.h"

#define PING_INTERVAL_MS   1000
#define CRASH_LOOP_CRASHES 3

/* Reachable from a global so that forked workers' leak checks see it as live. */
static struct supervisor the_supervisor;

long supervisor_uptime_ms(const struct supervisor *sup)
{
	return clock_ms_since(&sup->started);
}

/* The systemd STATUS line: generation, workers, crash loops. */
void supervisor_status_changed(struct supervisor *sup)
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
	notify_send("STATUS=generation %u, %zu/%zu workers ready, %s%s%s", g->id,
	            generation_ready(g), g->n_slots, mode,
	            sup->pending && sup->serving ? ", reloading" : "", loops);
}

void supervisor_become_worker(const struct slot *slot, int ipc_fd)
{
	struct worker_args args = {
	        .config = slot->gen->config,
	        .listen_fd = slot->gen->sup->listen_fd,
	        .ipc_fd = ipc_fd,
	        .slot = slot->index,
	        .generation = slot->gen->id,
	        .supervisor_pid = getppid(),
	        .tls = slot->gen->tls,
	};

	/* Workers start with nothing blocked (the supervisor blocks the signals
	 * it reads from its signalfd). */
	sigemptyset(&args.sigmask);
	client_limits_set_cell(slot->key_cell);
	worker_run(&args);
}

void supervisor_become_token_process(const struct token_process_args *args)
{
	token_process_run(args);
}

/* Core dumps (and ptrace by the same user) are off unless the config asks:
 * they would expose the keys in memory. Workers inherit it through fork. */
void supervisor_apply_core_dumps(bool allow)
{
	int r = privdrop_set_dumpable(allow);

	if (r < 0)
		log_warning("cannot %s core dumps: %s", allow ? "allow" : "disable", strerror(-r));
	else if (allow)
		log_notice("core dumps allowed (llmgate.core_dumps): they may contain API keys");
}

void supervisor_set_log_level(struct supervisor *sup, int level)
{
	struct ipc_log_level msg = {.level = level};

	log_set_level(level);
	for (struct generation *g = sup->generations; g; g = g->next)
		for (size_t i = 0; i < g->n_slots; i++)
			slot_send(&g->slots[i], IPC_LOG_LEVEL, &msg, sizeof(msg));
	tokens_set_log_level(sup->tokens, level);
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

static void on_ping_timer(evutil_socket_t fd, short what, void *arg)
{
	struct supervisor *sup = arg;
	bool all_answer = sup->serving != NULL;

	for (struct generation *g = sup->generations; g; g = g->next)
		for (size_t i = 0; i < g->n_slots; i++)
			if (!slot_ping(&g->slots[i]) && g == sup->serving)
				all_answer = false;
	if (sup->watchdog_usec && all_answer && generation_ready(sup->serving) > 0)
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

static void on_stop_signal(struct supervisor *sup, int sig)
{
	if (sup->stopping) {
		log_notice("second %s: killing workers now", strsignal(sig));
		for (struct generation *g = sup->generations; g; g = g->next)
			generation_kill_stragglers(g);
		return;
	}
	sup->stopping = true;
	notify_send("STOPPING=1");
	log_notice("%s: stopping %zu workers", strsignal(sig), generation_live_all(sup));
	if (sup->pending)
		generation_discard(sup->pending, "stopping");
	for (struct generation *g = sup->generations; g; g = g->next)
		if (g->state != GEN_DISCARDED)
			generation_drain(g, "stopping");
	generation_reap(sup);
}

static void on_sigchld(struct supervisor *sup)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		generation_child_exited(sup, pid, status);
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
			on_stop_signal(sup, (int)si.ssi_signo);
			break;
		case SIGCHLD:
			on_sigchld(sup);
			break;
		case SIGHUP:
			reload_start(sup, NULL, NULL);
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

/* Pings every worker; with systemd's watchdog, at least twice per period. */
static int ping_open(struct supervisor *sup)
{
	long ping_ms = PING_INTERVAL_MS;
	struct timeval tv;

	sup->watchdog_usec = notify_watchdog_usec();
	if (sup->watchdog_usec && (long)(sup->watchdog_usec / 2000) < ping_ms)
		ping_ms = (long)(sup->watchdog_usec / 2000);
	sup->ping_timer = event_new(sup->base, -1, EV_PERSIST, on_ping_timer, sup);
	if (!sup->ping_timer) {
		log_error("out of memory");
		return -ENOMEM;
	}
	tv = clock_tv_ms(ping_ms > 0 ? ping_ms : 1);
	evtimer_add(sup->ping_timer, &tv);
	return 0;
}

/* The one teardown: everything supervisor_run() may have opened, in reverse. */
static void supervisor_free(struct supervisor *sup)
{
	tokens_free(sup->tokens);
	control_close(sup->control);
	admin_close(sup->admin);
	metrics_free(sup->metrics);
	response_affinity_free();
	client_keys_state_close(sup);
	health_free(sup->health);
	while (sup->generations)
		generation_free(sup->generations);
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

/* The response-id table every worker of every generation shares: mapped
 * before the first fork, kept until exit. Without it (off, or no memory)
 * Responses follow-ups still reach their deployment by the not-found walk. */
static void affinity_open(long entries)
{
	int r = response_affinity_init((size_t)entries);

	if (r < 0)
		log_warning("response affinity table of %ld entries: %s; follow-ups find their "
		            "deployment by trying the group's deployments",
		            entries, strerror(-r));
	else if (entries > 0)
		log_info("response affinity table: %ld entries", entries);
}

/* Everything but the workers, before and after dropping privileges. Logs
 * its own errors; on failure supervisor_free() undoes what was done. */
static int supervisor_open(struct supervisor *sup, const struct config *config)
{
	char note[256];
	int r;

	sup->listen_fd = open_listener(config->listen);
	if (sup->listen_fd < 0)
		return sup->listen_fd;
	sup->base = event_base_new();
	if (!sup->base) {
		log_error("cannot create the event loop");
		return -ENOMEM;
	}
	/* Created before dropping privileges: /run/llmgate may be root's. */
	r = control_open(sup, config->control_socket, config->user, &sup->control);
	if (r < 0)
		return r;
	sup->metrics = metrics_new();
	if (!sup->metrics) {
		log_error("out of memory");
		return -ENOMEM;
	}
	affinity_open(config->response_affinity_entries);
	r = client_keys_state_init(config);
	if (r < 0)
		return r;
	if (config->admin_listen) {
		r = admin_open(sup, config->admin_listen, &sup->admin);
		if (r < 0)
			return r;
	}
	r = privdrop(config->user, note, sizeof(note));
	if (r < 0) {
		log_error("cannot drop privileges to '%s': %s", config->user ? config->user : "",
		          strerror(-r));
		return r;
	}
	if (note[0])
		log_warning("%s", note);
	supervisor_apply_core_dumps(config->core_dumps);
	r = signals_open(sup);
	if (r < 0)
		return r;
	sup->tokens = tokens_new(sup);
	if (!sup->tokens) {
		log_error("out of memory");
		return -ENOMEM;
	}
	return ping_open(sup);
}

/* The first generation's TLS context, read after dropping privileges as
 * every reload reads it (tls_listener.c). */
static int open_tls(const struct config *config, struct ssl_ctx_st **ret)
{
	struct diag_list diags = {0};
	int r = tls_listener_new(config, ret, &diags);

	for (size_t i = 0; i < diags.n; i++) {
		char line[2048];

		diag_format(&diags.items[i], line, sizeof(line));
		log_msg(diags.items[i].severity == DIAG_ERROR ? LOG_ERR : LOG_WARNING, "%s", line);
	}
	diag_free(&diags);
	if (r < 0)
		log_error("llmgate.tls: the certificate or key did not load, not starting");
	return r;
}

int supervisor_run(const struct supervisor_options *options, struct config *config)
{
	struct supervisor *sup = &the_supervisor;
	struct generation *gen;
	struct ssl_ctx_st *tls = NULL;
	int status = 1;

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

	if (supervisor_open(sup, config) < 0 || open_tls(config, &tls) < 0)
		goto out;
	gen = generation_new(sup, config);
	if (!gen) {
		log_error("out of memory");
		goto out;
	}
	config = NULL; /* the generation's now */
	gen->tls = tls;
	tls = NULL;
	if (client_keys_state_open(sup, gen->config) < 0)
		goto out;
	sup->health = health_new(sup);
	if (!sup->health) {
		log_error("out of memory");
		goto out;
	}
	health_config_changed(sup->health);
	log_notice("llmgated " LLMGATE_VERSION " starting: %zu workers on '%s', config '%s'",
	           gen->n_slots, gen->config->listen, gen->config->path);
	generation_start(gen);

	status = event_base_dispatch(sup->base) < 0 ? 1 : 0;
	log_notice("stopped");
out:
	tls_listener_free(tls);
	config_free(config);
	supervisor_free(sup);
	return status;
}
