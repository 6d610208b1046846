/*
 * tokens: Entra ID tokens in the supervisor (see tokens.h).
 *
 * How a token travels: the token process (forked here, entra/) asks the
 * credential's endpoint -> IPC_TOKEN to the supervisor (index into this
 * table) -> stored here -> IPC_TOKEN to every worker of every generation
 * whose config has that credential (index into that config's credentials)
 * -> the worker's token store -> the Authorization header of each request to
 * the credential's deployments. A new worker gets the stored tokens after
 * its HELLO and before START (slot.c), like the fallback modes; a new
 * generation's workers too, since the table outlives generations.
 *
 * Why a process of its own rather than the supervisor's loop: fetching needs
 * OpenSSL, a resolver thread and buffers, and everything the supervisor maps
 * is mapped again in every worker it forks afterwards; a thread in the
 * supervisor would also be there at every fork(). The token process is forked
 * with the table, so a respawned or restarted one knows the tokens held and
 * refreshes them when due, not at once: one fetch per lifetime per
 * credential, whatever happens to workers and generations.
 *
 * The table grows when a generation brings a new credential and shrinks when
 * the last generation using one is freed (tokens_prune()); either way the
 * token process is replaced by one that knows the new table (and its
 * tokens). A token process that sends garbage is killed and respawned, never
 * trusted.
 */
#include "tokens.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "clock.h"
#include "config.h"
#include "token_seed.h"
#include "ipc.h"
#include "log.h"
#include "slot.h"
#include "supervisor_int.h"

struct token_entry {
	struct entra_credential cred;
	char token[IPC_TOKEN_MAX + 1];
	int64_t expires_at, refresh_at;
	int64_t last_refresh, next_fetch;
	uint64_t fetches, failures;           /* totals of earlier token processes */
	uint32_t proc_fetches, proc_failures; /* of the current one */
	char last_error[IPC_TOKEN_ERROR_MAX];
};

struct tokens {
	struct supervisor *sup;
	struct token_entry *e;
	size_t n;
	pid_t pid;
	int fd;
	struct event *ipc_event, *respawn_timer;
	struct event *start_timer; /* bounds a worker's wait for its first tokens */
	struct timespec started;
	unsigned crashes;
	uint32_t seq;
};

static void on_respawn(evutil_socket_t fd, short what, void *arg);
static void on_start_wait(evutil_socket_t fd, short what, void *arg);
static size_t start_waiting(struct tokens *t, bool all);

struct tokens *tokens_new(struct supervisor *sup)
{
	struct tokens *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->sup = sup;
	t->fd = -1;
	t->respawn_timer = evtimer_new(sup->base, on_respawn, t);
	t->start_timer = evtimer_new(sup->base, on_start_wait, t);
	if (!t->respawn_timer || !t->start_timer) {
		if (t->respawn_timer)
			event_free(t->respawn_timer);
		if (t->start_timer)
			event_free(t->start_timer);
		free(t);
		return NULL;
	}
	return t;
}

static void close_ipc(struct tokens *t)
{
	if (t->ipc_event)
		event_free(t->ipc_event);
	t->ipc_event = NULL;
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

void tokens_free(struct tokens *t)
{
	if (!t)
		return;
	if (t->pid > 0) {
		/* the daemon stops: no child left behind (SIGKILL after a second) */
		kill(t->pid, SIGTERM);
		for (int i = 0; i < 100 && waitpid(t->pid, NULL, WNOHANG) == 0; i++)
			usleep(10000);
		if (kill(t->pid, 0) == 0 && waitpid(t->pid, NULL, WNOHANG) == 0) {
			kill(t->pid, SIGKILL);
			waitpid(t->pid, NULL, 0);
		}
	}
	close_ipc(t);
	event_free(t->respawn_timer);
	event_free(t->start_timer);
	for (size_t i = 0; i < t->n; i++) {
		entra_credential_clear(&t->e[i].cred);
		explicit_bzero(t->e[i].token, sizeof(t->e[i].token));
	}
	free(t->e);
	free(t);
}

static bool entry_valid(const struct token_entry *e)
{
	return e->token[0] && e->expires_at > (int64_t)time(NULL);
}

/* Sends entry E's token to every worker of a config with that credential. */
static void send_to_slot(struct slot *slot, size_t k, const struct token_entry *e)
{
	static struct ipc_token msg; /* 8 KB */
	size_t n = entry_valid(e) ? strlen(e->token) : 0;

	memset(&msg, 0, sizeof(msg));
	msg.credential = (uint32_t)k;
	msg.length = (uint32_t)n;
	msg.expires_at = n ? e->expires_at : 0;
	memcpy(msg.token, e->token, n);
	slot_send(slot, IPC_TOKEN, &msg, sizeof(msg));
	explicit_bzero(&msg, sizeof(msg));
}

static void broadcast(struct tokens *t, const struct token_entry *e)
{
	for (struct generation *g = t->sup->generations; g; g = g->next)
		for (size_t k = 0; k < g->config->n_credentials; k++)
			if (entra_credential_equal(&g->config->credentials[k], &e->cred))
				for (size_t i = 0; i < g->n_slots; i++)
					send_to_slot(&g->slots[i], k, e);
}

static const struct token_entry *find(const struct tokens *t, const struct entra_credential *c)
{
	for (size_t i = 0; i < t->n; i++)
		if (entra_credential_equal(&t->e[i].cred, c))
			return &t->e[i];
	return NULL;
}

/* Whether the first fetch of every credential of CONFIG has ended. */
static bool settled(const struct tokens *t, const struct config *config)
{
	for (size_t k = 0; k < config->n_credentials; k++) {
		const struct token_entry *e = find(t, &config->credentials[k]);

		if (e && !entry_valid(e) && e->failures + e->proc_failures == 0)
			return false;
	}
	return true;
}

static void start(struct tokens *t, struct slot *slot)
{
	const struct config *config = slot->gen->config;

	slot->start_pending = false;
	for (size_t k = 0; k < config->n_credentials; k++) {
		const struct token_entry *e = find(t, &config->credentials[k]);

		if (e && entry_valid(e))
			send_to_slot(slot, k, e);
	}
	slot_send(slot, IPC_START, NULL, 0);
}

/* Starts the waiting workers whose tokens are there (ALL: every one);
 * returns how many. */
static size_t start_waiting(struct tokens *t, bool all)
{
	size_t n = 0;

	for (struct generation *g = t->sup->generations; g; g = g->next)
		for (size_t i = 0; i < g->n_slots; i++)
			if (g->slots[i].start_pending && g->slots[i].ipc_fd >= 0 &&
			    (all || settled(t, g->config))) {
				start(t, &g->slots[i]);
				n++;
			}
	return n;
}

static void on_start_wait(evutil_socket_t fd, short what, void *arg)
{
	struct tokens *t = arg;

	if (start_waiting(t, true) > 0)
		log_warning("Entra ID tokens not fetched within %d ms: workers start without "
		            "them",
		            TOKENS_START_WAIT_MS);
}

void tokens_start_slot(struct tokens *t, struct slot *slot)
{
	struct timeval tv = clock_tv_ms(TOKENS_START_WAIT_MS);

	if (settled(t, slot->gen->config)) {
		start(t, slot);
		return;
	}
	slot->start_pending = true;
	if (!evtimer_pending(t->start_timer, NULL))
		evtimer_add(t->start_timer, &tv);
}

static void kill_process(struct tokens *t, const char *why)
{
	log_error("token process: %s, killing it", why);
	if (t->pid > 0)
		kill(t->pid, SIGKILL);
	close_ipc(t);
}

static void on_token(struct tokens *t, const struct ipc_token *msg)
{
	struct token_entry *e;
	char what[160];

	if (msg->credential >= t->n || msg->length > IPC_TOKEN_MAX ||
	    memchr(msg->token, '\0', msg->length)) {
		kill_process(t, "sent a malformed token");
		return;
	}
	e = &t->e[msg->credential];
	memcpy(e->token, msg->token, msg->length);
	e->token[msg->length] = '\0';
	e->expires_at = msg->length ? msg->expires_at : 0;
	entra_credential_describe(&e->cred, what, sizeof(what));
	if (msg->length)
		log_debug("%s: token handed to the workers, expires in %lld s", what,
		          (long long)(e->expires_at - (int64_t)time(NULL)));
	else
		log_warning("%s: no valid token: its deployments fail as auth_token", what);
	broadcast(t, e);
	start_waiting(t, false);
}

static void on_status(struct tokens *t, const struct ipc_token_status *st)
{
	struct token_entry *e;

	if (st->credential >= t->n) {
		kill_process(t, "sent the status of an unknown credential");
		return;
	}
	e = &t->e[st->credential];
	e->proc_fetches = st->fetches;
	e->proc_failures = st->failures;
	if (st->last_refresh)
		e->last_refresh = st->last_refresh;
	e->next_fetch = st->next_fetch;
	e->refresh_at = st->next_fetch;
	memcpy(e->last_error, st->last_error, sizeof(e->last_error));
	e->last_error[sizeof(e->last_error) - 1] = '\0';
	start_waiting(t, false);
}

static void on_ipc(evutil_socket_t fd, short what, void *arg)
{
	struct tokens *t = arg;
	static char buf[IPC_MAX_MESSAGE];

	for (int i = 0; i < 64 && t->fd >= 0; i++) {
		struct ipc_header h;
		const void *payload;
		ssize_t n = recv(t->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			close_ipc(t);
			return;
		}
		if ((size_t)n > sizeof(buf) || ipc_decode(buf, (size_t)n, &h, &payload) < 0) {
			kill_process(t, "sent a malformed message");
			return;
		}
		if (h.type == IPC_TOKEN) {
			static struct ipc_token msg;

			memcpy(&msg, payload, sizeof(msg));
			on_token(t, &msg);
			explicit_bzero(&msg, sizeof(msg));
		} else if (h.type == IPC_TOKEN_STATUS) {
			struct ipc_token_status st;

			memcpy(&st, payload, sizeof(st));
			on_status(t, &st);
		} else {
			kill_process(t, "sent an unexpected message");
			return;
		}
		explicit_bzero(buf, (size_t)n);
	}
}

static int spawn(struct tokens *t)
{
	struct config *config = t->sup->serving   ? t->sup->serving->config
	                        : t->sup->pending ? t->sup->pending->config
	                                          : t->sup->generations->config;
	sigset_t all, old;
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		log_error("token process: socketpair: %s", strerror(errno));
		return -errno;
	}
	fflush(NULL);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0) {
		struct token_seed *seeds = calloc(t->n, sizeof(*seeds));

		if (!seeds)
			_exit(1);
		for (size_t i = 0; i < t->n; i++)
			seeds[i] = (struct token_seed){&t->e[i].cred, t->e[i].token,
			                               t->e[i].expires_at, t->e[i].refresh_at};
		struct token_process_args args = {
		        .seeds = seeds,
		        .n_seeds = t->n,
		        .ipc_fd = sv[1],
		        .ca_file = config->ca_file,
		        .log_level = log_get_level(),
		};
		supervisor_become_token_process(&args);
	}
	int saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sv[1]);
	if (pid < 0) {
		log_error("token process: fork: %s", strerror(saved));
		close(sv[0]);
		return -saved;
	}
	t->pid = pid;
	t->fd = sv[0];
	clock_gettime(CLOCK_MONOTONIC, &t->started);
	t->ipc_event = event_new(t->sup->base, t->fd, EV_READ | EV_PERSIST, on_ipc, t);
	if (!t->ipc_event || event_add(t->ipc_event, NULL) < 0) {
		kill_process(t, "cannot watch its socket");
		return -ENOMEM;
	}
	for (size_t i = 0; i < t->n; i++) {
		t->e[i].fetches += t->e[i].proc_fetches;
		t->e[i].failures += t->e[i].proc_failures;
		t->e[i].proc_fetches = t->e[i].proc_failures = 0;
	}
	log_info("token process: started pid %d for %zu credential%s", pid, t->n,
	         t->n == 1 ? "" : "s");
	return 0;
}

static void schedule_respawn(struct tokens *t, long uptime_ms)
{
	struct timeval tv;

	t->crashes = backoff_next_crashes(t->crashes, uptime_ms);
	tv = clock_tv_ms(backoff_delay_ms(t->crashes));
	evtimer_add(t->respawn_timer, &tv);
}

static void on_respawn(evutil_socket_t fd, short what, void *arg)
{
	struct tokens *t = arg;

	if (t->sup->stopping || t->pid > 0 || t->n == 0)
		return;
	if (spawn(t) < 0)
		schedule_respawn(t, 0);
}

static bool in_use(const struct tokens *t, const struct token_entry *e)
{
	for (const struct generation *g = t->sup->generations; g; g = g->next)
		for (size_t k = 0; k < g->config->n_credentials; k++)
			if (entra_credential_equal(&g->config->credentials[k], &e->cred))
				return true;
	return false;
}

/* Replaces the token process by one that knows the table as it is now. */
static void restart(struct tokens *t)
{
	if (t->pid > 0) {
		/* its exit, an unknown child's by then, is only reaped */
		kill(t->pid, SIGTERM);
		close_ipc(t);
		t->pid = 0;
	}
	event_del(t->respawn_timer);
	if (t->n > 0 && spawn(t) < 0)
		schedule_respawn(t, 0);
}

void tokens_prune(struct tokens *t)
{
	size_t kept = 0;

	if (!t || t->sup->stopping)
		return;
	for (size_t i = 0; i < t->n; i++) {
		if (in_use(t, &t->e[i])) {
			if (kept != i)
				t->e[kept] = t->e[i];
			kept++;
			continue;
		}
		entra_credential_clear(&t->e[i].cred);
		explicit_bzero(t->e[i].token, sizeof(t->e[i].token));
	}
	if (kept == t->n)
		return;
	log_info("token process: %zu credential%s no longer used", t->n - kept,
	         t->n - kept == 1 ? "" : "s");
	t->n = kept;
	restart(t);
}

int tokens_config(struct tokens *t, const struct config *config)
{
	bool grew = false;

	for (size_t k = 0; k < config->n_credentials; k++) {
		struct token_entry *e;

		if (find(t, &config->credentials[k]))
			continue;
		e = realloc(t->e, (t->n + 1) * sizeof(*t->e));
		if (!e)
			return -ENOMEM;
		t->e = e;
		e = &t->e[t->n];
		memset(e, 0, sizeof(*e));
		if (entra_credential_copy(&config->credentials[k], &e->cred) < 0)
			return -ENOMEM;
		t->n++;
		grew = true;
	}
	if (grew)
		restart(t); /* the running one knows fewer credentials */
	return 0;
}

void tokens_set_log_level(struct tokens *t, int level)
{
	struct ipc_log_level msg = {.level = level};

	if (t && t->fd >= 0)
		(void)ipc_send(t->fd, IPC_LOG_LEVEL, 0, ++t->seq, &msg, sizeof(msg));
}

bool tokens_child_exited(struct tokens *t, pid_t pid, int status)
{
	long uptime;

	if (!t || pid <= 0 || pid != t->pid)
		return false;
	uptime = clock_ms_since(&t->started);
	t->pid = 0;
	close_ipc(t);
	if (t->sup->stopping)
		return true;
	schedule_respawn(t, uptime);
	log_error("token process: pid %d %s %d after %ld ms; restart in %ld ms (workers keep "
	          "their tokens)",
	          pid, WIFSIGNALED(status) ? "killed by signal" : "exited with status",
	          WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), uptime,
	          backoff_delay_ms(t->crashes));
	return true;
}

bool tokens_state(const struct tokens *t, const struct config *config, size_t index,
                  struct token_state *ret)
{
	const struct token_entry *e;

	if (!t || index >= config->n_credentials)
		return false;
	e = find(t, &config->credentials[index]);
	if (!e)
		return false;
	*ret = (struct token_state){
	        .valid = entry_valid(e),
	        .expires_at = e->token[0] ? e->expires_at : 0,
	        .last_refresh = e->last_refresh,
	        .next_fetch = e->next_fetch,
	        .fetches = e->fetches + e->proc_fetches,
	        .failures = e->failures + e->proc_failures,
	        .last_error = e->last_error,
	};
	return true;
}
