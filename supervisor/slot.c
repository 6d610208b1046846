/*
 * slot: a worker process and its place in a generation (see slot.h).
 *
 * Workers are plain fork()ed children: they inherit the parsed config
 * copy-on-write and nothing else. Signals are blocked across fork() so that
 * no handler of the supervisor's event loop runs in a child; the child resets
 * every disposition, closes every descriptor it does not own and never touches
 * the supervisor's event base (see supervisor_become_worker()).
 *
 * Every IPC message is validated before use; a worker that sends garbage or
 * stops answering pings is killed (and respawned), never trusted.
 */
#include "slot.h"

#include <errno.h>
#include <limits.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backoff.h"
#include "client_limits.h"
#include "clock.h"
#include "generation.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "metrics_usage.h"
#include "supervisor_int.h"
#include "tokens.h"

#define PING_TIMEOUT_MS 10000 /* no PONG for this long: the worker is hung */

static void on_respawn_timer(evutil_socket_t fd, short what, void *arg);

int slot_init(struct slot *slot, struct generation *gen, unsigned index)
{
	*slot = (struct slot){
	        .gen = gen,
	        .index = index,
	        .ipc_fd = -1,
	        .key_cell = CLIENT_LIMITS_NO_CELL,
	        .state = WORKER_BACKOFF, /* "not running yet": spawning makes it STARTING */
	};
	slot->respawn_timer = evtimer_new(gen->sup->base, on_respawn_timer, slot);
	return slot->respawn_timer ? 0 : -ENOMEM;
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

void slot_release(struct slot *slot)
{
	slot_close_ipc(slot);
	if (slot->respawn_timer) {
		event_free(slot->respawn_timer);
		slot->respawn_timer = NULL;
	}
}

void slot_event(struct slot *slot, enum worker_event ev)
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

void slot_kill(struct slot *slot, int sig)
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

static void on_hello(struct slot *slot, const struct ipc_header *h, const void *payload)
{
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
	tokens_start_slot(slot->gen->sup->tokens, slot); /* its tokens, then START */
}

/* A worker that sent something it cannot mean is not trusted: killed. */
static void refuse(struct slot *slot, const char *what)
{
	log_error("worker[%u]: %s, killing it", slot->index, what);
	slot_kill(slot, SIGKILL);
}

/* A USAGE_COUNTS message: copied out of the receive buffer (alignment). */
static int slot_usage(struct slot *slot, const void *payload)
{
	static struct ipc_usage usage;
	struct timespec now;

	memcpy(&usage, payload, sizeof(usage));
	clock_gettime(CLOCK_MONOTONIC, &now);
	return metrics_usage_add(metrics_usage(slot->gen->sup->metrics), slot->gen->config, &usage,
	                         (int64_t)now.tv_sec);
}

static void handle_message(struct slot *slot, const struct ipc_header *h, const void *payload)
{
	struct supervisor *sup = slot->gen->sup;
	struct ipc_requests requests;
	struct ipc_latency latency;

	switch ((enum ipc_type)h->type) {
	case IPC_HELLO:
		on_hello(slot, h, payload);
		break;
	case IPC_READY:
		slot_event(slot, WORKER_EV_READY);
		clock_gettime(CLOCK_MONOTONIC, &slot->last_pong);
		generation_slot_ready(slot->gen);
		break;
	case IPC_PONG:
		clock_gettime(CLOCK_MONOTONIC, &slot->last_pong);
		break;
	case IPC_REPORT:
		if (health_report(sup->health, slot, payload) < 0)
			refuse(slot, "report names an unknown deployment");
		break;
	case IPC_REQUESTS:
		memcpy(&requests, payload, sizeof(requests));
		if (metrics_add_requests(sup->metrics, slot->gen->config, &requests) < 0)
			refuse(slot, "request statistics name unknown labels");
		break;
	case IPC_USAGE_COUNTS:
		if (slot_usage(slot, payload) < 0)
			refuse(slot, "usage statistics name unknown labels");
		break;
	case IPC_OTEL_SPANS: {
		struct ipc_otel_spans spans;

		memcpy(&spans, payload, sizeof(spans));
		metrics_add_otel_spans(sup->metrics, &spans);
		break;
	}
	case IPC_LATENCY:
		memcpy(&latency, payload, sizeof(latency));
		if (metrics_add_latency(sup->metrics, slot->gen->config, &latency) < 0)
			refuse(slot, "latency statistics name an unknown group");
		break;
	default:
		log_error("worker[%u]: unexpected message %s, killing it", slot->index,
		          ipc_type_name(h->type));
		slot_kill(slot, SIGKILL);
		break;
	}
}

/* Handles up to MAX messages waiting on the slot's socket. */
static void read_messages(struct slot *slot, long max)
{
	char buf[IPC_MAX_MESSAGE];

	for (long i = 0; i < max && slot->ipc_fd >= 0; i++) {
		struct ipc_header h;
		const void *payload;
		ssize_t n = recv(slot->ipc_fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
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

static void on_ipc(evutil_socket_t fd, short what, void *arg)
{
	read_messages(arg, 64); /* then back to the loop: other slots wait */
}

static int slot_spawn(struct slot *slot)
{
	struct supervisor *sup = slot->gen->sup;
	sigset_t all, old;
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		log_error("worker[%u]: socketpair: %s", slot->index, strerror(errno));
		return -errno;
	}

	slot->key_cell = client_limits_cell_take();
	fflush(NULL);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0)
		supervisor_become_worker(slot, sv[1]);
	int saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sv[1]);
	if (pid < 0) {
		log_error("worker[%u]: fork: %s", slot->index, strerror(saved));
		client_limits_cell_release(slot->key_cell);
		slot->key_cell = CLIENT_LIMITS_NO_CELL;
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
	log_info("worker[%u]: started pid %d, generation %u", slot->index, pid, slot->gen->id);
	return 0;
}

static void schedule_respawn(struct slot *slot, long uptime_ms)
{
	slot->crashes = backoff_next_crashes(slot->crashes, uptime_ms);
	slot->next_delay_ms = backoff_delay_ms(slot->crashes);
	struct timeval tv = clock_tv_ms(slot->next_delay_ms);
	evtimer_add(slot->respawn_timer, &tv);
}

void slot_start(struct slot *slot)
{
	if (slot_spawn(slot) < 0)
		schedule_respawn(slot, 0);
}

static void on_respawn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct slot *slot = arg;
	struct supervisor *sup = slot->gen->sup;

	if (sup->stopping || slot->state != WORKER_BACKOFF)
		return;
	slot->restarts++;
	sup->restarts_total++;
	slot_start(slot);
	supervisor_status_changed(sup);
}

bool slot_ping(struct slot *slot)
{
	struct ipc_ping ping;
	long silent = clock_ms_since(&slot->last_pong);

	if (slot->pid <= 0 || slot->state == WORKER_STARTING)
		return true;
	if (silent > PING_TIMEOUT_MS) {
		log_error("worker[%u]: pid %d has not answered pings for %ld ms, "
		          "killing it",
		          slot->index, slot->pid, silent);
		slot_kill(slot, SIGKILL);
		return false;
	}
	ping.token = ((uint64_t)slot->gen->id << 32) | slot->seq;
	slot_send(slot, IPC_PING, &ping, sizeof(ping));
	return true;
}

void slot_drain(struct slot *slot)
{
	event_del(slot->respawn_timer);
	slot_event(slot, WORKER_EV_DRAIN);
	/* DRAIN on the socketpair; SIGTERM only when that is gone (a worker
	 * that already left its loop would die of a late SIGTERM). */
	if (slot->ipc_fd >= 0)
		slot_send(slot, IPC_DRAIN, NULL, 0);
	else
		slot_kill(slot, SIGTERM);
}

void slot_discard(struct slot *slot)
{
	event_del(slot->respawn_timer);
	slot_event(slot, WORKER_EV_DRAIN);
	slot_kill(slot, SIGKILL);
}

long slot_exited(struct slot *slot, int status, char *how, size_t how_len)
{
	long uptime = clock_ms_since(&slot->started);

	if (WIFSIGNALED(status))
		snprintf(how, how_len, "killed by signal %d (%s)", WTERMSIG(status),
		         strsignal(WTERMSIG(status)));
	else
		snprintf(how, how_len, "exited with status %d", WEXITSTATUS(status));
	snprintf(slot->last_exit, sizeof(slot->last_exit), "pid %d %s after %ld ms", (int)slot->pid,
	         how, uptime);
	slot->pid = 0; /* reaped: nothing may signal that pid any more */
	/* its requests in flight stop counting against their keys' limits */
	client_limits_cell_release(slot->key_cell);
	slot->key_cell = CLIENT_LIMITS_NO_CELL;
	/* A worker's last reports (its final counts) may still wait in the
	 * socket when SIGCHLD comes first: read them before closing it. */
	read_messages(slot, LONG_MAX);
	slot_close_ipc(slot);
	slot->start_pending = false;
	return uptime;
}

void slot_crashed(struct slot *slot, long uptime_ms)
{
	slot_event(slot, WORKER_EV_CRASHED);
	schedule_respawn(slot, uptime_ms);
}
