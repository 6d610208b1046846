/*
 * proxy_keys: a client key's budget and limits at admission, for any request
 * the key makes (see proxy_keys.c; the proxied calls' model access and
 * settling are declared in proxy_call.h).
 */
#pragma once

struct client_key;
struct client_limit_hold;
struct early_answer;

/* Admits a request of key K reserving TOKENS (its tpm estimate; 0 for what
 * names no model) against K's budget and rpm, tpm and parallel limits, its
 * x-ratelimit-* headers added to E's answer: 0 with *HOLD to give back to
 * client_limits_finish() when it ends, or -1 when it is refused (E's client
 * answered, nothing held). */
int proxy_keys_admit_limits(const struct client_key *k, long tokens, const struct early_answer *e,
                            struct client_limit_hold *hold);
