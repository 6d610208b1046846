/*
 * stub_tls: the server side of TLS for llmgate-stub, so that the benchmarks and tests can put
 * the stub behind TLS as OpenAI and Azure are. TLS 1.2 or 1.3, no ALPN (clients get
 * HTTP/1.1), server-side session cache on so that clients may resume. A peer closing without
 * close_notify is an ordinary EOF. Counts completed handshakes and those that resumed a
 * session (for /_stub/stats).
 */
#include "stub_tls.h"

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>

struct stub_tls {
	SSL_CTX *ctx;
	struct stub_tls_stats stats;
};

static int counted_index = -1; /* SSL ex_data: this connection's handshake was counted */

static void tls_on_info(const SSL *ssl, int where, int ret)
{
	struct stub_tls *tls = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

	(void)ret;
	/* once per connection: TLS 1.3 may report more than one "done" */
	if (!(where & SSL_CB_HANDSHAKE_DONE) || SSL_get_ex_data(ssl, counted_index))
		return;
	SSL_set_ex_data((SSL *)ssl, counted_index, tls);
	tls->stats.handshakes++;
	if (SSL_session_reused(ssl))
		tls->stats.resumed++;
}

static void tls_error(char *err, size_t err_len, const char *what, const char *file)
{
	char reason[256];

	ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
	snprintf(err, err_len, "%s '%s': %s", what, file, reason);
	ERR_clear_error();
}

int stub_tls_new(const char *cert_file, const char *key_file, struct stub_tls **ret_tls, char *err,
                 size_t err_len)
{
	static const unsigned char sid_ctx[] = "llmgate-stub";
	struct stub_tls *tls = calloc(1, sizeof(*tls));

	if (!tls || !(tls->ctx = SSL_CTX_new(TLS_server_method()))) {
		snprintf(err, err_len, "cannot create the TLS context");
		stub_tls_free(tls);
		return -1;
	}
	SSL_CTX_set_min_proto_version(tls->ctx, TLS1_2_VERSION);
	if (counted_index < 0)
		counted_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	SSL_CTX_set_app_data(tls->ctx, tls);
	SSL_CTX_set_info_callback(tls->ctx, tls_on_info);
	SSL_CTX_set_session_id_context(tls->ctx, sid_ctx, sizeof(sid_ctx) - 1);
	if (SSL_CTX_use_certificate_chain_file(tls->ctx, cert_file) != 1) {
		tls_error(err, err_len, "cannot load the certificate", cert_file);
		stub_tls_free(tls);
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(tls->ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(tls->ctx) != 1) {
		tls_error(err, err_len, "cannot use the key", key_file);
		stub_tls_free(tls);
		return -1;
	}
	*ret_tls = tls;
	return 0;
}

struct stub_tls_stats *stub_tls_stats(struct stub_tls *tls)
{
	return &tls->stats;
}

void stub_tls_free(struct stub_tls *tls)
{
	if (!tls)
		return;
	SSL_CTX_free(tls->ctx);
	free(tls);
}

struct bufferevent *stub_tls_bufferevent(struct event_base *base, int fd, void *arg)
{
	struct stub_tls *tls = arg;
	SSL *ssl = SSL_new(tls->ctx);
	struct bufferevent *bev;

	if (!ssl)
		return NULL;
	/* On failure libevent has freed ssl; the descriptor is still ours. */
	bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                     BEV_OPT_CLOSE_ON_FREE);
	if (!bev)
		return NULL;
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}
