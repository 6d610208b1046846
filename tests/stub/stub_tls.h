/*
 * stub_tls: TLS for the test stub's connections (--tls-cert, --tls-key), on libevent's
 * bufferevent_openssl. stub_http stays plain: it takes a bufferevent factory.
 */
#ifndef STUB_TLS_H
#define STUB_TLS_H

#include <stddef.h>

struct bufferevent;
struct event_base;
struct stub_tls;

struct stub_tls_stats {
	unsigned long long handshakes; /* completed */
	unsigned long long resumed;    /* of those, the ones that resumed a session */
};

/* Loads the certificate chain and the key (PEM); on failure writes the reason to err. */
int stub_tls_new(const char *cert_file, const char *key_file, struct stub_tls **ret_tls, char *err,
                 size_t err_len);
void stub_tls_free(struct stub_tls *tls);
/* The handshake counters, which the caller may reset. */
struct stub_tls_stats *stub_tls_stats(struct stub_tls *tls);

/* A stub_http bufferevent factory: the server side of a TLS connection on fd, or NULL (fd is
 * then left open). arg is the struct stub_tls. */
struct bufferevent *stub_tls_bufferevent(struct event_base *base, int fd, void *arg);

#endif
