/*
 * tls_listener: builds and checks the client listener's SSL_CTX (see
 * tls_listener.h).
 *
 * What every connection gets: TLS 1.2 or 1.3 (llmgate.tls.min_protocol),
 * the configured cipher lists, ALPN "http/1.1" only (a client that offers
 * ALPN without it is refused with no_application_protocol, RFC 7301), no
 * renegotiation (SSL_OP_NO_RENEGOTIATION: a TLS 1.2 client's request is
 * declined), no compression, OpenSSL's buffers released while a connection
 * idles (SSL_MODE_RELEASE_BUFFERS), partial writes, and read-ahead: one
 * read() takes a record's header and body together (without it OpenSSL
 * reads the 5-byte header first, a second system call per request; the
 * worker then asks SSL_has_pending, see http_tls.c). Resumption is by session
 * tickets only (no server-side cache): the ticket keys are made with the
 * context, so all workers of a generation resume each other's sessions and
 * a reload rotates them. With a client CA, a client certificate it verifies
 * is required.
 *
 * The files are read by the supervisor after it dropped privileges, at the
 * start and at every reload alike: they must be readable by llmgate.user.
 */
#include "tls_listener.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

#define ALPN_HTTP11 "http/1.1"

__attribute__((format(printf, 5, 6))) static void say(struct diag_list *diags,
                                                      enum diag_severity sev,
                                                      const struct config_tls *t,
                                                      enum config_tls_field f, const char *fmt, ...)
{
	const struct config_tls_where *w = config_tls_at(t, f);
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(diags, sev, w->file, w->line, w->col, "%s", msg);
}

/* OpenSSL's reason for the last failure, and the queue emptied. */
static const char *ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	snprintf(buf, len, "%s", r ? r : "unknown error");
	ERR_clear_error();
	return buf;
}

/* A file the loader is about to read: the plain reason when it cannot. */
static bool readable(struct diag_list *diags, const struct config_tls *t, enum config_tls_field f)
{
	const char *path = t->value[f];

	if (access(path, R_OK) == 0)
		return true;
	say(diags, DIAG_ERROR, t, f, "%s '%s' cannot be read: %s", t->name[f], path,
	    strerror(errno));
	return false;
}

/* Encrypted keys are refused rather than prompting on a terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	for (unsigned int i = 0; i < inlen;) {
		unsigned int n = in[i];

		if (i + 1 + n > inlen)
			break;
		if (n == sizeof(ALPN_HTTP11) - 1 && memcmp(in + i + 1, ALPN_HTTP11, n) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)n;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + n;
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static void format_time(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1 || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "(unreadable date)");
}

/* The leaf's validity: expired or not yet valid is an error, 30 days
 * left a warning. */
static int check_dates(struct diag_list *diags, const struct config_tls *t, X509 *leaf)
{
	const ASN1_TIME *before = X509_get0_notBefore(leaf), *after = X509_get0_notAfter(leaf);
	char when[64];
	int days = 0, secs = 0;

	if (X509_cmp_current_time(after) <= 0) {
		format_time(after, when, sizeof(when));
		say(diags, DIAG_ERROR, t, CONFIG_TLS_CERT, "%s '%s' expired on %s",
		    t->name[CONFIG_TLS_CERT], t->value[CONFIG_TLS_CERT], when);
		return -EINVAL;
	}
	if (X509_cmp_current_time(before) > 0) {
		format_time(before, when, sizeof(when));
		say(diags, DIAG_ERROR, t, CONFIG_TLS_CERT, "%s '%s' is not valid before %s",
		    t->name[CONFIG_TLS_CERT], t->value[CONFIG_TLS_CERT], when);
		return -EINVAL;
	}
	if (ASN1_TIME_diff(&days, &secs, NULL, after) == 1 &&
	    days < TLS_LISTENER_EXPIRY_WARN_DAYS) {
		format_time(after, when, sizeof(when));
		say(diags, DIAG_WARNING, t, CONFIG_TLS_CERT,
		    "%s '%s' expires on %s, in %d day%s: renew it and reload",
		    t->name[CONFIG_TLS_CERT], t->value[CONFIG_TLS_CERT], when, days,
		    days == 1 ? "" : "s");
	}
	return 0;
}

static int load_identity(SSL_CTX *ctx, const struct config_tls *t, struct diag_list *diags)
{
	char why[160];
	X509 *leaf;

	if (!readable(diags, t, CONFIG_TLS_CERT) || !readable(diags, t, CONFIG_TLS_KEY))
		return -EINVAL;
	if (SSL_CTX_use_certificate_chain_file(ctx, t->value[CONFIG_TLS_CERT]) != 1) {
		say(diags, DIAG_ERROR, t, CONFIG_TLS_CERT,
		    "%s '%s' is no PEM certificate chain: %s", t->name[CONFIG_TLS_CERT],
		    t->value[CONFIG_TLS_CERT], ssl_reason(why, sizeof(why)));
		return -EINVAL;
	}
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	if (SSL_CTX_use_PrivateKey_file(ctx, t->value[CONFIG_TLS_KEY], SSL_FILETYPE_PEM) != 1 &&
	    ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
		ERR_clear_error();
		say(diags, DIAG_ERROR, t, CONFIG_TLS_KEY,
		    "%s '%s' is not the key of the certificate in '%s'", t->name[CONFIG_TLS_KEY],
		    t->value[CONFIG_TLS_KEY], t->value[CONFIG_TLS_CERT]);
		return -EINVAL;
	}
	if (!SSL_CTX_get0_privatekey(ctx)) {
		say(diags, DIAG_ERROR, t, CONFIG_TLS_KEY,
		    "%s '%s' is no usable PEM private key (a passphrase-protected key is not "
		    "supported): %s",
		    t->name[CONFIG_TLS_KEY], t->value[CONFIG_TLS_KEY],
		    ssl_reason(why, sizeof(why)));
		return -EINVAL;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		say(diags, DIAG_ERROR, t, CONFIG_TLS_KEY,
		    "%s '%s' is not the key of the certificate in '%s'", t->name[CONFIG_TLS_KEY],
		    t->value[CONFIG_TLS_KEY], t->value[CONFIG_TLS_CERT]);
		return -EINVAL;
	}
	leaf = SSL_CTX_get0_certificate(ctx);
	return leaf ? check_dates(diags, t, leaf) : -EINVAL;
}

static int load_client_ca(SSL_CTX *ctx, const struct config_tls *t, struct diag_list *diags)
{
	const char *ca = t->value[CONFIG_TLS_CLIENT_CA];
	STACK_OF(X509_NAME) * names;
	char why[160];

	if (!ca)
		return 0;
	if (!readable(diags, t, CONFIG_TLS_CLIENT_CA))
		return -EINVAL;
	names = SSL_load_client_CA_file(ca);
	if (!names || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		say(diags, DIAG_ERROR, t, CONFIG_TLS_CLIENT_CA,
		    "%s '%s' holds no PEM certificate: %s", t->name[CONFIG_TLS_CLIENT_CA], ca,
		    ssl_reason(why, sizeof(why)));
		if (names)
			sk_X509_NAME_pop_free(names, X509_NAME_free);
		return -EINVAL;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return 0;
}

static int set_protocols(SSL_CTX *ctx, const struct config_tls *t, struct diag_list *diags)
{
	char why[160];

	if (SSL_CTX_set_min_proto_version(ctx, t->min_protocol == 13 ? TLS1_3_VERSION
	                                                             : TLS1_2_VERSION) != 1) {
		say(diags, DIAG_ERROR, t, CONFIG_TLS_MIN_PROTOCOL, "%s: %s",
		    t->name[CONFIG_TLS_MIN_PROTOCOL], ssl_reason(why, sizeof(why)));
		return -EINVAL;
	}
	if (SSL_CTX_set_cipher_list(ctx, t->value[CONFIG_TLS_CIPHERS]) != 1) {
		say(diags, DIAG_ERROR, t, CONFIG_TLS_CIPHERS,
		    "%s '%.80s' names no cipher OpenSSL has: %s", t->name[CONFIG_TLS_CIPHERS],
		    t->value[CONFIG_TLS_CIPHERS], ssl_reason(why, sizeof(why)));
		return -EINVAL;
	}
	if (SSL_CTX_set_ciphersuites(ctx, t->value[CONFIG_TLS_CIPHERSUITES]) != 1) {
		say(diags, DIAG_ERROR, t, CONFIG_TLS_CIPHERSUITES,
		    "%s '%.80s' names no TLS 1.3 suite OpenSSL has: %s",
		    t->name[CONFIG_TLS_CIPHERSUITES], t->value[CONFIG_TLS_CIPHERSUITES],
		    ssl_reason(why, sizeof(why)));
		return -EINVAL;
	}
	return 0;
}

int tls_listener_new(const struct config *config, SSL_CTX **ret, struct diag_list *diags)
{
	static const unsigned char sid_ctx[] = "llmgate";
	const struct config_tls *t = &config->tls;
	SSL_CTX *ctx;

	*ret = NULL;
	if (!t->on)
		return 0;
	if (!t->value[CONFIG_TLS_CERT] || !t->value[CONFIG_TLS_KEY] ||
	    !t->value[CONFIG_TLS_CIPHERS] || !t->value[CONFIG_TLS_CIPHERSUITES])
		return -EINVAL; /* the loader said why */
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		diag_add(diags, DIAG_ERROR, t->section.file, t->section.line, t->section.col,
		         "out of memory making the TLS context");
		return -ENOMEM;
	}
	if (set_protocols(ctx, t, diags) < 0 || load_identity(ctx, t, diags) < 0 ||
	    load_client_ca(ctx, t, diags) < 0) {
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return -EINVAL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
	                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
	*ret = ctx;
	return 0;
}

void tls_listener_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

void tls_listener_describe(const SSL_CTX *ctx, struct tls_listener_info *info)
{
	X509 *leaf = SSL_CTX_get0_certificate(ctx);
	struct tm tm;

	*info = (struct tls_listener_info){
	        .mtls = (SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER) != 0};
	if (!leaf)
		return;
	X509_NAME_oneline(X509_get_subject_name(leaf), info->subject, sizeof(info->subject));
	if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) == 1)
		strftime(info->expires, sizeof(info->expires), "%Y-%m-%dT%H:%M:%SZ", &tm);
}
