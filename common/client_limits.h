/*
 * client_limits: the counters of the client keys (issue 20) that every
 * worker of the instance shares: requests and tokens per minute, requests in
 * flight, spend per budget period. One MAP_SHARED|MAP_ANONYMOUS table the
 * supervisor maps before it forks the first worker and keeps until it
 * exits, so workers of every generation, before and after reloads, count in
 * the one place. A key's counters live in a slot the supervisor assigns by
 * the key's id (client_limits_attach(), on every config load): a reload
 * keeps them; a removed key's slot is retired and reused (cleared) only
 * when no never-used or older-retired slot is left.
 *
 * Hot path: a handful of atomic loads and compare-and-swaps on the key's
 * slot, no lock, no system call but clock_gettime(CLOCK_REALTIME).
 *
 * Windows: rpm and tpm count per fixed wall-clock minute (UTC, second 0 to
 * 59), each as one 64-bit word (minute << 32 | count) changed by CAS, so
 * "rpm: 600" admits at most 600 requests in each such minute, whatever the
 * number of workers; x-ratelimit-reset-* is the time left in the minute.
 * tpm admits a request while the minute's tokens are under the limit and
 * reserves its estimate, settled to the real count when the answer reports
 * usage (in the minute it was admitted in; a settle after that minute ended
 * is dropped).
 *
 * Parallel: one counter per key, compare-and-swapped under the limit, plus
 * each worker's own contribution in a per-worker cell. The supervisor gives
 * each worker process a cell before it forks it and, when it reaps the
 * worker, subtracts what the cell still holds from the keys' counters: a
 * killed worker's requests stop counting at once. (A worker killed in the
 * two instructions between its cell and the counter may leave the counter
 * one off until the key's next reap; with more live workers than
 * CLIENT_LIMITS_CELLS, the extra ones count without a cell.)
 *
 * Budget: spend in 1e-9 cost units per key, and the start of its period;
 * the first request after the period ends moves the start forward and
 * zeroes the spend (a settle racing that instant may land in either
 * period).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client_keys.h"
#include "usage.h"

#define CLIENT_LIMITS_SLOTS   (2 * CLIENT_KEYS_MAX)
#define CLIENT_LIMITS_CELLS   64
#define CLIENT_LIMITS_NO_CELL (-1)

enum client_limit_verdict {
	CLIENT_LIMIT_OK,
	CLIENT_LIMIT_BUDGET,
	CLIENT_LIMIT_PARALLEL,
	CLIENT_LIMIT_RPM,
	CLIENT_LIMIT_TPM,
};

/* What the x-ratelimit-* headers say, for the key's request. */
struct client_limit_info {
	long limit_requests, remaining_requests; /* -1: no rpm limit */
	long limit_tokens, remaining_tokens;     /* -1: no tpm limit */
	long reset_ms;                           /* until the minute's end */
	int64_t spend_nano;                      /* the period's, when over budget */
	int64_t period_end;                      /* Unix seconds; 0: no period */
};

/* What an admitted request holds, given back by client_limits_finish(). */
struct client_limit_hold {
	uint32_t slot; /* CLIENT_KEY_NO_SLOT: nothing held */
	uint32_t minute;
	long reserved_tokens;
};

/* Supervisor, before any fork: maps the table. 0, -EBUSY or -errno. */
int client_limits_init(void);
/* Supervisor at exit (and tests): unmaps it. */
void client_limits_free(void);
/* Supervisor: gives each key of KEYS its slot by id (new keys get a
 * cleared one, their period starting at NOW); slots of ids no longer in
 * KEYS are retired. -ENOSPC when the table is full (the key then has no
 * limits counted: its slot stays CLIENT_KEY_NO_SLOT, and it is refused). */
int client_limits_attach(struct client_keys *keys, int64_t now);

/* Supervisor: a cell for a worker about to be forked (or
 * CLIENT_LIMITS_NO_CELL), and its release when that worker is reaped. */
int client_limits_cell_take(void);
void client_limits_cell_release(int cell);
/* Worker, after fork: the cell it counts in. */
void client_limits_set_cell(int cell);

/* Worker: admits a request of KEY at NOW_MS (Unix milliseconds) with an
 * estimate of TOKENS, or says which limit refuses it. *INFO is filled
 * either way; *HOLD must be given back to client_limits_finish() when OK. */
enum client_limit_verdict client_limits_admit(const struct client_key *key, int64_t now_ms,
                                              long tokens, struct client_limit_info *info,
                                              struct client_limit_hold *hold);
/* Worker: the request is over: its parallel count released, its tokens
 * settled to the total USED reports (NULL or not known: the estimate stays,
 * counted as estimated), COST_NANO added to the spend and the cost. */
void client_limits_finish(struct client_limit_hold *hold, const struct usage *used,
                          int64_t cost_nano);

/* A key's figures, for llmgatectl key list, /metrics and the state file. */
struct client_limit_view {
	bool found;
	long rpm_used, tpm_used; /* in the current minute */
	long parallel;
	int64_t spend_nano;
	int64_t period_start;
	uint64_t requests, refused[5];          /* by enum client_limit_verdict (OK unused) */
	uint64_t tokens;                        /* tpm's count: usage totals, else estimates */
	uint64_t prompt, completion, estimated; /* /metrics: by type */
	uint64_t cost_nano;                     /* all periods' spend (1e-9 cost units) */
};
void client_limits_view(const struct client_key *key, int64_t now_ms,
                        struct client_limit_view *ret);
/* Supervisor, after attach and before forking: the saved spend of a key. */
void client_limits_restore(const struct client_key *key, int64_t period_start, int64_t spend_nano);

/* Supervisor: calls FN for every slot of a key of the latest attached
 * config, with its id, period start and spend as they are (not rolled). */
void client_limits_each(void (*fn)(void *ctx, const char *id, int64_t period_start,
                                   int64_t spend_nano),
                        void *ctx);

/*
 * Deployment ceilings (router_settings.enable_pre_call_checks): the rpm and
 * tpm of a deployment, counted like a key's, per wall-clock minute, for the
 * whole instance. Slots by deployment id (model_info.id), kept across
 * reloads; CLIENT_LIMITS_DEPLOYMENTS at most, never freed.
 */
#define CLIENT_LIMITS_DEPLOYMENTS 1024

struct ceiling_hold {
	uint32_t slot; /* CLIENT_KEY_NO_SLOT: nothing held */
	uint32_t minute;
	long reserved_tokens;
};

/* Supervisor: the slot of deployment ID (found, or made); CLIENT_KEY_NO_SLOT
 * when the table is full or not mapped. */
uint32_t client_limits_deployment_slot(const char *id);
/* Worker: one request to the deployment of SLOT with limits RPM and TPM (0:
 * none), reserving TOKENS: true and *HOLD, or false when it is at a ceiling
 * this minute (*RET_RESET_MS: until the minute ends). */
bool client_limits_deployment_take(uint32_t slot, long rpm, long tpm, long tokens, int64_t now_ms,
                                   struct ceiling_hold *hold, long *ret_reset_ms);
/* Worker: the reservation settled to TOKENS (<0: kept). */
void client_limits_deployment_settle(struct ceiling_hold *hold, long tokens);
/* This minute's requests and tokens of the deployment of SLOT (0 when none). */
void client_limits_deployment_view(uint32_t slot, int64_t now_ms, long *ret_rpm, long *ret_tpm);

const char *client_limit_verdict_name(enum client_limit_verdict v);
