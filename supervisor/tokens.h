/*
 * tokens: the supervisor's side of Entra ID tokens (issue 18). It keeps one
 * entry per distinct credential of every generation's config, with the
 * current token; forks the token process (entra/token_process.c), which
 * fetches and refreshes them, respawning it with backoff; and hands every
 * token it receives to every worker whose config uses that credential, and
 * the current ones to a new worker before its START.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "entra.h"

struct config;
struct deployment;
struct metrics_token;
struct slot;
struct supervisor;
struct tokens;

/* What llmgatectl deployments and /metrics show of one credential. */
struct token_state {
	bool valid;           /* a token that has not expired */
	int64_t expires_at;   /* realtime seconds, 0 = no token */
	int64_t last_refresh; /* realtime seconds, 0 = never */
	int64_t next_fetch;
	uint64_t fetches, failures; /* since the daemon started */
	const char *last_error;     /* plain words, "" when the last fetch worked */
};

struct tokens *tokens_new(struct supervisor *sup);
/* Stops the token process and wipes every token. */
void tokens_free(struct tokens *t);

/* Before a generation with CONFIG starts: every credential of CONFIG gets an
 * entry; when one is new, the token process is (re)started with all of them
 * and the tokens already held. 0 or -ENOMEM. */
int tokens_config(struct tokens *t, const struct config *config);

/* After a generation is freed: credentials no generation uses any more are
 * dropped, and no longer refreshed. */
void tokens_prune(struct tokens *t);

/* After SLOT's HELLO: sends it the current token of every credential of its
 * config, then START. When a credential has no token yet (the daemon or a
 * reload that added it just started), START waits until the first fetch of
 * each has ended, well or not, for at most TOKENS_START_WAIT_MS. */
#define TOKENS_START_WAIT_MS 5000
void tokens_start_slot(struct tokens *t, struct slot *slot);

/* `llmgatectl log-level`: the token process logs at LEVEL too. */
void tokens_set_log_level(struct tokens *t, int level);

/* SIGCHLD: whether PID was the token process (then handled). */
bool tokens_child_exited(struct tokens *t, pid_t pid, int status);

/* The token of DEP (of CONFIG) for llmgatectl deployments: {"source",
 * "state" (valid, expired, none), "expires_in_s", "last_refresh_s_ago",
 * "next_fetch_in_s", "fetches", "failures", "last_error"}; NULL when DEP has
 * no Entra ID credential. Never the token itself. */
struct json_t;
struct json_t *tokens_deployment_json(const struct tokens *t, const struct config *config,
                                      const struct deployment *dep);

/* The token of every Entra ID deployment of CONFIG for /metrics, in a
 * malloc'd array (free() it; *RET NULL when none). 0 or -ENOMEM. */
int tokens_metrics_view(const struct tokens *t, const struct config *config,
                        struct metrics_token **ret, size_t *ret_n);

/* The state of the token of CONFIG's credential INDEX; false when unknown. */
bool tokens_state(const struct tokens *t, const struct config *config, size_t index,
                  struct token_state *ret);
