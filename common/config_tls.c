/*
 * config_tls: llmgate.tls as read by the loader (see config_tls.h).
 */
#include "config_tls.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const key_names[CONFIG_TLS__COUNT] = {
        [CONFIG_TLS_CERT] = "llmgate.tls.cert_file",
        [CONFIG_TLS_KEY] = "llmgate.tls.key_file",
        [CONFIG_TLS_CLIENT_CA] = "llmgate.tls.client_ca_file",
        [CONFIG_TLS_MIN_PROTOCOL] = "llmgate.tls.min_protocol",
        [CONFIG_TLS_CIPHERS] = "llmgate.tls.ciphers",
        [CONFIG_TLS_CIPHERSUITES] = "llmgate.tls.ciphersuites",
};

const struct config_tls_where *config_tls_at(const struct config_tls *t, enum config_tls_field f)
{
	return t->where[f].file ? &t->where[f] : &t->section;
}

static void set_section(struct config_tls *t, const char *file, int line, int col)
{
	t->section = (struct config_tls_where){
	        .file = strdup(file ? file : ""), .line = line, .col = col};
}

void config_tls_check(struct config_tls *t, const char *file, int line, int col,
                      struct diag_list *diags)
{
	static const enum config_tls_field paths[] = {CONFIG_TLS_CERT, CONFIG_TLS_KEY,
	                                              CONFIG_TLS_CLIENT_CA};
	const char *proto = t->value[CONFIG_TLS_MIN_PROTOCOL];

	set_section(t, file, line, col);
	for (int i = 0; i < CONFIG_TLS__COUNT; i++)
		t->name[i] = key_names[i];
	if (!t->value[CONFIG_TLS_CERT] || !t->value[CONFIG_TLS_KEY])
		diag_add(diags, DIAG_ERROR, t->section.file, line, col,
		         "llmgate.tls needs both cert_file and key_file (%s is missing)",
		         t->value[CONFIG_TLS_CERT] ? "key_file" : "cert_file");
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		const char *v = t->value[paths[i]];
		const struct config_tls_where *w = config_tls_at(t, paths[i]);

		if (v && v[0] != '/')
			diag_add(diags, DIAG_ERROR, w->file, w->line, w->col,
			         "%s must be an absolute path", key_names[paths[i]]);
	}
	if (!proto || strcasecmp(proto, "TLSv1.2") == 0) {
		t->min_protocol = 12;
	} else if (strcasecmp(proto, "TLSv1.3") == 0) {
		t->min_protocol = 13;
	} else {
		const struct config_tls_where *w = config_tls_at(t, CONFIG_TLS_MIN_PROTOCOL);

		t->min_protocol = 12;
		diag_add(diags, DIAG_ERROR, w->file, w->line, w->col,
		         "llmgate.tls.min_protocol must be TLSv1.2 or TLSv1.3, not '%.40s'", proto);
	}
	for (int i = CONFIG_TLS_CIPHERS; i <= CONFIG_TLS_CIPHERSUITES; i++) {
		const struct config_tls_where *w = config_tls_at(t, (enum config_tls_field)i);

		if (t->value[i] && !t->value[i][0])
			diag_add(diags, DIAG_ERROR, w->file, w->line, w->col, "%s is empty",
			         key_names[i]);
	}
}

void config_tls_from_env(struct config_tls *t, const char *config_path, const char *ciphers,
                         const char *ciphersuites, struct diag_list *diags)
{
	const char *cert = getenv("SSL_CERTFILE_PATH");
	const char *key = getenv("SSL_KEYFILE_PATH");

	if (cert && !cert[0])
		cert = NULL;
	if (key && !key[0])
		key = NULL;
	if (!cert && !key)
		return;
	if (!cert || !key) {
		diag_add(diags, DIAG_WARNING, config_path, 0, 0,
		         "%s is set but %s is not: clients get plain HTTP (TLS needs both, as "
		         "LiteLLM's --ssl_certfile_path and --ssl_keyfile_path)",
		         cert ? "SSL_CERTFILE_PATH" : "SSL_KEYFILE_PATH",
		         cert ? "SSL_KEYFILE_PATH" : "SSL_CERTFILE_PATH");
		return;
	}
	t->on = true;
	set_section(t, config_path, 0, 0);
	t->value[CONFIG_TLS_CERT] = strdup(cert);
	t->value[CONFIG_TLS_KEY] = strdup(key);
	t->value[CONFIG_TLS_CIPHERS] = strdup(ciphers);
	t->value[CONFIG_TLS_CIPHERSUITES] = strdup(ciphersuites);
	for (int i = 0; i < CONFIG_TLS__COUNT; i++)
		t->name[i] = key_names[i];
	t->name[CONFIG_TLS_CERT] = "SSL_CERTFILE_PATH";
	t->name[CONFIG_TLS_KEY] = "SSL_KEYFILE_PATH";
	t->min_protocol = 12;
	for (int i = CONFIG_TLS_CERT; i <= CONFIG_TLS_KEY; i++)
		if (t->value[i] && t->value[i][0] != '/')
			diag_add(diags, DIAG_ERROR, config_path, 0, 0,
			         "%s must be an absolute path", t->name[i]);
}

void config_tls_free(struct config_tls *t)
{
	for (int i = 0; i < CONFIG_TLS__COUNT; i++) {
		free(t->value[i]);
		free(t->where[i].file);
	}
	free(t->section.file);
	memset(t, 0, sizeof(*t));
}
