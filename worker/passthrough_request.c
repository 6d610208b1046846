/*
 * passthrough_request: what a relayed request sends upstream (see
 * passthrough.c for the rules): the URL and the headers of a files-API
 * request to llmgate.files_deployment and of a pass_through_endpoints
 * entry's, into the call. Pure: no I/O, no clock; unit-tested.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "config_passthrough.h"
#include "http_server.h"
#include "passthrough_call.h"
#include "secret.h"

static bool hop_by_hop(const char *name)
{
	static const char *const names[] = {
	        "connection",
	        "keep-alive",
	        "proxy-connection",
	        "proxy-authorization",
	        "proxy-authenticate",
	        "te",
	        "trailer",
	        "transfer-encoding",
	        "upgrade",
	        "host",
	        "content-length",
	        "expect",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(name, names[i]) == 0)
			return true;
	return false;
}

static bool client_key_header(const char *name)
{
	return strcasecmp(name, "authorization") == 0 || strcasecmp(name, "api-key") == 0 ||
	       strcasecmp(name, "x-api-key") == 0;
}

/* A header of the client that carries the gateway's own key. */
static bool carries_master_key(const struct config *c, const char *name, const char *value)
{
	if (!c->master_key || !client_key_header(name))
		return false;
	if (strncasecmp(value, "Bearer ", 7) == 0)
		value += 7;
	return secret_equal(value, c->master_key);
}

static bool has_header(const struct pt_call *call, const char *name)
{
	for (size_t i = 0; i < call->n_headers; i++)
		if (strcasecmp(call->headers[i].name, name) == 0)
			return true;
	return false;
}

static int add(void *ctx, const char *name, const char *value)
{
	struct pt_call *call = ctx;

	/* the deployment's Content-Type is JSON's: the client's says what its
	 * body is (multipart uploads) */
	if (strcasecmp(name, "Content-Type") == 0)
		return 0;
	if (call->n_headers >= PT_MAX_HEADERS)
		return -1;
	call->headers[call->n_headers++] = (struct upstream_header){name, value};
	return 0;
}

/* The client's headers after ours: those allowed, and none whose name one of
 * ours has. ALL: every end-to-end header, else only Content-Type. KEYS: the
 * client's Authorization, api-key, x-api-key go too (unless they carry the
 * gateway's key). */
static int add_client(struct pt_call *call, const struct http_request *req, bool all, bool keys)
{
	size_t ours = call->n_headers;

	for (size_t i = 0; i < req->n_headers; i++) {
		const char *name = req->headers[i].name, *value = req->headers[i].value;
		bool dup = false;

		if (hop_by_hop(name) || (!all && strcasecmp(name, "content-type") != 0) ||
		    (client_key_header(name) &&
		     (!keys || carries_master_key(call->pt->config, name, value))))
			continue;
		for (size_t j = 0; j < ours && !dup; j++)
			dup = strcasecmp(call->headers[j].name, name) == 0;
		if (dup)
			continue;
		if (call->n_headers >= PT_MAX_HEADERS)
			return -1;
		call->headers[call->n_headers++] = (struct upstream_header){name, value};
	}
	return 0;
}

/* QUERY without its api-version parameters, into BUF. */
static void query_without_version(const char *query, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	while (query && *query) {
		size_t m = strcspn(query, "&");

		bool version = strncmp(query, "api-version=", 12) == 0 ||
		               (m == 11 && strncmp(query, "api-version", 11) == 0);

		if (m && !version && n + m + 2 < len) {
			if (n)
				buf[n++] = '&';
			memcpy(buf + n, query, m);
			n += m;
			buf[n] = '\0';
		}
		query += m + (query[m] == '&');
	}
}

static int files_url(struct pt_call *call, const struct deployment *dep, const char *op,
                     size_t op_len, const char *query)
{
	char q[2048];
	int n;

	query_without_version(query, q, sizeof(q));
	if (dep->provider == PROVIDER_AZURE && provider_request_azure_v1(dep))
		n = snprintf(call->url, sizeof(call->url), "%s/openai/v1/%.*s%s%s", dep->api_base,
		             (int)op_len, op, q[0] ? "?" : "", q);
	else if (dep->provider == PROVIDER_AZURE)
		n = snprintf(call->url, sizeof(call->url), "%s/openai/%.*s?api-version=%s%s%s",
		             dep->api_base, (int)op_len, op, dep->api_version, q[0] ? "&" : "", q);
	else {
		char opz[1024];

		if (op_len >= sizeof(opz))
			return -1;
		memcpy(opz, op, op_len);
		opz[op_len] = '\0';
		return provider_request_url_query(dep, opz, q, call->url, sizeof(call->url));
	}
	return n > 0 && (size_t)n < sizeof(call->url) ? 0 : -1;
}

int pt_request_files(struct pt_call *call, const struct http_request *req, const char *op,
                     const char *entra_token)
{
	const struct config *c = call->pt->config;
	const struct deployment *dep = &c->deployments[c->files_deployment];

	call->deployment = (long)c->files_deployment;
	call->timeout_ms = dep->timeout_ms ? dep->timeout_ms : c->request_timeout_ms;
	if (files_url(call, dep, op, req->path_len - (size_t)(op - req->path), req->query) < 0)
		return -1;
	if (provider_request_headers(dep, entra_token, call->auth, add, call) < 0)
		return -1;
	return add_client(call, req, true, false);
}

int pt_request_endpoint(struct pt_call *call, const struct http_request *req,
                        const struct passthrough_endpoint *e)
{
	size_t plen = strlen(e->path);
	const char *sub = req->path + (strcmp(e->path, "/") == 0 ? 0 : plen);
	size_t sub_len = req->path_len - (size_t)(sub - req->path);
	bool tq = strchr(e->target, '?') != NULL;
	int n;

	call->timeout_ms = call->pt->config->request_timeout_ms;
	if (tq && sub_len) /* the subpath goes before the target's query */
		n = snprintf(call->url, sizeof(call->url), "%.*s%.*s%s%s",
		             (int)(strchr(e->target, '?') - e->target), e->target, (int)sub_len,
		             sub, strchr(e->target, '?'), req->query ? "&" : "");
	else
		n = snprintf(call->url, sizeof(call->url), "%s%.*s%s", e->target, (int)sub_len, sub,
		             req->query ? (tq ? "&" : "?") : "");
	if (n < 0 || (size_t)n >= sizeof(call->url) ||
	    (req->query && snprintf(call->url + n, sizeof(call->url) - (size_t)n, "%s",
	                            req->query) >= (int)(sizeof(call->url) - (size_t)n)))
		return -1;
	for (size_t i = 0; i < e->n_headers; i++)
		if (!has_header(call, e->headers[i].name) &&
		    add(call, e->headers[i].name, e->headers[i].value) < 0)
			return -1;
	/* the configured Content-Type, if any, wins; add() leaves it out */
	for (size_t i = 0; i < e->n_headers; i++)
		if (strcasecmp(e->headers[i].name, "Content-Type") == 0 &&
		    call->n_headers < PT_MAX_HEADERS)
			call->headers[call->n_headers++] =
			        (struct upstream_header){e->headers[i].name, e->headers[i].value};
	return add_client(call, req, e->forward_headers, true);
}

/* The configured endpoint serving PATH: the longest path that is PATH or,
 * with include_subpath, a prefix of it. */
const struct passthrough_endpoint *pt_request_find(const struct config *c,
                                                   const struct http_request *req)
{
	const struct passthrough_endpoint *best = NULL;

	for (size_t i = 0; i < c->n_passthrough; i++) {
		const struct passthrough_endpoint *e = &c->passthrough[i];
		size_t n = strlen(e->path);
		bool root = n == 1;

		if (req->path_len < n || memcmp(req->path, e->path, n) != 0)
			continue;
		if (req->path_len != n && !(e->include_subpath && (root || req->path[n] == '/')))
			continue;
		if (!best || strlen(best->path) < n)
			best = e;
	}
	return best;
}
