/*
 * worker: a worker process from fork to exit (see worker.h).
 *
 * Start-up order matters: reset signal dispositions inherited from the
 * supervisor's event loop, then unblock signals; ask the kernel for SIGTERM if
 * the supervisor dies; keep only our descriptors; take the configured
 * scheduling policy; then build a fresh event loop, libcurl state and HTTP
 * server; say HELLO, then READY once accepting.
 *
 * Stop (SIGTERM, DRAIN from the supervisor, or supervisor gone): stop
 * accepting, serve every connection already accepted to the end of its
 * current request (responses fully written), and exit once none is open or
 * at drain_timeout.
 */
#include "worker.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "http_server.h"
#include "ipc.h"
#include "log.h"
#include "proxy.h"
#include "request_stats.h"
#include "fallback_state.h"
#include "endpoints.h"
#include "passthrough.h"
#include "upstream.h"
#include "clock.h"
#include "token_store.h"
#include "otlp_export.h"
#include "proxy_trace.h"

#define DRAIN_POLL_MS    50
#define START_TIMEOUT_MS 10000 /* for the supervisor's initial state */

struct worker {
	const struct worker_args *args;
	struct event_base *base;
	struct upstream *up;
	struct proxy *proxy;
	struct endpoints *endpoints;
	struct fallback_state *fallback_state;
	struct request_stats *stats;
	struct proxy_tracer *tracer;         /* NULL: tracing off */
	struct ipc_otel_spans spans_pending; /* not yet reported */
	struct http_server *http;
	struct event *report_timer;
	struct event *ipc_event;
	struct event *sigterm, *sigint;
	struct event *drain_timer;
	struct timespec drain_started;
	bool draining;
	bool drain_pending; /* DRAIN came before START */
	uint32_t seq;
};

static void reset_signals(const sigset_t *mask)
{
	struct sigaction sa = {.sa_handler = SIG_DFL};

	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigprocmask(SIG_SETMASK, mask, NULL);
}

/* Moves FD to TARGET (which must not be in use by the other kept fd). */
static int move_fd(int fd, int target)
{
	if (fd == target)
		return fd;
	if (dup3(fd, target, O_CLOEXEC) < 0)
		return -1;
	close(fd);
	return target;
}

static int keep_only_fds(int *listen_fd, int *ipc_fd)
{
	/* Park both above any likely number first, then settle them at 3 and 4. */
	int l = fcntl(*listen_fd, F_DUPFD_CLOEXEC, 100);
	int i = fcntl(*ipc_fd, F_DUPFD_CLOEXEC, 100);

	if (l < 0 || i < 0)
		return -1;
	close(*listen_fd);
	close(*ipc_fd);
	*listen_fd = move_fd(l, 3);
	*ipc_fd = move_fd(i, 4);
	if (*listen_fd < 0 || *ipc_fd < 0)
		return -1;
	if (close_range(5, ~0U, 0) < 0) {
		long max = sysconf(_SC_OPEN_MAX);

		for (int fd = 5; fd < (max > 0 ? max : 65536); fd++)
			close(fd);
	}
	return 0;
}

/* The span counts since the last report, when there are any; kept for the
 * next report when the socket is full. */
static int report_spans(struct worker *w)
{
	struct ipc_otel_spans now, *pending = &w->spans_pending;
	int r;

	otlp_export_take_counts(proxy_tracer_export(w->tracer), &now.exported, &now.dropped);
	pending->exported += now.exported;
	pending->dropped += now.dropped;
	if (!pending->exported && !pending->dropped)
		return 0;
	r = ipc_send(w->args->ipc_fd, IPC_OTEL_SPANS, w->args->generation, ++w->seq, pending,
	             sizeof(*pending));
	if (r == 0)
		*pending = (struct ipc_otel_spans){0};
	return r;
}

/* Sends the outcome counts and request statistics gathered since the last
 * report. */
static void report(struct worker *w)
{
	int r = fallback_state_flush(w->fallback_state, w->args->ipc_fd, w->args->generation,
	                             &w->seq);

	if (r >= 0)
		r = request_stats_flush(w->stats, w->args->ipc_fd, w->args->generation, &w->seq);
	if (r >= 0 && w->tracer)
		r = report_spans(w);
	if (r < 0 && r != -EAGAIN)
		log_debug("cannot report to the supervisor: %s", strerror(-r));
}

/* http_server's on_reject: counted and logged like the endpoints' answers. */
static void on_http_reject(void *ctx, const struct http_rejected *r)
{
	request_stats_rejected(ctx, r);
}

static void on_report_timer(evutil_socket_t fd, short what, void *arg)
{
	report(arg);
}

static void on_drain_timer(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	size_t open = http_server_connections(w->http);
	struct otlp_export *spans = proxy_tracer_export(w->tracer);

	/* A connection closes only once its last response is fully written;
	 * the spans of its requests leave before the worker does. */
	if (open == 0 && (!spans || otlp_export_idle(spans))) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	if (clock_ms_since(&w->drain_started) >= w->args->config->drain_timeout_ms) {
		log_warning("drain timeout: abandoning %zu open connections", open);
		event_base_loopexit(w->base, NULL);
		return;
	}
	struct timeval tv = {.tv_sec = 0, .tv_usec = DRAIN_POLL_MS * 1000};
	evtimer_add(w->drain_timer, &tv);
}

static void worker_drain(struct worker *w, const char *why)
{
	if (w->draining)
		return;
	w->draining = true;
	report(w);
	clock_gettime(CLOCK_MONOTONIC, &w->drain_started);
	http_server_stop_accepting(w->http);
	log_info("draining (%s): %zu connections open", why, http_server_connections(w->http));
	if (w->tracer)
		otlp_export_flush(proxy_tracer_export(w->tracer));
	on_drain_timer(-1, 0, w);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	worker_drain(arg, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* Messages that set state: the global mode of a group, the log level. */
static void apply_state(struct worker *w, const struct ipc_header *h, const void *payload)
{
	if (h->type == IPC_MODE) {
		struct ipc_mode mode;

		memcpy(&mode, payload, sizeof(mode));
		if (fallback_state_apply(w->fallback_state, &mode) < 0) {
			log_error("supervisor sent a mode for unknown group %u, exiting",
			          mode.group);
			exit(2);
		}
		log_debug("group '%s': mode %s (epoch %llu, %u probes granted)",
		          w->args->config->groups[mode.group].name, fallback_mode_name(mode.mode),
		          (unsigned long long)mode.epoch, mode.probes);
	} else if (h->type == IPC_LOG_LEVEL) {
		struct ipc_log_level level;

		memcpy(&level, payload, sizeof(level));
		log_set_level(level.level);
	} else if (h->type == IPC_TOKEN) {
		static struct ipc_token token; /* 8 KB */

		memcpy(&token, payload, sizeof(token));
		if (token_store_apply(&token) < 0) {
			log_error("supervisor sent a token for unknown credential %u, exiting",
			          token.credential);
			exit(2);
		}
		explicit_bzero(&token, sizeof(token));
	}
}

/* Before accepting: takes the supervisor's initial state (modes, log level)
 * up to its START message, so a new worker never routes on a stale mode. */
static int receive_initial_state(struct worker *w, int fd)
{
	char buf[IPC_MAX_MESSAGE];
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long left = START_TIMEOUT_MS - clock_ms_since(&start);
		struct ipc_header h;
		const void *payload;
		ssize_t n;

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			return -errno;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return -EPIPE;
		if ((size_t)n > sizeof(buf) || ipc_decode(buf, (size_t)n, &h, &payload) < 0)
			return -EBADMSG;
		if (h.type == IPC_START)
			return 0;
		if (h.type == IPC_DRAIN) /* stopped or replaced before it started */
			w->drain_pending = true;
		else if (h.type == IPC_PING)
			(void)ipc_send(fd, IPC_PONG, w->args->generation, ++w->seq, payload,
			               sizeof(struct ipc_ping));
		else
			apply_state(w, &h, payload);
	}
}

static void on_ipc(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	char buf[IPC_MAX_MESSAGE];

	for (;;) {
		struct ipc_header h;
		const void *payload;
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			event_del(w->ipc_event);
			worker_drain(w, "supervisor gone");
			return;
		}
		if ((size_t)n > sizeof(buf) || ipc_decode(buf, (size_t)n, &h, &payload) < 0) {
			log_error("malformed message from the supervisor, exiting");
			exit(2);
		}
		switch ((enum ipc_type)h.type) {
		case IPC_PING:
			(void)ipc_send(fd, IPC_PONG, w->args->generation, ++w->seq, payload,
			               sizeof(struct ipc_ping));
			break;
		case IPC_DRAIN:
			worker_drain(w, "asked by the supervisor");
			break;
		case IPC_MODE:
		case IPC_LOG_LEVEL:
		case IPC_START:
		case IPC_TOKEN:
			apply_state(w, &h, payload);
			break;
		default:
			log_warning("ignoring unexpected message %s", ipc_type_name(h.type));
			break;
		}
	}
}

/*
 * llmgate.cpu_scheduling_policy: batch. A worker waits on its sockets most of
 * the time, so under SCHED_OTHER every wake-up (an upstream's event arriving)
 * preempts whatever runs on its CPU, another worker or a co-located upstream,
 * and the two take turns many times per stream. Under SCHED_BATCH the woken
 * worker runs when the running task's slice ends or it blocks, and reads what
 * came meanwhile in one go; on an idle CPU it runs at once, as before. Only
 * SCHED_OTHER is switched: a policy llmgated was started with on purpose
 * (chrt, systemd's CPUSchedulingPolicy=) stays. Not fatal: the worker serves
 * under the policy it inherited.
 */
static void take_scheduling_policy(const struct config *config)
{
	struct sched_param param = {.sched_priority = 0};

	if (!config->sched_batch || sched_getscheduler(0) != SCHED_OTHER)
		return;
	if (sched_setscheduler(0, SCHED_BATCH, &param) < 0)
		log_warning("cannot switch to SCHED_BATCH (llmgate.cpu_scheduling_policy): %s; "
		            "serving under SCHED_OTHER",
		            strerror(errno));
}

void worker_run(const struct worker_args *args)
{
	struct worker w = {.args = args};
	int listen_fd = args->listen_fd, ipc_fd = args->ipc_fd;
	const struct config *config = args->config;

	log_set_title("worker[%u]", args->slot);
	reset_signals(&args->sigmask);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != args->supervisor_pid)
		_exit(1); /* the supervisor is already gone */
	if (keep_only_fds(&listen_fd, &ipc_fd) < 0) {
		log_error("cannot set up descriptors: %s", strerror(errno));
		_exit(1);
	}
	struct worker_args local = *args;
	local.listen_fd = listen_fd;
	local.ipc_fd = ipc_fd;
	w.args = &local;
	if (config->verbose)
		log_set_level(LOG_DEBUG);
	take_scheduling_policy(config);

	/* libcurl is set up by upstream.c with its first transfer (not every
	 * worker needs it, and its global init starts OpenSSL). */
	struct event_config *ecfg = event_config_new();
	if (ecfg)
		event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	w.base = ecfg ? event_base_new_with_config(ecfg) : NULL;
	event_config_free(ecfg);
	if (!w.base)
		goto fail;
	if (token_store_init(config) < 0)
		goto fail;
	w.fallback_state = fallback_state_new(config);
	w.up = w.fallback_state ? upstream_new(w.base) : NULL;
	if (w.up && upstream_set_ca_file(w.up, config->ca_file) < 0) {
		upstream_free(w.up);
		w.up = NULL;
	}
	if (w.up)
		upstream_set_http2(w.up, config->upstream_http2);
	w.proxy = w.up ? proxy_new(config, w.up, w.fallback_state) : NULL;
	if (!w.proxy || request_stats_new(config, w.base, &w.stats) < 0)
		goto fail;
	proxy_set_request_stats(w.proxy, w.stats);
	if (config->otel.enabled) {
		if (proxy_tracer_new(config, w.up, w.base, &w.tracer) < 0)
			goto fail;
		proxy_set_tracer(w.proxy, w.tracer);
	}
	struct endpoints_options ropts = {
	        .config = config,
	        .proxy = w.proxy,
	        .fallback_state = w.fallback_state,
	        .generation = args->generation,
	        .draining = &w.draining,
	        .stats = w.stats,
	        .up = w.up,
	};
	struct http_server_options hopts;
	http_server_options_default(&hopts, config->max_request_size, config->header_timeout_ms,
	                            config->body_timeout_ms);
	hopts.idle_timeout_ms = config->idle_timeout_ms;
	hopts.handler = endpoints_handle;
	hopts.body_limit = endpoints_body_limit;
	hopts.body_spool = endpoints_body_spool;
	hopts.spool_dir = getenv("TMPDIR"); /* NULL: /tmp */
	if (hopts.spool_dir && !hopts.spool_dir[0])
		hopts.spool_dir = NULL;
	hopts.on_reject = on_http_reject;
	hopts.reject_ctx = w.stats;
	hopts.tls = args->tls;
	if (endpoints_new(&ropts, &w.endpoints) < 0)
		goto fail;
	hopts.ctx = w.endpoints;

	struct ipc_hello hello = {.slot = args->slot, .pid = (uint32_t)getpid()};
	if (ipc_send(ipc_fd, IPC_HELLO, args->generation, ++w.seq, &hello, sizeof(hello)) < 0) {
		log_error("cannot talk to the supervisor: %s", strerror(errno));
		goto fail;
	}
	int r = receive_initial_state(&w, ipc_fd);
	if (r < 0) {
		log_error("no initial state from the supervisor: %s", strerror(-r));
		goto fail;
	}
	if (http_server_new(w.base, &hopts, listen_fd, &w.http) < 0)
		goto fail;
	w.report_timer = event_new(w.base, -1, EV_PERSIST, on_report_timer, &w);
	struct timeval report_tv = clock_tv_ms(config->fallback.report_interval_ms);
	if (!w.report_timer || event_add(w.report_timer, &report_tv) < 0)
		goto fail;
	w.drain_timer = evtimer_new(w.base, on_drain_timer, &w);
	w.ipc_event = event_new(w.base, ipc_fd, EV_READ | EV_PERSIST, on_ipc, &w);
	w.sigterm = evsignal_new(w.base, SIGTERM, on_signal, &w);
	w.sigint = evsignal_new(w.base, SIGINT, on_signal, &w);
	if (!w.http || !w.drain_timer || !w.ipc_event || !w.sigterm || !w.sigint ||
	    event_add(w.ipc_event, NULL) < 0 || evsignal_add(w.sigterm, NULL) < 0 ||
	    evsignal_add(w.sigint, NULL) < 0)
		goto fail;

	if (ipc_send(ipc_fd, IPC_READY, args->generation, ++w.seq, NULL, 0) < 0) {
		log_error("cannot talk to the supervisor: %s", strerror(errno));
		goto fail;
	}

	if (w.drain_pending)
		worker_drain(&w, "asked by the supervisor before it started");
	event_base_dispatch(w.base);
	log_debug("exiting");
	report(&w); /* the last deltas, so nothing counted is lost */

	event_free(w.ipc_event);
	event_free(w.sigterm);
	event_free(w.sigint);
	event_free(w.drain_timer);
	event_free(w.report_timer);
	http_server_free(w.http); /* aborts what is still open, before its owners go */
	endpoints_free(w.endpoints);
	proxy_free(w.proxy);
	if (w.tracer)
		otlp_export_stop(proxy_tracer_export(w.tracer)); /* queued spans: dropped */
	report(&w); /* what the aborted exchanges added (499s) */
	proxy_tracer_free(w.tracer);
	request_stats_free(w.stats);
	fallback_state_free(w.fallback_state);
	upstream_free(w.up);
	event_base_free(w.base);
	token_store_free();
	close(ipc_fd);
	exit(0);

fail:
	log_error("worker set-up failed");
	_exit(1);
}
