/*
 * llmgate-stub: a stand-in for OpenAI and Azure OpenAI on loopback, with fault injection, for
 * llmgate's integration tests and benchmarks. One process, one libevent loop, its own small
 * HTTP/1.1 server (keep-alive, pipelining, chunked request bodies); quiet unless -v. This file:
 * options, startup and shutdown.
 *
 * Usage: llmgate-stub [--listen HOST:PORT] [--name NAME] [--require-key KEY] [--chunks N] [-v]
 *                     [--status N] [--delay-ms N] [--hang] [--headers-then-hang] [--reset]
 *                     [--chunk-delay-ms N] [--cut-after N] [--retry-after-ms N]
 *                     [--retry-after N] [--body STR] [--content-type STR] [--count N]
 *                     [--tls-cert FILE --tls-key FILE] [--deployments NAME,...]
 *   --listen    numeric HOST:PORT or [HOST6]:PORT, default 127.0.0.1:0 (a free port). Once bound
 *               the stub prints exactly one line on stdout, "listening on HOST:PORT", and
 *               flushes it.
 *   --name      default "stub"; sent as x-stub-name and inside every answer's text.
 *   --chunks    content chunks per stream, default 5.
 *   -v          one line per API request on stderr.
 *   --deployments  the Azure resource's deployments (also POST /_stub/deployments). As on
 *               Azure, a deployments-path URL, or an Azure v1 body's "model", that names none of
 *               them answers 404 DeploymentNotFound; a stub told none has none.
 *   --tls-cert, --tls-key  serve HTTPS (TLS 1.2+, HTTP/1.1) with this certificate chain and
 *               key, PEM files; both or neither (stub_tls.c).
 *   The other options set per-run faults (below); flags take an optional =true|false, and every
 *   fault option is also accepted with underscores (--delay_ms). SIGTERM/SIGINT: exit 0.
 *
 * API, POST (Responses: also GET, DELETE): /v1/chat/completions, /v1/completions, /v1/embeddings,
 *   the Responses API (below), and the same without
 *   /v1 (OpenAI); /openai/deployments/{deployment}/{op}?api-version=YYYY-MM-DD[-preview] (Azure:
 *   api-version missing: 404 {"error":{"code":"404","message":"Resource not found"}}, any other
 *   form: 400 "API version not supported") and /openai/v1/{op} (Azure v1: api-version optional,
 *   preview, latest or v1). Other paths: 404; another method: 405.
 *   200 answers: chat.completion, text_completion or an embeddings list, with x-stub-name: NAME;
 *   the text is "stub NAME: hello from MODEL", MODEL being the body's "model" (400 when absent),
 *   or the deployment on deployment paths. Azure answers add prompt_filter_results and
 *   content_filter_results. Embeddings: one 8-float vector per input ("dimensions" sets the
 *   length; "encoding_format": "base64" gives little-endian float32 in base64).
 *   "stream": true (chat and completions): text/event-stream, chunked; N content chunks of one
 *   token each (the message's words in turn, so with N = 5 they spell the message), a
 *   finish_reason "stop" chunk, a usage chunk when stream_options.include_usage, then
 *   "data: [DONE]". Azure paths open with a {"choices":[],...,"prompt_filter_results":[...]}
 *   event. Each event is its own write: after chunk_delay_ms, or when the last one drained.
 *   Responses API (stub_responses.c): POST /v1/responses (and /responses, /openai/v1/responses,
 *   Azure's dated /openai/responses?api-version= from 2025-03-01-preview on, older: 400), GET and
 *   DELETE /v1/responses/{id}, POST .../{id}/cancel, GET .../{id}/input_items, POST
 *   /v1/responses/input_tokens. A create needs "model" (on Azure paths a deployment the stub has)
 *   and "input" or "previous_response_id"; a previous_response_id this stub did not create is 400
 *   previous_response_not_found, any other id 404 "Response with id '...' not found." (each stub
 *   knows only its own responses, the last 4096 stored). "store": false is not kept;
 *   "background": true answers "queued", reads back "completed", and may be cancelled (others:
 *   400). "stream": true: named events, "event: NAME\ndata: {...,"sequence_number":N}", from
 *   response.created, in_progress, output_item.added, content_part.added, N output_text.delta
 *   (the message's words), output_text.done, content_part.done, output_item.done to
 *   response.completed; no [DONE]. cut_after, endless, chunk_delay_ms and bad_chunking apply to
 *   it as to chat streams (the deltas are its content events).
 *   Files and Batches APIs (stub_files.c; /v1/files..., /v1/batches..., Azure's
 *   /openai/files...?api-version=YYYY-MM-DD[-preview] and /openai/v1/files...): uploads are
 *   multipart/form-data with exactly a `file` part (with a filename) and a valid `purpose`, a
 *   batch names an uploaded file of purpose batch, "24h" and a batchable endpoint; unknown ids
 *   are 404; faults do not apply. --require-key applies (api-key on Azure paths).
 *   Body not JSON: 400 with OpenAI's "We could not parse the JSON body" error. Malformed HTTP:
 *   400 and close; head over 64 KiB or 100 fields: 431; body over 64 MiB: 413.
 *   --require-entra SECRET: Azure paths need an Entra ID token, as a resource with key access
 *               disabled: "Authorization: Bearer JWT", HS256-signed with SECRET by the test's
 *               token endpoint, unexpired, audience https://cognitiveservices.azure.com, else
 *               401 (Azure's "Unauthorized. Access token is missing, invalid, ..."); any
 *               api-key header: 403 AuthenticationTypeDisabled (stub_entra.c).
 *   --require-key: OpenAI paths need "Authorization: Bearer KEY", Azure paths "api-key: KEY" or
 *   the bearer form, else 401: OpenAI's "Incorrect API key provided: sk-ab***...wxyz." (its
 *   "You didn't provide an API key." when none is sent), Azure's "Access denied due to invalid
 *   subscription key or wrong API endpoint..." (its "...missing subscription key..." when none).
 *
 * Faults. Per run: the options above, or POST /_stub/config {fields} at run time, which
 *   replaces them all ({} or an empty body clears). Per request: the request body's
 *   "x_stub": {fields}, which win over per-run fields one by one. Unknown fields and bad values
 *   answer 400. Fields:
 *   status N            answer N with that provider's real error body (400, 401, 403, 404 =
 *                       model_not_found or Azure DeploymentNotFound, 408, 429, 500, 502, 503,
 *                       504; others get a generic one); 200 means no error
 *   delay_ms N          wait before the response head (or before the reset)
 *   hang                read the request, never answer
 *   headers_then_hang   send the status line and headers, then nothing
 *   reset               close with RST (SO_LINGER 0) instead of answering
 *   chunks N            content chunks of a stream
 *   chunk_delay_ms N    pause between stream events
 *   cut_after N         stream: RST after N content chunks (no finish chunk, no [DONE]);
 *                       otherwise: send the head and N bytes of the body, then RST
 *   retry_after_ms N    add retry-after-ms and x-ms-retry-after-ms headers
 *   retry_after N       add a retry-after header (seconds)
 *   body STR            send STR as the body instead of the generated one (with the status
 *                       given, else 200; never streamed); Content-Type application/json
 *   content_type STR    Content-Type of the answer
 *   count N             per run only: the faults apply to the next N API requests, then the
 *                       stub is healthy again; 0 or absent: to all
 *   body_bytes N        send a body of N filler bytes ('x') with Content-Length N instead of
 *                       the answer (a 2 GB body costs the stub nothing: paced by the peer)
 *   endless             the answer never ends: filler bytes in chunks forever, or for a
 *                       stream, content events forever (no finish chunk, no [DONE]), many
 *                       events per write unless chunk_delay_ms is set
 *   bad_chunking        a chunked answer that breaks after its first chunk (half the body, or
 *                       the first stream event) with a chunk-size line that is not hexadecimal
 *   Order: delay_ms, then reset, hang, or the answer (headers_then_hang, cut_after apply to it).
 *   Answer precedence: status, Azure api-version, key, deployment (in the URL), JSON body,
 *   model, deployment (the v1 body's model), success.
 *
 * Introspection (/_stub/ requests are not recorded, not counted and never faulted):
 *   GET /_stub/requests  the last 200 other requests, oldest first: [{method, path, query,
 *                        headers: {lowercased name: value}, body (first 256 KiB), body_len,
 *                        truncated, conn (connection number), time_ms (Unix epoch ms)}]
 *   GET /_stub/stats     {requests, open_connections, closed_by_peer, connections}: requests
 *                        and connections accepted since start or reset; closed_by_peer counts
 *                        connections whose client left (EOF or error) while a response was in
 *                        progress (delay, hang, stream, unflushed body); the asking connection
 *                        is not counted. With TLS also tls_handshakes (completed, the asking
 *                        connection's included) and tls_resumed (those that resumed a session)
 *   GET|POST /_stub/deployments  the deployment names; POST a JSON array of names to add
 *                        them (reset keeps them: they are the resource, not a fault)
 *   POST /_stub/files    {"bytes": N, "purpose": P[, "filename": F]}: a file of N filler bytes
 *                        ("abc...z" repeated) that costs the stub no memory; its file object
 *   POST /_stub/reset    clears the requests, the counters and the per-run faults
 *   GET|POST /_stub/config  {"faults": {...}, "remaining": N or null}
 */
#include "stub_api.h"
#include "stub_fault.h"
#include "stub_http.h"
#include "stub_tls.h"

#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STUB_MAX_NAME 100

enum {
	OPT_FAULT = 0x100, /* + enum stub_fault_field */
};

struct stub_main {
	const char *listen;
	const char *tls_cert, *tls_key;
	struct stub_api_options api;
	struct stub_fault faults;
};

static void stub_usage(FILE *out)
{
	fprintf(out, "usage: llmgate-stub [--listen HOST:PORT] [--name NAME] [--require-key KEY]\n"
	             "                    [--chunks N] [-v] [--tls-cert FILE --tls-key FILE]\n"
	             "                    [--deployments NAME,...]\n"
	             "                    [fault options]\n"
	             "fault options (also accepted with underscores):\n");
	for (int i = 0; i < STUB_FAULT__COUNT; i++) {
		char name[32];

		if (i == STUB_FAULT_CHUNKS)
			continue;
		snprintf(name, sizeof(name), "%s", stub_fault_name(i));
		for (char *c = name; *c; c++)
			if (*c == '_')
				*c = '-';
		if (stub_fault_type(i) == STUB_FAULT_TYPE_BOOL)
			fprintf(out, "  --%s[=true|false]\n", name);
		else if (stub_fault_type(i) == STUB_FAULT_TYPE_STRING)
			fprintf(out, "  --%s STRING\n", name);
		else
			fprintf(out, "  --%s N (%lld..%lld)\n", name, stub_fault_min(i),
			        stub_fault_max(i));
	}
}

static bool stub_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > STUB_MAX_NAME)
		return false;
	for (const char *c = name; *c; c++)
		if ((unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e)
			return false;
	return true;
}

/* Returns 0, or 2 for a usage error (already reported). */
static int stub_parse_args(int argc, char **argv, struct stub_main *m)
{
	static const struct option base[] = {
	        {"listen", required_argument, NULL, 'l'},
	        {"name", required_argument, NULL, 'n'},
	        {"require-key", required_argument, NULL, 'k'},
	        {"require-entra", required_argument, NULL, 'E'},
	        {"chunks", required_argument, NULL, 'c'},
	        {"verbose", no_argument, NULL, 'v'},
	        {"tls-cert", required_argument, NULL, 'C'},
	        {"tls-key", required_argument, NULL, 'K'},
	        {"deployments", required_argument, NULL, 'D'},
	        {"help", no_argument, NULL, 'h'},
	};
	struct option opts[sizeof(base) / sizeof(base[0]) + 2 * STUB_FAULT__COUNT + 1];
	char dashed[STUB_FAULT__COUNT][32];
	size_t n = sizeof(base) / sizeof(base[0]);
	char err[256], *end;
	int c;

	memset(opts, 0, sizeof(opts));
	memcpy(opts, base, sizeof(base));
	for (int i = 0; i < STUB_FAULT__COUNT; i++) {
		int has_arg = stub_fault_type(i) == STUB_FAULT_TYPE_BOOL ? optional_argument
		                                                         : required_argument;

		if (i == STUB_FAULT_CHUNKS)
			continue;
		snprintf(dashed[i], sizeof(dashed[i]), "%s", stub_fault_name(i));
		for (char *p = dashed[i]; *p; p++)
			if (*p == '_')
				*p = '-';
		opts[n++] = (struct option){dashed[i], has_arg, NULL, OPT_FAULT + i};
		if (strcmp(dashed[i], stub_fault_name(i)) != 0)
			opts[n++] =
			        (struct option){stub_fault_name(i), has_arg, NULL, OPT_FAULT + i};
	}

	while ((c = getopt_long(argc, argv, "l:n:k:c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			m->listen = optarg;
			break;
		case 'n':
			if (!stub_name_ok(optarg)) {
				fprintf(stderr,
				        "llmgate-stub: --name must be 1 to %d printable "
				        "characters without spaces\n",
				        STUB_MAX_NAME);
				return 2;
			}
			m->api.name = optarg;
			break;
		case 'k':
			m->api.require_key = optarg;
			break;
		case 'E':
			m->api.require_entra = optarg;
			break;
		case 'c':
			errno = 0;
			m->api.chunks = (int)strtol(optarg, &end, 10);
			if (errno || *end || !*optarg || m->api.chunks < 0 ||
			    m->api.chunks > stub_fault_max(STUB_FAULT_CHUNKS)) {
				fprintf(stderr, "llmgate-stub: --chunks must be from 0 to %lld\n",
				        stub_fault_max(STUB_FAULT_CHUNKS));
				return 2;
			}
			break;
		case 'v':
			m->api.verbose = true;
			break;
		case 'C':
			m->tls_cert = optarg;
			break;
		case 'K':
			m->tls_key = optarg;
			break;
		case 'D':
			m->api.deployments = optarg;
			break;
		case 'h':
			stub_usage(stdout);
			exit(0);
		default:
			if (c >= OPT_FAULT && c < OPT_FAULT + STUB_FAULT__COUNT) {
				if (stub_fault_parse_option(&m->faults, c - OPT_FAULT, optarg, err,
				                            sizeof(err)) < 0) {
					fprintf(stderr, "llmgate-stub: %s\n", err);
					return 2;
				}
				break;
			}
			stub_usage(stderr);
			return 2;
		}
	}
	if (!m->tls_cert != !m->tls_key) {
		fprintf(stderr, "llmgate-stub: --tls-cert and --tls-key go together\n");
		return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "llmgate-stub: unexpected argument '%s'\n", argv[optind]);
		stub_usage(stderr);
		return 2;
	}
	return 0;
}

static void stub_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopbreak(arg);
}

static int stub_run(struct stub_main *m)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base = NULL;
	struct event *sigterm = NULL, *sigint = NULL;
	struct stub_api *api = NULL;
	struct stub_http *http = NULL;
	struct stub_tls *tls = NULL;
	char addr[128], err[512];
	int r, ret = 1;

	if (cfg) {
		event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
		base = event_base_new_with_config(cfg);
		event_config_free(cfg);
	}
	if (!base) {
		fprintf(stderr, "llmgate-stub: cannot create the event loop\n");
		return 1;
	}
	sigterm = evsignal_new(base, SIGTERM, stub_signal_cb, base);
	sigint = evsignal_new(base, SIGINT, stub_signal_cb, base);
	if (!sigterm || !sigint || evsignal_add(sigterm, NULL) < 0 ||
	    evsignal_add(sigint, NULL) < 0) {
		fprintf(stderr, "llmgate-stub: cannot watch signals\n");
		goto out;
	}
	r = stub_api_new(base, &m->api, &api);
	if (r < 0) {
		fprintf(stderr, "llmgate-stub: %s\n", strerror(-r));
		goto out;
	}
	r = stub_http_new(base, m->listen, stub_api_handlers(), api, &http);
	if (r < 0) {
		fprintf(stderr, "llmgate-stub: cannot listen on '%s': %s\n", m->listen,
		        strerror(-r));
		goto out;
	}
	if (m->tls_cert) {
		if (stub_tls_new(m->tls_cert, m->tls_key, &tls, err, sizeof(err)) < 0) {
			fprintf(stderr, "llmgate-stub: %s\n", err);
			goto out;
		}
		stub_http_set_bufferevent_fn(http, stub_tls_bufferevent, tls);
		stub_api_set_tls(api, tls);
	}
	stub_api_attach(api, http);
	if (stub_http_address(http, addr, sizeof(addr)) < 0) {
		fprintf(stderr, "llmgate-stub: cannot read the bound address\n");
		goto out;
	}
	printf("listening on %s\n", addr);
	fflush(stdout);
	if (m->api.verbose)
		fprintf(stderr, "stub[%s]: listening on %s\n", m->api.name, addr);
	if (event_base_dispatch(base) < 0) {
		fprintf(stderr, "llmgate-stub: event loop failed\n");
		goto out;
	}
	ret = 0;
out:
	stub_http_free(http);
	stub_tls_free(tls);
	stub_api_free(api);
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	event_base_free(base);
	return ret;
}

int main(int argc, char **argv)
{
	struct stub_main m = {
	        .listen = "127.0.0.1:0",
	        .api = {.name = "stub", .chunks = 5},
	};
	struct sigaction sa = {.sa_handler = SIG_IGN};
	int r;

	/* A peer that vanished must fail a write with EPIPE, not kill the stub. */
	sigaction(SIGPIPE, &sa, NULL);
	r = stub_parse_args(argc, argv, &m);
	if (r == 0) {
		m.api.faults = &m.faults;
		r = stub_run(&m);
	}
	stub_fault_clear(&m.faults);
	libevent_global_shutdown();
	return r;
}
