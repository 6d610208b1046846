/*
 * http_tls: the TLS side of a client connection when the server has a TLS
 * context (http_server_options.tls): the non-blocking handshake driven by
 * the connection's events, and read and write through OpenSSL. http_conn.c
 * calls these at its I/O call sites behind one `c->ssl` test, so a plain
 * connection pays a branch and nothing else. Internal to worker/http.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

struct evbuffer;
struct http_conn;

/* Makes C's TLS session (server side) on its fd. -ENOMEM. */
int http_tls_conn_new(struct http_conn *c);
/* Frees it; a connection that closes cleanly says close_notify first. */
void http_tls_conn_free(struct http_conn *c);

/*
 * One step of the handshake (HTTP_CONN_HANDSHAKE), from a read or write
 * event. 1: done, C is in HTTP_CONN_HEAD; 0: waiting for the socket (the
 * write event is added when OpenSSL wants to write); -1: failed: C is marked
 * failed, or, for plain HTTP sent to the TLS port, answered 400 in clear
 * text and lingering.
 */
int http_tls_handshake(struct http_conn *c);

/* As read(2) on C's socket: bytes, 0 at the end of input, or -1 with errno
 * (EAGAIN: wait; when OpenSSL must write first, the write event is added
 * and retries the read). */
ssize_t http_tls_read(struct http_conn *c, void *buf, size_t len);

/* As evbuffer_write(): writes one record's worth from the front of OUT,
 * drains it and returns the count, or -1 with errno (EAGAIN: wait). */
int http_tls_write(struct http_conn *c, struct evbuffer *out);

/* Decrypted bytes OpenSSL holds that the connection has not read yet. */
bool http_tls_pending(const struct http_conn *c);

/* Any bytes OpenSSL holds for the connection: decrypted, or read ahead from
 * the socket and not decrypted yet (a whole record, or a part whose rest the
 * socket will signal). */
bool http_tls_holds(const struct http_conn *c);

/* OpenSSL may hold whole records the socket will not signal again: run
 * the read event from the loop while C is reading and some are left. */
void http_tls_kick(struct http_conn *c);

/* close_notify before our side of the socket is shut. */
void http_tls_shutdown(struct http_conn *c);
