/*
 * upstream_tls: TLS on OpenSSL for upstream_http's connections to https://
 * upstreams, as strict as libcurl: the peer is always verified (against
 * llmgate.ca_file when set, else the system's trust store), and its name or
 * address is checked; TLS 1.2 or later, SNI for names only. ALPN offers "h2"
 * and "http/1.1", as libcurl does: the caller hands a peer that picks
 * HTTP/2 over (upstream_tls_chose_http2()); or "http/1.1" only
 * (upstream_tls_set_http2()).
 * The last session of each host is offered on its next new connection.
 *
 * One struct upstream_tls per worker; its SSL_CTX is made by the first TLS
 * connection (a worker with plain-HTTP upstreams only never starts OpenSSL).
 * Every operation is non-blocking and says what it waits for.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct upstream_tls;
struct upstream_tls_conn;

/* What an operation returns instead of a byte count (or 0 for a handshake). */
enum upstream_tls_status {
	UPSTREAM_TLS_WANT_READ = -1,  /* call again once the socket is readable */
	UPSTREAM_TLS_WANT_WRITE = -2, /* call again once the socket is writable */
	UPSTREAM_TLS_CLOSED = -3,     /* the peer ended the session (close_notify) */
	UPSTREAM_TLS_TRUNCATED = -4,  /* the connection closed without close_notify */
	UPSTREAM_TLS_ERROR = -5,      /* see upstream_tls_error(), upstream_tls_errno() */
};

struct upstream_tls *upstream_tls_new(void);
void upstream_tls_free(struct upstream_tls *tls);
/* The CA certificates (PEM file) peers are verified against; NULL for the
 * system's. A change drops the context and every session kept. 0 or -ENOMEM. */
int upstream_tls_set_ca_file(struct upstream_tls *tls, const char *path);
/* Whether ALPN offers HTTP/2 besides HTTP/1.1 (the default) on new connections. */
void upstream_tls_set_http2(struct upstream_tls *tls, bool offer);

/* TLS on the connected (or connecting) socket FD to HOST (a name, or an
 * IPv4 or IPv6 address without brackets); PEER_KEY names whose sessions it
 * offers and keeps ("host:port"). NULL only when out of memory: any other
 * failure (a bad CA file, ...) is reported by the handshake. */
struct upstream_tls_conn *upstream_tls_conn_new(struct upstream_tls *tls, int fd, const char *host,
                                                const char *peer_key);
/* Frees the TLS state; the socket stays open (no close_notify is sent). */
void upstream_tls_conn_free(struct upstream_tls_conn *c);

/* 0 once the handshake is done and the peer verified, else a status. */
int upstream_tls_handshake(struct upstream_tls_conn *c);
/* Bytes read (> 0) or a status. */
ssize_t upstream_tls_read(struct upstream_tls_conn *c, void *buf, size_t len);
/* Bytes written (> 0) or a status; after a WANT, call again with the same
 * bytes (the buffer may move). */
ssize_t upstream_tls_write(struct upstream_tls_conn *c, const void *buf, size_t len);
/* Whether OpenSSL holds received bytes not read yet: the socket will not
 * signal them, so the caller must read again without waiting for it. */
bool upstream_tls_pending(const struct upstream_tls_conn *c);
/* What the last UPSTREAM_TLS_ERROR was: a sentence, never secret. */
const char *upstream_tls_error(const struct upstream_tls_conn *c);
/* The errno of a failed socket call behind the last error, or 0. */
int upstream_tls_errno(const struct upstream_tls_conn *c);
/* Whether the handshake resumed a kept session. */
bool upstream_tls_resumed(const struct upstream_tls_conn *c);
/* Whether the peer picked HTTP/2 by ALPN in the finished handshake (no ALPN,
 * or "http/1.1", is HTTP/1.1). */
bool upstream_tls_chose_http2(const struct upstream_tls_conn *c);
