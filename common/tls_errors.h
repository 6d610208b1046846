/*
 * tls_errors: OpenSSL's per-thread error queue emptied before a TLS call,
 * cheaply. SSL_get_error() reads the queue, so it must be empty before each
 * SSL_read/SSL_write/SSL_do_handshake; but OpenSSL 3's ERR_clear_error()
 * wipes all sixteen slots whether anything is queued or not (about 840
 * instructions), and on the request path the queue is empty almost always:
 * every failure path of the worker's TLS code clears what it read. So look
 * first (ERR_peek_error(): a few dozen instructions) and clear only what is
 * there. Header-only: used by the TLS listener and the upstream TLS client.
 */
#pragma once

#include <openssl/err.h>

static inline void tls_errors_clear(void)
{
	if (ERR_peek_error() != 0)
		ERR_clear_error();
}
