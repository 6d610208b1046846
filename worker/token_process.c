/*
 * token_process: fetches and refreshes the Entra ID token of every distinct
 * credential of the instance (see worker.h and token_seed.h). Runs in its own process,
 * forked by the supervisor, so that neither its OpenSSL state and resolver
 * thread nor its buffers are mapped in the supervisor (and so in every worker
 * forked from it), and so that the supervisor itself never talks to the
 * network. One libevent loop, one upstream client (worker/upstream, HTTP/1.1
 * only: a token endpoint is never handed to libcurl unless a proxy is set).
 *
 * Per credential: a timer and at most one transfer. A fetch that works sends
 * IPC_TOKEN and schedules the next at the token's refresh_at (entra.c: 5
 * minutes ahead, a quarter of short lifetimes, or refresh_in); one that fails
 * logs Entra's error in plain words and retries with jittered backoff, never
 * later than just before the current token runs out, which the workers keep
 * using meanwhile. When a token expires without a successor, an empty
 * IPC_TOKEN tells the workers to stop sending it. The federated token file of
 * workload identity is read anew for every fetch (the kubelet rotates it).
 *
 * Tokens and secrets stay in this process's memory and in IPC messages only;
 * logs name the credential by source, tenant and client id.
 */
#include "worker.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ipc.h"
#include "log.h"
#include "upstream.h"

#define FETCH_TIMEOUT_MS 10000
#define ANSWER_MAX       (64 * 1024)

struct fetcher {
	struct tokens_proc *tp;
	uint32_t index;
	const struct entra_credential *cred;
	char what[160]; /* for log lines */
	struct event *timer;
	struct upstream_transfer *t;
	char *answer;
	size_t answer_len;
	bool too_long;
	int64_t expires_at, refresh_at; /* of the token the workers have; 0 = none */
	unsigned failures_in_row;
	uint32_t fetches, failures;
	int64_t last_refresh;
	char last_error[IPC_TOKEN_ERROR_MAX];
};

struct tokens_proc {
	struct event_base *base;
	struct upstream *up;
	int ipc_fd;
	uint32_t seq;
	struct fetcher *f;
	size_t n;
	struct event *ipc_event, *sigterm;
	unsigned jitter_state;
};

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static int64_t now_real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_token(struct fetcher *f, const char *token, int64_t expires_at)
{
	static struct ipc_token msg; /* 8 KB: not on the stack of a callback */
	size_t n = token ? strlen(token) : 0;

	memset(&msg, 0, sizeof(msg));
	msg.credential = f->index;
	msg.length = (uint32_t)n;
	msg.expires_at = expires_at;
	memcpy(msg.token, token ? token : "", n);
	if (ipc_send(f->tp->ipc_fd, IPC_TOKEN, 0, ++f->tp->seq, &msg, sizeof(msg)) < 0)
		log_warning("cannot send a token to the supervisor: %s", strerror(errno));
	explicit_bzero(&msg, sizeof(msg));
}

static void send_status(struct fetcher *f, int64_t next_fetch)
{
	struct ipc_token_status st = {
	        .credential = f->index,
	        .fetches = f->fetches,
	        .failures = f->failures,
	        .last_refresh = f->last_refresh,
	        .next_fetch = next_fetch,
	};

	snprintf(st.last_error, sizeof(st.last_error), "%s", f->last_error);
	(void)ipc_send(f->tp->ipc_fd, IPC_TOKEN_STATUS, 0, ++f->tp->seq, &st, sizeof(st));
}

static void schedule_ms(struct fetcher *f, long ms)
{
	struct timeval tv = clock_tv_ms(ms > 0 ? ms : 0);

	evtimer_add(f->timer, &tv);
	send_status(f, now_s() + ms / 1000);
}

static double jitter(struct tokens_proc *tp)
{
	return (double)(rand_r(&tp->jitter_state) % 10000) / 10000.0;
}

/* A failed fetch: say why, keep the current token, retry with backoff. */
static void fetch_failed(struct fetcher *f, const char *why)
{
	int64_t now_ms = now_real_ms();
	long wait;

	f->failures++;
	f->failures_in_row++;
	snprintf(f->last_error, sizeof(f->last_error), "%s", why);
	if (f->expires_at > 0 && f->expires_at * 1000 <= now_ms) {
		/* nothing valid is left: the workers stop sending it */
		f->expires_at = 0;
		send_token(f, NULL, 0);
	}
	wait = entra_retry_ms(f->failures_in_row, jitter(f->tp), now_ms,
	                      f->expires_at > 0 ? f->expires_at * 1000 : 0);
	log_warning("%s: token fetch failed: %s; %s, retry in %ld ms", f->what, why,
	            f->expires_at > 0 ? "the current token is used until it expires"
	                              : "no valid token: its deployments fail as auth_token",
	            wait);
	schedule_ms(f, wait);
}

static void on_header(void *ctx, const char *name, size_t name_len, const char *value,
                      size_t value_len)
{
}

static void on_data(void *ctx, long status, const char *data, size_t len)
{
	struct fetcher *f = ctx;
	char *p;

	if (f->too_long || f->answer_len + len > ANSWER_MAX) {
		f->too_long = true;
		return;
	}
	p = realloc(f->answer, f->answer_len + len + 1);
	if (!p) {
		f->too_long = true;
		return;
	}
	f->answer = p;
	memcpy(f->answer + f->answer_len, data, len);
	f->answer_len += len;
	f->answer[f->answer_len] = '\0';
}

static void clear_answer(struct fetcher *f)
{
	if (f->answer)
		explicit_bzero(f->answer, f->answer_len);
	free(f->answer);
	f->answer = NULL;
	f->answer_len = 0;
	f->too_long = false;
}

static void on_done(void *ctx, enum upstream_result result, long status, const char *error)
{
	static struct entra_token token; /* 8 KB */
	struct fetcher *f = ctx;
	char err[ENTRA_ERROR_MAX], why[ENTRA_ERROR_MAX + 64];
	int64_t now = now_s();
	int r;

	f->t = NULL;
	if (result != UPSTREAM_OK) {
		snprintf(why, sizeof(why), "token endpoint unreachable (%s error: %s)",
		         upstream_result_name(result), error ? error : "");
		clear_answer(f);
		fetch_failed(f, why);
		return;
	}
	if (f->too_long) {
		clear_answer(f);
		fetch_failed(f, "token endpoint answered more than 64 KB");
		return;
	}
	r = entra_parse_response(status, f->answer, f->answer_len, now, &token, err, sizeof(err));
	clear_answer(f);
	if (r < 0) {
		fetch_failed(f, err);
		return;
	}
	f->fetches++;
	f->failures_in_row = 0;
	f->last_error[0] = '\0';
	f->last_refresh = now;
	f->expires_at = token.expires_at;
	f->refresh_at = token.refresh_at;
	send_token(f, token.token, token.expires_at);
	explicit_bzero(token.token, sizeof(token.token));
	log_info("%s: new token, expires in %lld s, next refresh in %lld s", f->what,
	         (long long)(token.expires_at - now), (long long)(token.refresh_at - now));
	schedule_ms(f, (long)(token.refresh_at * 1000 - now_real_ms()));
}

static void fetch(struct fetcher *f)
{
	static struct entra_request req; /* 18 KB */
	static char assertion[ENTRA_ASSERTION_MAX + 1];
	struct upstream_header headers[2];
	size_t n_headers = 0;
	char why[ENTRA_ERROR_MAX];
	int r;

	if (f->t)
		return;
	if (f->cred->source == ENTRA_WORKLOAD_IDENTITY) {
		r = entra_read_assertion(f->cred->token_file, assertion, sizeof(assertion));
		if (r < 0) {
			snprintf(why, sizeof(why), "federated token file '%s' %s: %s",
			         f->cred->token_file,
			         r == -ENOENT    ? "is missing"
			         : r == -ENODATA ? "is empty"
			                         : "unreadable",
			         strerror(-r));
			fetch_failed(f, why);
			return;
		}
	}
	r = entra_request_build(f->cred, assertion, &req);
	explicit_bzero(assertion, sizeof(assertion));
	if (r < 0) {
		explicit_bzero(&req, sizeof(req));
		snprintf(why, sizeof(why), "cannot build the token request: %s", strerror(-r));
		fetch_failed(f, why);
		return;
	}
	headers[n_headers++] = (struct upstream_header){"Accept", "application/json"};
	if (req.header_name)
		headers[n_headers++] = (struct upstream_header){req.header_name, req.header_value};
	struct upstream_request ureq = {
	        .url = req.url,
	        .headers = headers,
	        .n_headers = n_headers,
	        .body = req.body,
	        .body_len = req.body_len,
	        .timeout_ms = FETCH_TIMEOUT_MS,
	        .method = req.get ? "GET" : NULL,
	};
	static const struct upstream_callbacks cb = {
	        .on_header = on_header,
	        .on_data = on_data,
	        .on_done = on_done,
	};
	log_debug("%s: fetching a token", f->what);
	r = upstream_start(f->tp->up, &ureq, &cb, f, &f->t);
	explicit_bzero(&req, sizeof(req)); /* upstream_start copied it */
	if (r < 0) {
		snprintf(why, sizeof(why), "cannot start the token request: %s", strerror(-r));
		fetch_failed(f, why);
	}
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct fetcher *f = arg;

	/* a token that ran out while the fetch failed is withdrawn by fetch_failed() */
	fetch(f);
}

static void on_ipc(evutil_socket_t fd, short what, void *arg)
{
	struct tokens_proc *tp = arg;
	char buf[IPC_MAX_MESSAGE];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* the supervisor is gone, or replaced us */
		event_base_loopbreak(tp->base);
		return;
	}
	struct ipc_header h;
	const void *payload;

	if (ipc_decode(buf, (size_t)n, &h, &payload) == 0 && h.type == IPC_LOG_LEVEL) {
		struct ipc_log_level l;

		memcpy(&l, payload, sizeof(l));
		log_set_level(l.level);
	}
}

static void on_sigterm(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopbreak(arg);
}

static int keep_only_fd(int fd)
{
	int moved = fcntl(fd, F_DUPFD_CLOEXEC, 100);

	if (moved < 0)
		return -1;
	close(fd);
	if (dup3(moved, 3, O_CLOEXEC) < 0)
		return -1;
	close(moved);
	if (close_range(4, ~0U, 0) < 0) {
		long max = sysconf(_SC_OPEN_MAX);

		for (int i = 4; i < (max > 0 ? max : 65536); i++)
			close(i);
	}
	return 3;
}

static void reset_signals(void)
{
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The instance metadata service is reached directly, never through a proxy
 * from the environment (as Azure's identity libraries do); this process's
 * environment is its own. */
static void imds_without_proxy(void)
{
	const char *np = getenv("no_proxy");
	char buf[4096];

	if (!np || !np[0])
		np = getenv("NO_PROXY");
	snprintf(buf, sizeof(buf), "%s%s169.254.169.254", np && np[0] ? np : "",
	         np && np[0] ? "," : "");
	setenv("no_proxy", buf, 1);
}

void token_process_run(const struct token_process_args *args)
{
	pid_t parent = getppid();
	struct tokens_proc tp = {.jitter_state = (unsigned)getpid() ^ (unsigned)time(NULL)};
	int64_t now = now_s();

	log_set_title("tokens");
	log_set_level(args->log_level);
	reset_signals();
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
		_exit(1);
	tp.ipc_fd = keep_only_fd(args->ipc_fd);
	imds_without_proxy(); /* before upstream_new() reads the environment */
	tp.base = tp.ipc_fd >= 0 ? event_base_new() : NULL;
	tp.up = tp.base ? upstream_new(tp.base) : NULL;
	if (!tp.up || upstream_set_ca_file(tp.up, args->ca_file) < 0)
		goto fail;
	upstream_set_http2(tp.up, false);
	tp.f = calloc(args->n_seeds ? args->n_seeds : 1, sizeof(*tp.f));
	tp.ipc_event = event_new(tp.base, tp.ipc_fd, EV_READ | EV_PERSIST, on_ipc, &tp);
	tp.sigterm = evsignal_new(tp.base, SIGTERM, on_sigterm, tp.base);
	if (!tp.f || !tp.ipc_event || !tp.sigterm || event_add(tp.ipc_event, NULL) < 0 ||
	    evsignal_add(tp.sigterm, NULL) < 0)
		goto fail;
	tp.n = args->n_seeds;
	for (size_t i = 0; i < tp.n; i++) {
		const struct token_seed *s = &args->seeds[i];
		struct fetcher *f = &tp.f[i];

		f->tp = &tp;
		f->index = (uint32_t)i;
		f->cred = s->credential;
		entra_credential_describe(f->cred, f->what, sizeof(f->what));
		f->timer = evtimer_new(tp.base, on_timer, f);
		if (!f->timer)
			goto fail;
		/* a token the supervisor holds is refreshed when it is due, not now */
		if (s->token && s->token[0] && s->expires_at > now) {
			f->expires_at = s->expires_at;
			f->refresh_at = s->refresh_at;
			schedule_ms(f, (long)(s->refresh_at * 1000 - now_real_ms()));
		} else {
			schedule_ms(f, 0);
		}
	}
	log_info("started for %zu credential%s", tp.n, tp.n == 1 ? "" : "s");
	event_base_dispatch(tp.base);
	for (size_t i = 0; i < tp.n; i++) {
		if (tp.f[i].t)
			upstream_abort(tp.f[i].t);
		clear_answer(&tp.f[i]);
		event_free(tp.f[i].timer);
	}
	free(tp.f);
	event_free(tp.ipc_event);
	event_free(tp.sigterm);
	upstream_free(tp.up);
	event_base_free(tp.base);
	exit(0);
fail:
	log_error("token process set-up failed");
	_exit(1);
}
