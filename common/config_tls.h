/*
 * config_tls: the settings of TLS for clients (llmgate.tls, or LiteLLM's
 * SSL_CERTFILE_PATH and SSL_KEYFILE_PATH from the environment when that
 * section is not written), as the loader read them, and the checks that need
 * no file: both halves present, absolute paths, a known protocol. Part of the
 * config loader (config.c reads the values with its own readers and calls
 * config_tls_check() or config_tls_from_env()). Loading the files and
 * building the TLS context is the supervisor's (supervisor/tls_listener.c),
 * which reports at the positions kept here.
 */
#pragma once

#include <stdbool.h>

#include "diag.h"

enum config_tls_field {
	CONFIG_TLS_CERT,
	CONFIG_TLS_KEY,
	CONFIG_TLS_CLIENT_CA,
	CONFIG_TLS_MIN_PROTOCOL,
	CONFIG_TLS_CIPHERS,
	CONFIG_TLS_CIPHERSUITES,
	CONFIG_TLS__COUNT,
};

/* Where a value was written; FILE NULL: its default, or the environment. */
struct config_tls_where {
	char *file;
	int line, col;
};

struct config_tls {
	bool on;
	char *value[CONFIG_TLS__COUNT]; /* NULL: not set (cert, key, client CA) */
	struct config_tls_where where[CONFIG_TLS__COUNT];
	struct config_tls_where section;     /* llmgate.tls itself, or the config file */
	const char *name[CONFIG_TLS__COUNT]; /* "llmgate.tls.cert_file" or "SSL_CERTFILE_PATH" */
	int min_protocol;                    /* 12: TLS 1.2, 13: TLS 1.3 */
};

/* Checks T (read from llmgate.tls written at FILE:LINE:COL) and fills its
 * names and min_protocol; problems go to DIAGS. */
void config_tls_check(struct config_tls *t, const char *file, int line, int col,
                      struct diag_list *diags);

/* Without llmgate.tls: TLS on when both SSL_CERTFILE_PATH and
 * SSL_KEYFILE_PATH are set (LiteLLM's --ssl_certfile_path and
 * --ssl_keyfile_path read them), with the defaults of the other keys; a
 * warning when only one is. CONFIG_PATH labels the messages. */
void config_tls_from_env(struct config_tls *t, const char *config_path, const char *ciphers,
                         const char *ciphersuites, struct diag_list *diags);

/* The position of field F for a message: where it was written, else the section. */
const struct config_tls_where *config_tls_at(const struct config_tls *t, enum config_tls_field f);

void config_tls_free(struct config_tls *t);
