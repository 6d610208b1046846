/*
 * tls_listener: the TLS context of the client listener (llmgate.tls), made
 * by the supervisor for each generation before its workers are forked, so
 * that every worker of a generation (and a respawned one) shares its
 * certificate and its session ticket keys, a reload brings a new certificate
 * and new ticket keys to the new generation only, and a certificate or key
 * that does not load fails the start, the reload or `--check` with a clear
 * message while the serving generation goes on. Supervisor process only; the
 * workers use the context (worker/http/http_tls.c).
 */
#pragma once

#include <stdbool.h>

#include "diag.h"

struct config;
struct ssl_ctx_st;

/* Days before a certificate's expiry when a warning starts. */
#define TLS_LISTENER_EXPIRY_WARN_DAYS 30

/*
 * Loads CONFIG's llmgate.tls files and builds the context into *RET (NULL
 * when TLS is off). Problems go to DIAGS at the keys' positions (never a
 * key's bytes): unreadable or malformed files, a key that does not match the
 * certificate, an expired certificate or one not valid yet, cipher strings
 * OpenSSL refuses (errors); a certificate expiring within 30 days (warning).
 * Returns 0, or -EINVAL after an error.
 */
int tls_listener_new(const struct config *config, struct ssl_ctx_st **ret, struct diag_list *diags);

void tls_listener_free(struct ssl_ctx_st *ctx);

/* What the status shows of a context: its certificate's subject and expiry,
 * and whether client certificates are required. Never the key. */
struct tls_listener_info {
	char subject[256]; /* "/CN=gw.example.com" */
	char expires[32];  /* "2027-03-06T08:00:00Z" */
	bool mtls;
};

void tls_listener_describe(const struct ssl_ctx_st *ctx, struct tls_listener_info *info);
