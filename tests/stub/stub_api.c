/*
 * stub_api: the stub's answers. Routes OpenAI paths (/v1/{op}, /{op}) and Azure paths
 * (/openai/deployments/{name}/{op}?api-version=..., /openai/v1/{op}), applies faults, and serves
 * the /_stub/ endpoints that tests use to configure and inspect the stub.
 *
 * One exchange per API request: decided at once (status, head, body or stream), then delivered
 * after delay_ms, misdelivered as the faults ask, or streamed one event per write. Precedence of
 * the answer: injected status, then Azure api-version checks, then authentication, then the JSON
 * body, then success. Per-run faults are copied into each exchange, with the request's x_stub
 * fields on top; /_stub/ requests are neither recorded, counted nor subject to faults.
 */
#include "stub_api.h"

#include "stub_body.h"
#include "stub_deploy.h"
#include "stub_entra.h"
#include "stub_fault.h"
#include "stub_files.h"
#include "stub_http.h"
#include "stub_media.h"
#include "stub_record.h"
#include "stub_responses.h"
#include "stub_tls.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define API_RECORDS         200
#define API_MAX_DEPLOYMENT  256
#define API_MAX_INPUTS      2048
#define API_MAX_DIMENSIONS  4096
#define API_DEFAULT_VECTORS 8
#define API_FILL_PIECE      65536 /* filler bytes per write */

enum api_flavor {
	API_OPENAI,          /* /v1/{op} or /{op} */
	API_AZURE,           /* /openai/deployments/{name}/{op}?api-version=YYYY-MM-DD[-preview] */
	API_AZURE_V1,        /* /openai/v1/{op} */
	API_AZURE_RESPONSES, /* /openai/responses...?api-version=YYYY-MM-DD[-preview] */
};

enum api_phase {
	PHASE_DELAY,  /* waiting out delay_ms */
	PHASE_STREAM, /* sending events */
	PHASE_FILL,   /* sending filler body bytes (body_bytes, endless) */
	PHASE_HANG,   /* never answering (more) */
};

struct stub_api {
	struct event_base *base;
	struct stub_http *http;
	struct stub_tls *tls; /* NULL: plain HTTP */
	struct stub_record *records;
	char *name;
	char *require_key;
	char *require_entra;
	int chunks;
	bool verbose;
	struct stub_fault run; /* per-run faults */
	struct stub_deploy deployments;
	struct stub_responses *responses;
	struct stub_files *files; /* /files, /batches (stub_files.c) */
	long long run_left;       /* requests the per-run faults still apply to; 0: all */
	unsigned long long requests;
	unsigned long long seq;
};

struct api_route {
	enum api_flavor flavor;
	enum stub_body_op op;
	enum stub_responses_op rop; /* a Responses API route, or NONE */
	bool method_ok;             /* its method is the route's */
	enum stub_media_op media;   /* an images, audio or moderations route, or NONE */
	char deployment[API_MAX_DEPLOYMENT];
	char response_id[STUB_RESPONSE_ID_MAX + 1];
};

struct api_exchange {
	struct stub_api *api;
	struct stub_http_conn *conn;
	struct event *timer;
	struct stub_fault fault;
	enum api_phase phase;
	int status;
	bool stream;
	const char *content_type;
	char extra[512];      /* extra response header lines */
	struct evbuffer *buf; /* the body, or the next stream event */
	char *model;
	char *message;
	char id[48];
	struct stub_body_info info;
	struct stub_body_stream st;
	bool responses_stream; /* a Responses stream: rs, not st */
	struct stub_responses_stream rs;
	long long fill_left; /* filler bytes still to send; -1: endless */
};

static const char api_json[] = "application/json";
static const char api_bad_json[] =
        "We could not parse the JSON body of your request. (HINT: This likely means you "
        "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but "
        "what was sent was not valid JSON. If you have trouble figuring out how to fix this, "
        "please contact us through our help center at help.openai.com.)";

static void api_exchange_free(struct api_exchange *ex)
{
	if (!ex)
		return;
	if (ex->timer)
		event_free(ex->timer);
	if (ex->buf)
		evbuffer_free(ex->buf);
	stub_fault_clear(&ex->fault);
	stub_responses_stream_clear(&ex->rs);
	free(ex->model);
	free(ex->message);
	free(ex);
}

static void api_respond_buffer(struct stub_api *api, struct stub_http_conn *conn, int status,
                               struct evbuffer *buf)
{
	char extra[160];

	snprintf(extra, sizeof(extra), "x-stub-name: %s\r\n", api->name);
	stub_http_head(conn, status, api_json, (long long)evbuffer_get_length(buf), extra);
	stub_http_write_buffer(conn, buf);
	stub_http_end(conn);
}

/* Answers with a JSON value and releases it; NULL (out of memory) answers 500. */
static void api_respond_json(struct stub_api *api, struct stub_http_conn *conn, int status,
                             json_t *value)
{
	char *text = value ? json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	char extra[160];

	json_decref(value);
	if (!text) {
		stub_http_respond(conn, 500, api_json, NULL, "{}", 2);
		return;
	}
	snprintf(extra, sizeof(extra), "x-stub-name: %s\r\n", api->name);
	stub_http_respond(conn, status, api_json, extra, text, strlen(text));
	free(text);
}

static void api_respond_openai_error(struct stub_api *api, struct stub_http_conn *conn, int status,
                                     const char *message)
{
	struct evbuffer *buf = evbuffer_new();

	if (!buf) {
		stub_http_respond(conn, 500, api_json, NULL, "{}", 2);
		return;
	}
	stub_body_openai_error(buf, message, "invalid_request_error", NULL);
	api_respond_buffer(api, conn, status, buf);
	evbuffer_free(buf);
}

static bool api_route(const char *path, const char *method, struct api_route *r)
{
	const char *rest;

	r->rop = STUB_RESPONSES_NONE;
	r->media = STUB_MEDIA_NONE;
	r->method_ok = strcmp(method, "POST") == 0;
	if (strncmp(path, "/openai/responses", 17) == 0 && (!path[17] || path[17] == '/')) {
		r->flavor = API_AZURE_RESPONSES;
		r->deployment[0] = '\0';
		r->rop = stub_responses_route(path + 8, method, r->response_id, &r->method_ok);
		return r->rop != STUB_RESPONSES_NONE;
	}
	if (strncmp(path, "/openai/deployments/", 20) == 0) {
		const char *name = path + 20, *slash = strchr(name, '/');

		if (!slash || slash == name || (size_t)(slash - name) >= sizeof(r->deployment))
			return false;
		memcpy(r->deployment, name, (size_t)(slash - name));
		r->deployment[slash - name] = '\0';
		r->flavor = API_AZURE;
		rest = slash + 1;
	} else if (strncmp(path, "/openai/v1/", 11) == 0) {
		r->flavor = API_AZURE_V1;
		rest = path + 11;
	} else {
		r->flavor = API_OPENAI;
		rest = strncmp(path, "/v1/", 4) == 0 ? path + 4 : path + 1;
	}
	if (r->flavor != API_AZURE) {
		bool ok;

		r->rop = stub_responses_route(rest, method, r->response_id, &ok);
		if (r->rop != STUB_RESPONSES_NONE) {
			r->method_ok = ok;
			return true;
		}
	}
	for (int op = 0; op < STUB_BODY__COUNT; op++) {
		if (strcmp(rest, stub_body_op_name(op)) == 0) {
			r->op = op;
			return true;
		}
	}
	r->media = stub_media_op(rest);
	return r->media != STUB_MEDIA_NONE;
}

static bool api_has_deployment(void *ctx, const char *name)
{
	const struct stub_api *api = ctx;

	return stub_deploy_has(&api->deployments, name);
}

/* Finds key=value in a query string; value is copied undecoded. */
static bool api_query_param(const char *query, const char *key, char *buf, size_t size)
{
	size_t klen = strlen(key);

	for (const char *p = query; *p;) {
		size_t len = strcspn(p, "&");

		if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
			len -= klen + 1;
			snprintf(buf, size, "%.*s", (int)len, p + klen + 1);
			return true;
		}
		if (len == klen && strncmp(p, key, klen) == 0) {
			buf[0] = '\0';
			return true;
		}
		p += len;
		if (*p == '&')
			p++;
	}
	return false;
}

static bool api_version_ok(enum api_flavor flavor, const char *v)
{
	static const char date[] = "0000-00-00";

	/* Azure's dated API has the Responses API from 2025-03-01-preview on */
	if (flavor == API_AZURE_RESPONSES && strncmp(v, "2025-03-01", 10) < 0)
		return false;

	if (flavor == API_AZURE_V1)
		return !strcmp(v, "preview") || !strcmp(v, "latest") || !strcmp(v, "v1");
	for (size_t i = 0; i < sizeof(date) - 1; i++) {
		if (date[i] == '0' ? (v[i] < '0' || v[i] > '9') : v[i] != '-')
			return false;
	}
	return v[10] == '\0' || strcmp(v + 10, "-preview") == 0;
}

/* The key the client presented (NULL when none) and whether it is the required one. */
static bool api_authorized(const struct stub_api *api, const struct stub_http_request *req,
                           bool azure, const char **ret_key)
{
	const char *auth = stub_http_header(req, "authorization");
	const char *key = NULL;

	if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
		key = auth + 7;
		while (*key == ' ')
			key++;
	}
	if (azure && stub_http_header(req, "api-key"))
		key = stub_http_header(req, "api-key");
	*ret_key = key;
	return !api->require_key || (key && strcmp(key, api->require_key) == 0);
}

static int api_take_faults(struct stub_api *api, const json_t *root, struct stub_fault *eff,
                           char *err, size_t errlen)
{
	struct stub_fault req = {0};
	const json_t *x = json_object_get(root, "x_stub");
	char why[200];
	int r = 0;

	if (x && stub_fault_parse_json(&req, x, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "x_stub: %s", why);
		stub_fault_clear(&req);
		return -EINVAL;
	}
	if (api->run.set) {
		r = stub_fault_merge(eff, &api->run);
		if (api->run_left > 0 && --api->run_left == 0)
			stub_fault_clear(&api->run);
	}
	if (r == 0)
		r = stub_fault_merge(eff, &req);
	stub_fault_clear(&req);
	if (r < 0)
		snprintf(err, errlen, "out of memory");
	return r;
}

static int api_embedding_inputs(const json_t *root)
{
	const json_t *input = json_object_get(root, "input");
	size_t n = json_array_size(input);

	/* An array of token ids is one input; an array of strings or of id arrays is several. */
	if (n == 0 || json_is_integer(json_array_get(input, 0)))
		return 1;
	return n > API_MAX_INPUTS ? API_MAX_INPUTS : (int)n;
}

/* A Responses API answer: its status and body, or the parameters of its stream. */
static int api_prepare_responses(struct api_exchange *ex, const struct api_route *route,
                                 const json_t *root, const char *model)
{
	struct stub_api *api = ex->api;
	bool stream = false;
	int chunks = (int)stub_fault_num(&ex->fault, STUB_FAULT_CHUNKS, api->chunks);

	if (stub_fault_flag(&ex->fault, STUB_FAULT_ENDLESS))
		chunks = INT_MAX; /* never reaches its output_text.done */
	if (model && asprintf(&ex->message, "stub %s: hello from %s", api->name, model) < 0) {
		ex->message = NULL;
		return -ENOMEM;
	}
	ex->status = stub_responses_answer(api->responses, route->rop, route->response_id, root,
	                                   model, ex->message ? ex->message : "", chunks, ex->buf,
	                                   &stream, &ex->rs);
	if (ex->status == 500)
		return -ENOMEM;
	if (stream) {
		ex->stream = true;
		ex->responses_stream = true;
		ex->content_type = "text/event-stream; charset=utf-8";
	}
	return 0;
}

/* A Responses API route on a stored response: no body, no model. */
static int api_prepare_by_id(struct api_exchange *ex, const struct api_route *route)
{
	ex->status = 200;
	return api_prepare_responses(ex, route, NULL, NULL);
}

/* stream_options without "stream": true, or not an object with a boolean
 * include_usage: refused, as OpenAI does. */
static bool api_stream_options_misused(const json_t *root)
{
	const json_t *opts = json_object_get(root, "stream_options");
	const json_t *iu = json_object_get(opts, "include_usage");

	if (!opts || json_is_null(opts))
		return false;
	return !json_is_true(json_object_get(root, "stream")) || !json_is_object(opts) ||
	       (iu && !json_is_boolean(iu));
}

/* The 200 answer: a body, or the parameters of a stream. */
static int api_prepare_success(struct api_exchange *ex, const struct api_route *route,
                               const json_t *root, const char *model, size_t body_len)
{
	struct stub_api *api = ex->api;
	struct stub_body_info *in = &ex->info;
	const json_t *dims = json_object_get(root, "dimensions");
	const json_t *opts = json_object_get(root, "stream_options");

	ex->model = strdup(model);
	if (!ex->model)
		return -ENOMEM;
	if (route->rop != STUB_RESPONSES_NONE)
		return api_prepare_responses(ex, route, root, model);
	in->op = route->op;
	in->azure = route->flavor != API_OPENAI;
	in->created = (long long)time(NULL);
	in->model = ex->model;
	in->prompt_tokens =
	        (int)stub_fault_num(&ex->fault, STUB_FAULT_PROMPT_TOKENS,
	                            body_len / 4 > 1000000 ? 1000000 : 1 + (int)(body_len / 4));
	in->cached_tokens = (int)stub_fault_num(&ex->fault, STUB_FAULT_CACHED_TOKENS, 0);
	if (in->cached_tokens > in->prompt_tokens)
		in->cached_tokens = in->prompt_tokens;
	in->reasoning_tokens = (int)stub_fault_num(&ex->fault, STUB_FAULT_REASONING_TOKENS, 0);
	in->id = ex->id;
	snprintf(ex->id, sizeof(ex->id), "%sstub%012llx",
	         route->op == STUB_BODY_CHAT ? "chatcmpl-" : "cmpl-", ++api->seq);
	if (route->op == STUB_BODY_EMBEDDINGS) {
		in->message = "";
		in->inputs = api_embedding_inputs(root);
		in->dimensions = json_is_integer(dims) && json_integer_value(dims) > 0 &&
		                                 json_integer_value(dims) <= API_MAX_DIMENSIONS
		                         ? (int)json_integer_value(dims)
		                         : API_DEFAULT_VECTORS;
		in->base64 = json_is_string(json_object_get(root, "encoding_format")) &&
		             strcmp(json_string_value(json_object_get(root, "encoding_format")),
		                    "base64") == 0;
		stub_body_reply(ex->buf, in);
		return 0;
	}
	if (asprintf(&ex->message, "stub %s: hello from %s", api->name, model) < 0) {
		ex->message = NULL;
		return -ENOMEM;
	}
	in->message = ex->message;
	ex->stream = json_is_true(json_object_get(root, "stream"));
	if (!ex->stream) {
		stub_body_reply(ex->buf, in);
		return 0;
	}
	ex->content_type = "text/event-stream; charset=utf-8";
	ex->st.info = in;
	ex->st.chunks = (int)stub_fault_num(&ex->fault, STUB_FAULT_CHUNKS, api->chunks);
	if (stub_fault_flag(&ex->fault, STUB_FAULT_ENDLESS))
		ex->st.chunks = INT_MAX; /* never reaches its finish chunk */
	ex->st.include_usage = json_is_true(json_object_get(opts, "include_usage"));
	return 0;
}

static void api_decide(struct api_exchange *ex, const struct stub_http_request *req,
                       const struct api_route *route, const json_t *root)
{
	struct stub_api *api = ex->api;
	const struct stub_fault *f = &ex->fault;
	bool azure = route->flavor != API_OPENAI;
	bool by_id = route->rop >= STUB_RESPONSES_GET;
	bool dated = route->flavor == API_AZURE || route->flavor == API_AZURE_RESPONSES;
	bool body_names = route->flavor == API_AZURE_V1 || route->flavor == API_AZURE_RESPONSES;
	const char *model = route->flavor == API_AZURE
	                            ? route->deployment
	                            : json_string_value(json_object_get(root, "model"));
	long long status = stub_fault_num(f, STUB_FAULT_STATUS, 200);
	const char *key, *s;
	enum stub_entra_verdict verdict;
	char version[64];
	bool has_version = api_query_param(req->query, "api-version", version, sizeof(version));
	size_t n, len;

	ex->status = 200;
	ex->content_type = api_json;
	if (status != 200) {
		ex->status = (int)status;
		stub_body_status_error(ex->buf, ex->status, azure, model);
	} else if (dated && (!has_version || !*version)) {
		ex->status = 404;
		stub_body_azure_error(ex->buf, "404", "Resource not found");
	} else if (azure && has_version && !api_version_ok(route->flavor, version)) {
		ex->status = 400;
		stub_body_azure_error(ex->buf, "BadRequest", "API version not supported");
	} else if (azure && api->require_entra &&
	           (verdict = stub_entra_check(api->require_entra,
	                                       stub_http_header(req, "authorization"),
	                                       stub_http_header(req, "api-key"),
	                                       (long long)time(NULL))) != STUB_ENTRA_OK) {
		ex->status = verdict == STUB_ENTRA_KEY_DISABLED ? 403 : 401;
		if (verdict == STUB_ENTRA_KEY_DISABLED)
			stub_body_azure_error(
			        ex->buf, "AuthenticationTypeDisabled",
			        "Key based authentication is disabled for this resource.");
		else
			stub_body_azure_error(
			        ex->buf, "401",
			        "Unauthorized. Access token is missing, invalid, audience "
			        "is incorrect (https://cognitiveservices.azure.com), or "
			        "have expired.");
	} else if (!api_authorized(api, req, azure, &key)) {
		ex->status = 401;
		stub_body_auth_error(ex->buf, azure, key);
	} else if (route->flavor == API_AZURE && !stub_deploy_has(&api->deployments, model)) {
		ex->status = 404;
		stub_body_status_error(ex->buf, 404, true, model);
	} else if (route->media != STUB_MEDIA_NONE) {
		struct stub_media_in in = {
		        .op = route->media,
		        .name = api->name,
		        .azure = azure,
		        .deployment = route->flavor == API_AZURE ? route->deployment : NULL,
		        .has_deployment = api_has_deployment,
		        .ctx = api,
		};
		struct stub_media_out res;

		stub_media_answer(&in, req, ex->buf, &res);
		ex->status = res.status;
		ex->content_type = res.content_type;
	} else if (by_id) {
		if (api_prepare_by_id(ex, route) < 0) {
			ex->status = 500;
			evbuffer_drain(ex->buf, evbuffer_get_length(ex->buf));
			stub_body_status_error(ex->buf, 500, azure, NULL);
		}
	} else if (!json_is_object(root)) {
		ex->status = 400;
		stub_body_openai_error(ex->buf, api_bad_json, "invalid_request_error", NULL);
	} else if (!model || !*model) {
		ex->status = 400;
		stub_body_openai_error(ex->buf, "you must provide a model parameter",
		                       "invalid_request_error", NULL);
	} else if (body_names && !stub_deploy_has(&api->deployments, model)) {
		ex->status = 404;
		stub_body_status_error(ex->buf, 404, true, model);
	} else if (route->rop == STUB_RESPONSES_NONE && api_stream_options_misused(root)) {
		/* OpenAI's and Azure's own refusal */
		ex->status = 400;
		stub_body_openai_error(
		        ex->buf,
		        "The 'stream_options' parameter is only allowed when 'stream' "
		        "is enabled.",
		        "invalid_request_error", NULL);
	} else if (api_prepare_success(ex, route, root, model, req->body_len) < 0) {
		ex->status = 500;
		ex->stream = false;
		evbuffer_drain(ex->buf, evbuffer_get_length(ex->buf));
		stub_body_status_error(ex->buf, 500, azure, model);
	}

	if ((s = stub_fault_str(f, STUB_FAULT_BODY, &len))) {
		evbuffer_drain(ex->buf, evbuffer_get_length(ex->buf));
		evbuffer_add(ex->buf, s, len);
		ex->stream = false;
		ex->content_type = api_json;
	}
	if ((s = stub_fault_str(f, STUB_FAULT_CONTENT_TYPE, NULL)))
		ex->content_type = s;

	n = (size_t)snprintf(ex->extra, sizeof(ex->extra), "x-stub-name: %s\r\n", api->name);
	if (stub_fault_has(f, STUB_FAULT_RETRY_AFTER_MS))
		n += (size_t)snprintf(ex->extra + n, sizeof(ex->extra) - n,
		                      "retry-after-ms: %lld\r\nx-ms-retry-after-ms: %lld\r\n",
		                      f->num[STUB_FAULT_RETRY_AFTER_MS],
		                      f->num[STUB_FAULT_RETRY_AFTER_MS]);
	if (stub_fault_has(f, STUB_FAULT_RETRY_AFTER))
		n += (size_t)snprintf(ex->extra + n, sizeof(ex->extra) - n, "retry-after: %lld\r\n",
		                      f->num[STUB_FAULT_RETRY_AFTER]);
	if (ex->stream)
		snprintf(ex->extra + n, sizeof(ex->extra) - n, "Cache-Control: no-cache\r\n");
}

static void api_timer_cb(evutil_socket_t fd, short what, void *arg);

static int api_timer(struct api_exchange *ex, long long ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	if (!ex->timer)
		ex->timer = evtimer_new(ex->api->base, api_timer_cb, ex);
	if (!ex->timer)
		return -ENOMEM;
	return evtimer_add(ex->timer, &tv) < 0 ? -ENOMEM : 0;
}

static int api_stream_next(struct api_exchange *ex)
{
	return ex->responses_stream ? stub_responses_stream_next(&ex->rs, ex->buf)
	                            : stub_body_stream_next(&ex->st, ex->buf);
}

static void api_stream_step(struct api_exchange *ex)
{
	long long cut = stub_fault_num(&ex->fault, STUB_FAULT_CUT_AFTER, -1);
	long long delay = stub_fault_num(&ex->fault, STUB_FAULT_CHUNK_DELAY_MS, 0);
	int more;

	if (cut >= 0 && (ex->responses_stream ? stub_responses_stream_in_content(&ex->rs) &&
	                                                stub_responses_stream_sent(&ex->rs) >= cut
	                                      : stub_body_stream_in_content(&ex->st) &&
	                                                stub_body_stream_sent(&ex->st) >= cut)) {
		stub_http_abort(ex->conn, true);
		api_exchange_free(ex);
		return;
	}
	more = api_stream_next(ex);
	/* endless: many events per write, so that gigabytes flow in seconds */
	while (more && (ex->responses_stream ? ex->rs.chunks : ex->st.chunks) == INT_MAX &&
	       delay == 0 && evbuffer_get_length(ex->buf) < API_FILL_PIECE)
		more = api_stream_next(ex);
	stub_http_write_buffer(ex->conn, ex->buf);
	if (!more) {
		stub_http_end(ex->conn);
		api_exchange_free(ex);
		return;
	}
	/* With no delay the next event goes out when this one has drained (api_on_drained). */
	if (delay > 0 && api_timer(ex, delay) < 0) {
		stub_http_abort(ex->conn, true);
		api_exchange_free(ex);
	}
}

/* One piece of a filler body; the next goes out when it has drained (api_on_drained). */
static void api_fill_step(struct api_exchange *ex)
{
	static char piece[API_FILL_PIECE];
	size_t n = sizeof(piece);

	if (piece[0] == '\0')
		memset(piece, 'x', sizeof(piece));
	if (ex->fill_left >= 0 && (long long)n > ex->fill_left)
		n = (size_t)ex->fill_left;
	stub_http_write(ex->conn, piece, n);
	if (ex->fill_left >= 0 && (ex->fill_left -= (long long)n) == 0) {
		stub_http_end(ex->conn);
		api_exchange_free(ex);
	}
}

/* A chunked answer whose framing breaks after its first chunk: a chunk-size line that is
 * not hexadecimal. */
static void api_bad_chunking(struct api_exchange *ex)
{
	static const char bad[] = "zz\r\n{\"not\": \"a chunk\"}\r\n";
	size_t len = evbuffer_get_length(ex->buf);

	if (ex->stream) {
		evbuffer_drain(ex->buf, len);
		api_stream_next(ex);
		stub_http_write_buffer(ex->conn, ex->buf);
	} else {
		stub_http_write(ex->conn, evbuffer_pullup(ex->buf, -1), len / 2);
	}
	stub_http_write_raw(ex->conn, bad, sizeof(bad) - 1);
	stub_http_end(ex->conn);
	api_exchange_free(ex);
}

static void api_deliver(struct api_exchange *ex)
{
	const struct stub_fault *f = &ex->fault;
	long long cut = stub_fault_num(f, STUB_FAULT_CUT_AFTER, -1);
	size_t len = evbuffer_get_length(ex->buf);
	bool endless = stub_fault_flag(f, STUB_FAULT_ENDLESS);
	bool bad_chunking = stub_fault_flag(f, STUB_FAULT_BAD_CHUNKING);
	long long length = ex->stream || bad_chunking ? -1 : (long long)len;

	if (!ex->stream && endless)
		length = ex->fill_left = -1;
	else if (!ex->stream && stub_fault_has(f, STUB_FAULT_BODY_BYTES))
		length = ex->fill_left = f->num[STUB_FAULT_BODY_BYTES];
	if (stub_fault_flag(f, STUB_FAULT_RESET)) {
		stub_http_abort(ex->conn, false);
		api_exchange_free(ex);
		return;
	}
	if (stub_fault_flag(f, STUB_FAULT_HANG)) {
		ex->phase = PHASE_HANG;
		return;
	}
	stub_http_head(ex->conn, ex->status, ex->content_type, length, ex->extra);
	if (stub_fault_flag(f, STUB_FAULT_HEADERS_THEN_HANG)) {
		ex->phase = PHASE_HANG;
		return;
	}
	if (bad_chunking) {
		api_bad_chunking(ex);
		return;
	}
	if (!ex->stream && (endless || stub_fault_has(f, STUB_FAULT_BODY_BYTES))) {
		ex->phase = PHASE_FILL;
		api_fill_step(ex);
		return;
	}
	if (ex->stream) {
		ex->phase = PHASE_STREAM;
		api_stream_step(ex);
		return;
	}
	if (cut >= 0) {
		/* A body cut short: the head promised len bytes, the connection dies sooner. */
		stub_http_write(ex->conn, evbuffer_pullup(ex->buf, -1),
		                (size_t)cut < len ? (size_t)cut : len);
		stub_http_abort(ex->conn, true);
		api_exchange_free(ex);
		return;
	}
	stub_http_write_buffer(ex->conn, ex->buf);
	stub_http_end(ex->conn);
	api_exchange_free(ex);
}

static void api_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_exchange *ex = arg;

	(void)fd;
	(void)what;
	if (ex->phase == PHASE_DELAY)
		api_deliver(ex);
	else if (ex->phase == PHASE_STREAM)
		api_stream_step(ex);
}

static void api_log(const struct stub_api *api, const struct stub_http_request *req,
                    const struct api_exchange *ex)
{
	json_t *faults = ex->fault.set ? stub_fault_to_json(&ex->fault) : NULL;
	char *text = faults ? json_dumps(faults, JSON_COMPACT) : NULL;

	fprintf(stderr, "stub[%s]: '%s %s' conn %llu -> %d%s%s%s\n", api->name, req->method,
	        req->path, req->conn_id, ex->status, ex->stream ? " stream" : "",
	        text ? " faults " : "", text ? text : "");
	free(text);
	json_decref(faults);
}

/* /_stub/stats: the asking connection is counted neither as open nor as accepted. */
static json_t *api_stats(struct stub_api *api, const struct stub_http_request *req)
{
	const struct stub_http_stats *st = stub_http_stats(api->http);
	json_t *j = json_pack("{s:I, s:I, s:I, s:I}", "requests", (json_int_t)api->requests,
	                      "open_connections", (json_int_t)(st->open - 1), "closed_by_peer",
	                      (json_int_t)st->closed_by_peer, "connections",
	                      (json_int_t)(st->connections - (req->conn_id > st->since_id)));

	if (j && api->tls) {
		const struct stub_tls_stats *ts = stub_tls_stats(api->tls);

		json_object_set_new(j, "tls_handshakes", json_integer((json_int_t)ts->handshakes));
		json_object_set_new(j, "tls_resumed", json_integer((json_int_t)ts->resumed));
	}
	return j;
}

static json_t *api_deployments_json(const struct stub_api *api)
{
	json_t *list = json_array();

	for (size_t i = 0; list && i < api->deployments.n; i++)
		json_array_append_new(list, json_string(api->deployments.names[i]));
	return list;
}

/* POST /_stub/deployments: a JSON array of names, added to the resource's deployments. */
static int api_add_deployments(struct stub_api *api, const struct stub_http_request *req, char *err,
                               size_t errlen)
{
	json_t *root = json_loadb(req->body, req->body_len, 0, NULL), *name;
	size_t i;
	int r = 0;

	if (!json_is_array(root)) {
		snprintf(err, errlen, "the body must be a JSON array of deployment names");
		json_decref(root);
		return -EINVAL;
	}
	json_array_foreach(root, i, name)
	{
		r = json_is_string(name)
		            ? stub_deploy_add(&api->deployments, json_string_value(name),
		                              json_string_length(name))
		            : -EINVAL;
		if (r < 0) {
			snprintf(err, errlen, "deployment %zu: %s", i, strerror(-r));
			break;
		}
	}
	json_decref(root);
	return r;
}

static void api_control(struct stub_api *api, struct stub_http_conn *conn,
                        const struct stub_http_request *req)
{
	const char *what = req->path + strlen("/_stub/");
	bool get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
	char err[256];

	if (get && strcmp(what, "requests") == 0) {
		api_respond_json(api, conn, 200, stub_record_to_json(api->records));
	} else if (get && strcmp(what, "stats") == 0) {
		api_respond_json(api, conn, 200, api_stats(api, req));
	} else if (post && strcmp(what, "reset") == 0) {
		stub_record_clear(api->records);
		stub_fault_clear(&api->run);
		api->run_left = 0;
		api->requests = 0;
		stub_http_stats_reset(api->http);
		if (api->tls)
			*stub_tls_stats(api->tls) = (struct stub_tls_stats){0};
		api_respond_json(api, conn, 200, json_pack("{s:b}", "ok", 1));
	} else if (post && strcmp(what, "files") == 0) {
		stub_files_synthetic(api->files, conn, req);
	} else if ((get || post) && strcmp(what, "deployments") == 0) {
		if (post && api_add_deployments(api, req, err, sizeof(err)) < 0) {
			api_respond_openai_error(api, conn, 400, err);
			return;
		}
		api_respond_json(api, conn, 200, api_deployments_json(api));
	} else if ((get || post) && strcmp(what, "config") == 0) {
		if (post) {
			struct stub_fault f = {0};
			json_t *root = req->body_len ? json_loadb(req->body, req->body_len,
			                                          JSON_ALLOW_NUL, NULL)
			                             : json_object();

			if (!root) {
				api_respond_openai_error(api, conn, 400, "body is not valid JSON");
				return;
			}
			if (stub_fault_parse_json(&f, root, err, sizeof(err)) < 0) {
				json_decref(root);
				stub_fault_clear(&f);
				api_respond_openai_error(api, conn, 400, err);
				return;
			}
			json_decref(root);
			stub_fault_clear(&api->run);
			api->run = f;
			api->run_left = stub_fault_num(&f, STUB_FAULT_COUNT, 0);
		}
		api_respond_json(
		        api, conn, 200,
		        json_pack("{s:o, s:o}", "faults", stub_fault_to_json(&api->run),
		                  "remaining",
		                  api->run_left > 0 ? json_integer(api->run_left) : json_null()));
	} else {
		snprintf(err, sizeof(err), "no stub endpoint '%.64s %.128s'", req->method,
		         req->path);
		api_respond_openai_error(api, conn, 404, err);
	}
}

static void api_not_found(struct stub_api *api, struct stub_http_conn *conn,
                          const struct stub_http_request *req)
{
	struct evbuffer *buf = evbuffer_new();
	char message[300];

	if (!buf) {
		stub_http_respond(conn, 500, api_json, NULL, "{}", 2);
		return;
	}
	if (strncmp(req->path, "/openai/", 8) == 0) {
		stub_body_azure_error(buf, "404", "Resource not found");
	} else {
		snprintf(message, sizeof(message), "Invalid URL (%.16s %.256s)", req->method,
		         req->path);
		stub_body_openai_error(buf, message, "invalid_request_error", NULL);
	}
	api_respond_buffer(api, conn, 404, buf);
	evbuffer_free(buf);
}

static void api_on_request(struct stub_http_conn *conn, const struct stub_http_request *req,
                           void *arg)
{
	struct stub_api *api = arg;
	struct api_route route;
	struct api_exchange *ex;
	json_t *root = NULL;
	char err[256];
	long long delay;

	if (strncmp(req->path, "/_stub/", 7) == 0) {
		api_control(api, conn, req);
		return;
	}
	api->requests++;
	stub_record_add(api->records, req);
	if (stub_files_handle(api->files, conn, req))
		return;
	if (!api_route(req->path, req->method, &route)) {
		api_not_found(api, conn, req);
		return;
	}
	if (!route.method_ok) {
		snprintf(err, sizeof(err), "Invalid method for URL (%.16s %.200s)", req->method,
		         req->path);
		api_respond_openai_error(api, conn, 405, err);
		return;
	}
	ex = calloc(1, sizeof(*ex));
	if (!ex || !(ex->buf = evbuffer_new())) {
		free(ex);
		stub_http_respond(conn, 500, api_json, NULL, "{}", 2);
		return;
	}
	ex->api = api;
	ex->conn = conn;
	if (req->body_len)
		root = json_loadb(req->body, req->body_len, JSON_ALLOW_NUL, NULL);
	if (api_take_faults(api, root, &ex->fault, err, sizeof(err)) < 0) {
		json_decref(root);
		api_exchange_free(ex);
		api_respond_openai_error(api, conn, 400, err);
		return;
	}
	api_decide(ex, req, &route, root);
	json_decref(root);
	if (api->verbose)
		api_log(api, req, ex);
	stub_http_set_ctx(conn, ex);
	delay = stub_fault_num(&ex->fault, STUB_FAULT_DELAY_MS, 0);
	if (delay > 0) {
		ex->phase = PHASE_DELAY;
		if (api_timer(ex, delay) == 0)
			return;
	}
	api_deliver(ex);
}

static void api_on_drained(struct stub_http_conn *conn, void *ctx)
{
	struct api_exchange *ex = ctx;

	(void)conn;
	if (ex && ex->phase == PHASE_STREAM &&
	    stub_fault_num(&ex->fault, STUB_FAULT_CHUNK_DELAY_MS, 0) == 0)
		api_stream_step(ex);
	else if (ex && ex->phase == PHASE_FILL)
		api_fill_step(ex);
}

static void api_on_closed(struct stub_http_conn *conn, void *ctx)
{
	(void)conn;
	api_exchange_free(ctx);
}

static const struct stub_http_handlers api_handlers = {
        .request = api_on_request,
        .drained = api_on_drained,
        .closed = api_on_closed,
};

const struct stub_http_handlers *stub_api_handlers(void)
{
	return &api_handlers;
}

int stub_api_new(struct event_base *base, const struct stub_api_options *opt,
                 struct stub_api **ret_api)
{
	struct stub_api *api = calloc(1, sizeof(*api));
	int r;

	if (!api)
		return -ENOMEM;
	api->base = base;
	api->chunks = opt->chunks;
	api->verbose = opt->verbose;
	api->name = strdup(opt->name);
	api->require_key = opt->require_key ? strdup(opt->require_key) : NULL;
	api->require_entra = opt->require_entra ? strdup(opt->require_entra) : NULL;
	r = stub_record_new(API_RECORDS, &api->records);
	if (r == 0)
		r = stub_responses_new(&api->responses);
	if (r == 0)
		r = stub_files_new(opt->name, opt->require_key, &api->files);
	if (r == 0 && (!api->name || (opt->require_key && !api->require_key)))
		r = -ENOMEM;
	if (r == 0 && opt->deployments)
		r = stub_deploy_add_list(&api->deployments, opt->deployments);
	if (r == 0 && opt->faults)
		r = stub_fault_merge(&api->run, opt->faults);
	if (r < 0) {
		stub_api_free(api);
		return r;
	}
	api->run_left = stub_fault_num(&api->run, STUB_FAULT_COUNT, 0);
	*ret_api = api;
	return 0;
}

void stub_api_attach(struct stub_api *api, struct stub_http *http)
{
	api->http = http;
}

void stub_api_set_tls(struct stub_api *api, struct stub_tls *tls)
{
	api->tls = tls;
}

void stub_api_free(struct stub_api *api)
{
	if (!api)
		return;
	stub_record_free(api->records);
	stub_fault_clear(&api->run);
	stub_deploy_clear(&api->deployments);
	stub_responses_free(api->responses);
	stub_files_free(api->files);
	free(api->name);
	free(api->require_key);
	free(api->require_entra);
	free(api);
}
