/*
 * stub_api: what the stub answers. OpenAI and Azure OpenAI endpoints with fault injection, and
 * the /_stub/ endpoints tests use to configure and inspect the stub.
 */
#ifndef STUB_API_H
#define STUB_API_H

#include <stdbool.h>

struct event_base;
struct stub_api;
struct stub_fault;
struct stub_http;
struct stub_http_handlers;
struct stub_tls;

struct stub_api_options {
	const char *name;                /* in x-stub-name and in the answers' text */
	const char *require_key;         /* NULL: no authentication */
	const char *require_entra;       /* Azure paths: HS256 secret of the tokens, or NULL */
	int chunks;                      /* content chunks per stream */
	bool verbose;                    /* one line per request on stderr */
	const struct stub_fault *faults; /* per-run faults to start with, or NULL */
	const char *deployments;         /* the Azure deployments, comma-separated, or NULL */
};

int stub_api_new(struct event_base *base, const struct stub_api_options *opt,
                 struct stub_api **ret_api);
/* The server the api answers for (its connection counters feed /_stub/stats). */
void stub_api_attach(struct stub_api *api, struct stub_http *http);
/* The server's TLS, whose handshake counters /_stub/stats adds. */
void stub_api_set_tls(struct stub_api *api, struct stub_tls *tls);
/* Handlers for stub_http_new(), with the api as their argument. */
const struct stub_http_handlers *stub_api_handlers(void);
void stub_api_free(struct stub_api *api);

#endif
