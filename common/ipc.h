/*
 * ipc: the message codec between the supervisor and its workers, carried on
 * one SOCK_SEQPACKET socketpair per worker (message boundaries kept by the
 * kernel, EOF means the peer died). Every message is a fixed header followed
 * by a payload whose size is fixed per type. The message list below is the
 * single source of the type enum, the name table and the size table.
 *
 * The codec is pure (no I/O, no clock) so it is unit-tested and fuzzed alone;
 * the receiver never trusts a message: ipc_decode() validates version, type
 * and exact length before anyone reads the payload.
 */
#pragma once

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "histogram.h"
#include "http_reject.h"
#include "outcome.h"

#define IPC_VERSION     1
#define IPC_MAX_MESSAGE 8192

struct ipc_header {
	uint16_t type;
	uint16_t version;
	uint32_t length; /* payload bytes after the header */
	uint32_t generation;
	uint32_t seq;
};
static_assert(sizeof(struct ipc_header) == 16, "ipc header is 16 bytes on the wire");

/* worker -> supervisor, once the worker has set up its process. */
struct ipc_hello {
	uint32_t slot;
	uint32_t pid;
};
static_assert(sizeof(struct ipc_hello) == 8, "ipc_hello size");

/* Liveness probe (supervisor -> worker) and its answer (same token back). */
struct ipc_ping {
	uint64_t token;
};
static_assert(sizeof(struct ipc_ping) == 8, "ipc_ping size");

/* The log level for the worker to use from now on (supervisor -> worker). */
struct ipc_log_level {
	int32_t level;
};
static_assert(sizeof(struct ipc_log_level) == 4, "ipc_log_level size");

/* Outcome counts of one deployment since the worker's previous report (a
 * delta, so a dying worker never double-counts). worker -> supervisor. */
struct ipc_report {
	uint32_t deployment; /* index into the generation's config deployments */
	uint32_t probe;      /* a granted probe's result: 0 none, 1 success, 2 failure */
	uint32_t counts[OUTCOME__COUNT];
	uint32_t trailing; /* failures after the last success of this delta */
	uint32_t reserved;
	uint64_t latency_us; /* sum over the attempts counted */
};
static_assert(sizeof(struct ipc_report) == 64, "ipc_report size");

enum ipc_probe_result {
	IPC_PROBE_NONE,
	IPC_PROBE_SUCCESS,
	IPC_PROBE_FAILURE,
};

/* The global mode of one primary group. supervisor -> worker, on every
 * change, to every new worker before it accepts, and to grant a probe. */
struct ipc_mode {
	uint32_t group;  /* index into the generation's config groups */
	uint32_t mode;   /* enum fallback_mode */
	uint32_t probes; /* probe grants given to this worker so far (grows) */
	uint32_t reserved;
	uint64_t epoch; /* grows with every transition of this group */
};
static_assert(sizeof(struct ipc_mode) == 24, "ipc_mode size");

/* Request statistics (issue 8): client requests finished since the
 * worker's previous report, as deltas like REPORT. Indexes are those of the
 * worker's config; IPC_NONE marks "not a configured model" (the client named
 * none, or one that does not exist: folded into one label, so a client cannot
 * create labels), "no deployment answered" or "no route". Requests the HTTP
 * layer answered itself before any route ran are counted apart, by reason
 * (rejected[], enum http_reject). worker -> supervisor. */
#define IPC_NONE UINT32_MAX

struct ipc_request_count {
	uint32_t group;      /* the model group the client named, or IPC_NONE */
	uint32_t deployment; /* the deployment that answered, or IPC_NONE */
	uint8_t route;       /* enum route, or IPC_ROUTE_NONE */
	uint8_t status;      /* the status class: 1..5 for 1xx..5xx */
	uint16_t reserved;
	uint32_t count;
};
static_assert(sizeof(struct ipc_request_count) == 16, "ipc_request_count size");

#define IPC_ROUTE_NONE     0xff
#define IPC_REQUEST_COUNTS 200

struct ipc_requests {
	uint32_t n;           /* entries used in counts[] */
	uint32_t log_dropped; /* access log lines lost (unwritable, over the bound) */
	struct ipc_request_count counts[IPC_REQUEST_COUNTS];
	uint32_t rejected[HTTP_REJECT__COUNT]; /* by enum http_reject */
};
static_assert(sizeof(struct ipc_requests) == 3208 + 4 * HTTP_REJECT__COUNT, "ipc_requests size");
static_assert(sizeof(struct ipc_header) + sizeof(struct ipc_requests) <= IPC_MAX_MESSAGE,
              "ipc_requests fits one message");

/* The latency histograms of one model group (or IPC_NONE) since the previous
 * report: whole request, upstream time to first byte, gateway overhead. */
enum ipc_latency_kind {
	IPC_LATENCY_TOTAL,
	IPC_LATENCY_TTFB,
	IPC_LATENCY_OVERHEAD,
	IPC_LATENCY__COUNT,
};

struct ipc_latency {
	uint32_t group;
	uint32_t reserved;
	struct histogram latency[IPC_LATENCY__COUNT];
};
static_assert(sizeof(struct ipc_latency) == 8 + 3 * 88, "ipc_latency size");

/* Token usage (issue 19) of the answers finished since the worker's
 * previous report, per (group, deployment, route) of the answering
 * attempt: deltas like REQUESTS, sent with them. UNKNOWN counts the 2xx
 * answers of ops that report usage which carried none ("usage: unknown");
 * COST is in the deployment's price unit (0 without prices).
 * worker -> supervisor. */
struct ipc_usage_count {
	uint32_t group;      /* the model group the client named, or IPC_NONE */
	uint32_t deployment; /* the answering deployment (never IPC_NONE) */
	uint8_t route;       /* enum route */
	uint8_t reserved[3];
	uint32_t unknown;
	uint64_t prompt, completion, cached_prompt, reasoning;
	double cost;
};
static_assert(sizeof(struct ipc_usage_count) == 56, "ipc_usage_count size");

#define IPC_USAGE_MAX 140

struct ipc_usage {
	uint32_t n; /* entries used in counts[] */
	uint32_t reserved;
	struct ipc_usage_count counts[IPC_USAGE_MAX];
};
static_assert(sizeof(struct ipc_header) + sizeof(struct ipc_usage) <= IPC_MAX_MESSAGE,
              "ipc_usage fits one message");

/* The current access token of one Entra ID credential (issue 18). The
 * token process sends it to the supervisor with CREDENTIAL its index in the
 * supervisor's token table; the supervisor sends it on to every worker with
 * CREDENTIAL the index in that worker's config (config.credentials), on
 * every refresh and to each new worker before START. LENGTH 0: no valid
 * token (it expired, or the credential fails). JWTs are a few KB: a longer
 * token is refused where it is fetched. */
#define IPC_TOKEN_MAX 8000

struct ipc_token {
	uint32_t credential;
	uint32_t length;    /* bytes of token[] used */
	int64_t expires_at; /* realtime seconds */
	char token[IPC_TOKEN_MAX];
};
static_assert(sizeof(struct ipc_token) == 16 + IPC_TOKEN_MAX, "ipc_token size");
static_assert(sizeof(struct ipc_header) + sizeof(struct ipc_token) <= IPC_MAX_MESSAGE,
              "ipc_token fits one message");

/* How fetching the token of one credential goes (token process ->
 * supervisor, after every fetch): for llmgatectl deployments and /metrics. */
#define IPC_TOKEN_ERROR_MAX 320

struct ipc_token_status {
	uint32_t credential; /* index in the supervisor's token table */
	uint32_t fetches;    /* successful fetches since the token process started */
	uint32_t failures;   /* failed fetches since the token process started */
	uint32_t reserved;
	int64_t last_refresh;                 /* realtime seconds of the last success, 0 = none */
	int64_t next_fetch;                   /* realtime seconds */
	char last_error[IPC_TOKEN_ERROR_MAX]; /* plain words, "" after a success */
};
static_assert(sizeof(struct ipc_token_status) == 32 + IPC_TOKEN_ERROR_MAX, "ipc_token_status size");

/* OpenTelemetry spans a worker exported and dropped since its previous
 * report (issue 19; deltas like REPORT). worker -> supervisor, only when
 * tracing is on and something changed. */
struct ipc_otel_spans {
	uint32_t exported; /* accepted by the collector (2xx) */
	uint32_t dropped;  /* queue full, export failed, or given up at exit */
};
static_assert(sizeof(struct ipc_otel_spans) == 8, "ipc_otel_spans size");

/* X(NAME, payload size, direction) */
#define IPC_MESSAGES(X)                                                        \
	X(HELLO, sizeof(struct ipc_hello), "worker->supervisor")               \
	X(READY, 0, "worker->supervisor")                                      \
	X(PING, sizeof(struct ipc_ping), "supervisor->worker")                 \
	X(PONG, sizeof(struct ipc_ping), "worker->supervisor")                 \
	X(DRAIN, 0, "supervisor->worker")                                      \
	X(LOG_LEVEL, sizeof(struct ipc_log_level), "supervisor->worker")       \
	X(REPORT, sizeof(struct ipc_report), "worker->supervisor")             \
	X(MODE, sizeof(struct ipc_mode), "supervisor->worker")                 \
	X(START, 0, "supervisor->worker")                                      \
	X(REQUESTS, sizeof(struct ipc_requests), "worker->supervisor")         \
	X(LATENCY, sizeof(struct ipc_latency), "worker->supervisor")           \
	X(USAGE_COUNTS, sizeof(struct ipc_usage), "worker->supervisor")        \
	X(TOKEN, sizeof(struct ipc_token), "tokens->supervisor->worker")       \
	X(TOKEN_STATUS, sizeof(struct ipc_token_status), "tokens->supervisor") \
	X(OTEL_SPANS, sizeof(struct ipc_otel_spans), "worker->supervisor")

enum ipc_type {
	IPC_INVALID = 0,
#define IPC_ENUM(name, size, dir) IPC_##name,
	IPC_MESSAGES(IPC_ENUM)
#undef IPC_ENUM
	        IPC_TYPE__COUNT,
};

const char *ipc_type_name(enum ipc_type type);
size_t ipc_payload_size(enum ipc_type type);

/* Writes header + payload into BUF. Returns the message length, -EINVAL for a
 * wrong type or payload size, -ENOBUFS when BUF is too small. */
int ipc_encode(void *buf, size_t buflen, enum ipc_type type, uint32_t generation, uint32_t seq,
               const void *payload, size_t payload_len);

/* Validates a received message. Returns 0 and fills RET_HEADER and
 * *RET_PAYLOAD (pointing into BUF), -EBADMSG for a short or inconsistent
 * message, -EPROTONOSUPPORT for another version, -ENOMSG for an unknown type. */
int ipc_decode(const void *buf, size_t len, struct ipc_header *ret_header,
               const void **ret_payload);

/* Encodes and sends one message without blocking. 0 or a negative errno. */
int ipc_send(int fd, enum ipc_type type, uint32_t generation, uint32_t seq, const void *payload,
             size_t payload_len);
