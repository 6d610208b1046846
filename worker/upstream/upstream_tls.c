/*
 * upstream_tls: OpenSSL for upstream_http (see upstream_tls.h). Owns the
 * worker's SSL_CTX (made lazily, dropped when the CA file changes), the
 * per-host cache of the last session, and the non-blocking handshake, read
 * and write wrappers with their error texts.
 *
 * Sessions: OpenSSL hands every new session (TLS 1.3 tickets arrive after
 * the handshake, on a read) to tls_on_new_session(), which keeps the last one
 * per host and offers it on the next new connection to that host. A
 * connection freed after an error or a truncation leaves its session
 * unresumable (OpenSSL's rule for unclean closes); a clean one keeps it.
 *
 * Reads use read-ahead: OpenSSL may hold whole records the socket will not
 * signal again, which upstream_tls_pending() reports.
 */
#include "upstream_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls_errors.h"

#define TLS_ERROR_LEN 200

struct tls_peer {
	struct tls_peer *next;
	SSL_SESSION *session; /* the last one, or NULL */
	char key[];
};

struct upstream_tls {
	SSL_CTX *ctx; /* NULL until the first connection */
	char *ca_file;
	bool no_http2; /* ALPN offers "http/1.1" only */
	struct tls_peer *peers;
};

struct upstream_tls_conn {
	struct upstream_tls *tls;
	struct tls_peer *peer;
	SSL *ssl; /* NULL when it could not be set up: error says why */
	int sys_errno;
	bool failed;  /* an error or a truncation: the session is not kept */
	bool resumed; /* the handshake resumed a session */
	char error[TLS_ERROR_LEN];
};

/* HTTP/2 first, as libcurl offers: a server that picks it is libcurl's
 * (upstream_http_handover.c) */
static const unsigned char alpn_offer[] = "\x02h2\x08http/1.1";
static const unsigned char alpn_http11[] = "\x08http/1.1";

/* ---- context and sessions ---- */

static void peers_forget_sessions(struct upstream_tls *tls)
{
	for (struct tls_peer *p = tls->peers; p; p = p->next) {
		SSL_SESSION_free(p->session);
		p->session = NULL;
	}
}

static struct tls_peer *peer_get(struct upstream_tls *tls, const char *key)
{
	struct tls_peer *p;
	size_t len = strlen(key);

	for (p = tls->peers; p; p = p->next)
		if (strcmp(p->key, key) == 0)
			return p;
	p = calloc(1, sizeof(*p) + len + 1);
	if (!p)
		return NULL;
	memcpy(p->key, key, len + 1);
	p->next = tls->peers;
	tls->peers = p;
	return p;
}

static int tls_on_new_session(SSL *ssl, SSL_SESSION *session)
{
	struct upstream_tls_conn *c = SSL_get_app_data(ssl);

	/* a connection of a context since replaced keeps nothing */
	if (!c || !c->peer || SSL_get_SSL_CTX(ssl) != c->tls->ctx ||
	    !SSL_SESSION_is_resumable(session))
		return 0;
	SSL_SESSION_free(c->peer->session);
	c->peer->session = session;
	return 1; /* the reference is ours */
}

/* The reason of OpenSSL's first queued error, then the queue cleared. */
static const char *openssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	if (!r) {
		if (e)
			ERR_error_string_n(e, buf, len);
		else
			snprintf(buf, len, "unknown error");
		r = buf;
	}
	ERR_clear_error();
	return r;
}

static int ctx_trust(struct upstream_tls *tls, SSL_CTX *ctx, char *err, size_t err_len)
{
	char reason[128];

	/* As Debian's libcurl with CURLOPT_CAINFO: the CA file, and the system's
	 * certificate directory still (its CApath) */
	if (tls->ca_file && SSL_CTX_load_verify_locations(ctx, tls->ca_file, NULL) != 1) {
		snprintf(err, err_len, "cannot load the CA file '%s': %s", tls->ca_file,
		         openssl_reason(reason, sizeof(reason)));
		return -1;
	}
	if (SSL_CTX_set_default_verify_paths(ctx) == 1)
		return 0;
	snprintf(err, err_len, "cannot load the system's CA certificates: %s",
	         openssl_reason(reason, sizeof(reason)));
	return -1;
}

static int ctx_make(struct upstream_tls *tls, char *err, size_t err_len)
{
	const unsigned char *alpn = tls->no_http2 ? alpn_http11 : alpn_offer;
	unsigned int alpn_len = tls->no_http2 ? sizeof(alpn_http11) - 1 : sizeof(alpn_offer) - 1;
	SSL_CTX *ctx;
	char reason[128];

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		snprintf(err, err_len, "cannot create a TLS context: %s",
		         openssl_reason(reason, sizeof(reason)));
		return -1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* as libcurl: a certificate of the CA file is a trust anchor even when it
	 * is not self-signed (an intermediate's) */
	X509_STORE_set_flags(SSL_CTX_get_cert_store(ctx), X509_V_FLAG_PARTIAL_CHAIN);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_alpn_protos(ctx, alpn, alpn_len) != 0 ||
	    ctx_trust(tls, ctx, err, err_len) < 0) {
		if (!err[0])
			snprintf(err, err_len, "cannot set up the TLS context");
		SSL_CTX_free(ctx);
		return -1;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	                              SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_session_cache_mode(ctx,
	                               SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, tls_on_new_session);
	tls->ctx = ctx;
	return 0;
}

struct upstream_tls *upstream_tls_new(void)
{
	return calloc(1, sizeof(struct upstream_tls));
}

void upstream_tls_free(struct upstream_tls *tls)
{
	if (!tls)
		return;
	while (tls->peers) {
		struct tls_peer *p = tls->peers;

		tls->peers = p->next;
		SSL_SESSION_free(p->session);
		free(p);
	}
	SSL_CTX_free(tls->ctx);
	free(tls->ca_file);
	free(tls);
}

int upstream_tls_set_ca_file(struct upstream_tls *tls, const char *path)
{
	char *copy = NULL;

	if ((!path && !tls->ca_file) || (path && tls->ca_file && strcmp(path, tls->ca_file) == 0))
		return 0;
	if (path && !(copy = strdup(path)))
		return -ENOMEM;
	free(tls->ca_file);
	tls->ca_file = copy;
	/* connections made under the old trust keep their reference to it */
	SSL_CTX_free(tls->ctx);
	tls->ctx = NULL;
	peers_forget_sessions(tls);
	return 0;
}

void upstream_tls_set_http2(struct upstream_tls *tls, bool offer)
{
	if (tls->no_http2 == !offer)
		return;
	tls->no_http2 = !offer;
	SSL_CTX_free(tls->ctx); /* made again, with the new offer, by the next connection */
	tls->ctx = NULL;
}

/* ---- connections ---- */

/* Which name or address the certificate must carry; SNI for names only. */
static int conn_set_peer_name(SSL *ssl, const char *host)
{
	unsigned char addr[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1 ? 0 : -1;
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (SSL_set1_host(ssl, host) != 1 || SSL_set_tlsext_host_name(ssl, host) != 1)
		return -1;
	return 0;
}

static void conn_setup(struct upstream_tls_conn *c, int fd, const char *host)
{
	char reason[128];

	c->ssl = SSL_new(c->tls->ctx);
	if (c->ssl && SSL_set_fd(c->ssl, fd) == 1 && conn_set_peer_name(c->ssl, host) == 0) {
		SSL_set_app_data(c->ssl, c);
		SSL_set_connect_state(c->ssl);
		if (c->peer->session)
			SSL_set_session(c->ssl, c->peer->session);
		return;
	}
	snprintf(c->error, sizeof(c->error), "cannot set up TLS: %s",
	         openssl_reason(reason, sizeof(reason)));
	SSL_free(c->ssl);
	c->ssl = NULL;
}

struct upstream_tls_conn *upstream_tls_conn_new(struct upstream_tls *tls, int fd, const char *host,
                                                const char *peer_key)
{
	struct upstream_tls_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->tls = tls;
	c->peer = peer_get(tls, peer_key);
	if (!c->peer) {
		free(c);
		return NULL;
	}
	if (!tls->ctx && ctx_make(tls, c->error, sizeof(c->error)) < 0)
		return c; /* the handshake reports it */
	conn_setup(c, fd, host);
	return c;
}

void upstream_tls_conn_free(struct upstream_tls_conn *c)
{
	if (!c)
		return;
	if (c->ssl && !c->failed && SSL_is_init_finished(c->ssl))
		/* closed by us, cleanly: its session stays resumable */
		SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(c->ssl);
	free(c);
}

/* Turns the failure of an SSL call (RET, errno SYS) into a status. */
static int conn_status(struct upstream_tls_conn *c, int ret, int sys, const char *what)
{
	char reason[128];
	unsigned long e;

	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return UPSTREAM_TLS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return UPSTREAM_TLS_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return UPSTREAM_TLS_CLOSED;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		c->failed = true;
		if (!sys)
			return UPSTREAM_TLS_TRUNCATED;
		c->sys_errno = sys;
		snprintf(c->error, sizeof(c->error), "%s: %s", what, strerror(sys));
		return UPSTREAM_TLS_ERROR;
	case SSL_ERROR_SSL:
		c->failed = true;
		e = ERR_peek_error();
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
		if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
		    ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			ERR_clear_error();
			return UPSTREAM_TLS_TRUNCATED;
		}
#endif
		snprintf(c->error, sizeof(c->error), "%s: %s", what,
		         openssl_reason(reason, sizeof(reason)));
		return UPSTREAM_TLS_ERROR;
	default:
		ERR_clear_error();
		c->failed = true;
		snprintf(c->error, sizeof(c->error), "%s: unexpected OpenSSL error", what);
		return UPSTREAM_TLS_ERROR;
	}
}

/* A failed handshake: what failed, in words; its host's session is dropped. */
static int handshake_failed(struct upstream_tls_conn *c, int status)
{
	long v = SSL_get_verify_result(c->ssl);

	if (v != X509_V_OK)
		snprintf(c->error, sizeof(c->error), "certificate verify failed: %s",
		         X509_verify_cert_error_string(v));
	else if (status != UPSTREAM_TLS_ERROR)
		snprintf(c->error, sizeof(c->error),
		         "TLS handshake: the upstream closed the connection");
	c->failed = true;
	SSL_SESSION_free(c->peer->session);
	c->peer->session = NULL;
	return UPSTREAM_TLS_ERROR;
}

int upstream_tls_handshake(struct upstream_tls_conn *c)
{
	int r, sys, status;

	if (!c->ssl)
		return UPSTREAM_TLS_ERROR;
	tls_errors_clear();
	errno = 0;
	r = SSL_do_handshake(c->ssl);
	sys = errno;
	if (r == 1) {
		c->resumed = SSL_session_reused(c->ssl) == 1;
		return 0;
	}
	status = conn_status(c, r, sys, "TLS handshake");
	if (status == UPSTREAM_TLS_WANT_READ || status == UPSTREAM_TLS_WANT_WRITE)
		return status;
	return handshake_failed(c, status);
}

ssize_t upstream_tls_read(struct upstream_tls_conn *c, void *buf, size_t len)
{
	size_t n = 0;
	int r, sys;

	tls_errors_clear();
	errno = 0;
	r = SSL_read_ex(c->ssl, buf, len, &n);
	sys = errno;
	if (r == 1)
		return (ssize_t)n;
	return conn_status(c, r, sys, "TLS read");
}

ssize_t upstream_tls_write(struct upstream_tls_conn *c, const void *buf, size_t len)
{
	size_t n = 0;
	int r, sys;

	tls_errors_clear();
	errno = 0;
	r = SSL_write_ex(c->ssl, buf, len, &n);
	sys = errno;
	if (r == 1)
		return (ssize_t)n;
	r = conn_status(c, r, sys, "TLS write");
	if (r == UPSTREAM_TLS_CLOSED || r == UPSTREAM_TLS_TRUNCATED) {
		c->sys_errno = EPIPE;
		snprintf(c->error, sizeof(c->error), "TLS write: %s", strerror(EPIPE));
		return UPSTREAM_TLS_ERROR;
	}
	return r;
}

bool upstream_tls_pending(const struct upstream_tls_conn *c)
{
	return c->ssl && SSL_has_pending(c->ssl) == 1;
}

const char *upstream_tls_error(const struct upstream_tls_conn *c)
{
	return c->error[0] ? c->error : "TLS error";
}

int upstream_tls_errno(const struct upstream_tls_conn *c)
{
	return c->sys_errno;
}

bool upstream_tls_resumed(const struct upstream_tls_conn *c)
{
	return c->resumed;
}

bool upstream_tls_chose_http2(const struct upstream_tls_conn *c)
{
	const unsigned char *proto = NULL;
	unsigned int len = 0;

	if (!c->ssl)
		return false;
	SSL_get0_alpn_selected(c->ssl, &proto, &len);
	return len == 2 && memcmp(proto, "h2", 2) == 0;
}
