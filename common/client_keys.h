/*
 * client_keys: the client keys of llmgate.keys_file (issue 20), as loaded
 * with the config: who may call, which model groups, with which limits and
 * budget. Parsed by the config loader (supervisor, --check), read by workers
 * (copy-on-write after fork) on the request path. The table never stores a
 * key: only its SHA-256; a presented key is hashed and found by its digest
 * (binary search over the sorted digests, then CRYPTO_memcmp of the whole
 * digest), so a lookup costs one SHA-256 and log2(n) compares. A worker
 * looks keys up through its client_key_cache (client_key_cache.h), which
 * holds the keys it was recently presented, in memory only.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"

#define CLIENT_KEY_ID_MAX    63   /* bytes of an id */
#define CLIENT_KEYS_MAX      4096 /* keys in one keys file */
#define CLIENT_KEY_MODELS    256  /* models of one key */
#define CLIENT_KEY_PREFIX    "sk-llmgate-"
#define CLIENT_KEY_NO_SLOT   UINT32_MAX
#define CLIENT_KEY_NANO      1000000000.0 /* spend is counted in 1e-9 cost units */
#define CLIENT_KEY_MAX_SPEND 9.0e9        /* cost units; keeps spend in int64 nano */

struct config;

/* A budget period: none, N seconds, or N calendar months (UTC). */
enum budget_unit {
	BUDGET_NONE,
	BUDGET_SECONDS,
	BUDGET_MONTHS,
};

struct budget_period {
	enum budget_unit unit;
	long n;
};

struct client_key {
	char *id;
	char *alias; /* NULL: none */
	unsigned char sha256[32];
	size_t *groups; /* the groups its models name; NULL (omitted or []): every group */
	size_t n_groups;
	long rpm, tpm, max_parallel; /* 0: no limit */
	int64_t max_budget_nano;     /* -1: no budget */
	struct budget_period period; /* BUDGET_NONE: the budget never resets */
	int64_t expires;             /* Unix seconds; 0: never */
	bool disabled;
	uint32_t slot; /* its counters in client_limits (set by the supervisor) */
	/* rpm and tpm in decimal, for the x-ratelimit-limit-* headers */
	char rpm_text[12], tpm_text[12];
	unsigned char rpm_text_len, tpm_text_len;
};

struct client_keys {
	struct client_key *keys;
	size_t n;
	size_t *by_hash; /* indexes into keys, sorted by sha256 */
};

/* Loads PATH into CONFIG->client_keys (the groups must be built). Problems
 * go to DIAGS located in PATH. 0, -EINVAL (errors in DIAGS) or -ENOMEM. */
int client_keys_load(struct config *config, const char *path, struct diag_list *diags);

/* Parses DATA (LEN bytes) as a keys file named FILE for CONFIG's groups. */
int client_keys_parse(const struct config *config, const char *file, const char *data, size_t len,
                      struct client_keys **ret, struct diag_list *diags);

void client_keys_free(struct client_keys *keys);

/* The key whose SHA-256 is that of KEY (LEN bytes), or NULL. */
const struct client_key *client_keys_find(const struct client_keys *keys, const char *key,
                                          size_t len);

/* Whether K may use group GROUP (an index into config.groups). */
bool client_key_allows(const struct client_key *k, size_t group);

/* "30d", "7d", "1mo", "12h", "3600s": 0 or -EINVAL. */
int budget_period_parse(const char *text, struct budget_period *ret);

/* The start of the period that holds NOW, for a period that started at
 * START (Unix seconds, UTC). A NOW before START (a clock set back) keeps
 * START. Pure. */
int64_t budget_period_roll(const struct budget_period *p, int64_t start, int64_t now);
/* The end of the period that starts at START. */
int64_t budget_period_end(const struct budget_period *p, int64_t start);
/* The first period start for a key that has none: NOW aligned down to the
 * period (a multiple of its length since the epoch; months: the 1st, 00:00
 * UTC). */
int64_t budget_period_first(const struct budget_period *p, int64_t now);

/* SHA-256 of DATA as 64 lowercase hex digits and a NUL into HEX. */
void client_key_sha256_hex(const char *data, size_t len, char hex[65]);
