/*
 * probe: `llmgatectl probe` (see probe.h) — the seed team's manual test plan
 * as one command. Runs in llmgatectl, without the daemon. Loads the config
 * like llmgated does, sends one minimal request (1 output token; a Responses
 * request, 16, to a deployment of model_info.mode responses) to every
 * deployment in parallel with libcurl's multi interface, each bounded by
 * --timeout, then prints a table with a diagnosis per deployment
 * (probe_diagnosis.c) and one summary line per primary/direct-Azure pair.
 *
 * URL and headers come from the gateway's own rules (SPEC 5,
 * provider_request.c): same URL, same auth header, extra_headers winning
 * over ours; as in the gateway, no proxy from the environment, TLS verified.
 * A model that refuses max_tokens (the reasoning models want
 * max_completion_tokens) gets one second request with max_completion_tokens,
 * so a healthy deployment is not reported broken.
 *
 * No secret is ever printed: URLs are shown with their userinfo and secret
 * query values masked, upstream messages are quoted only in part, and every
 * text shown is scrubbed of the config's keys, tokens and header values.
 */
#include "probe.h"

#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "build_config.h"
#include "config.h"
#include "config_groups.h"
#include "diag.h"
#include "duration.h"
#include "probe_diagnosis.h"
#include "probe_entra.h"
#include "provider_request.h"
#include "secret.h"

#define PROBE_MAX_BODY           (64 * 1024)
#define PROBE_DEFAULT_TIMEOUT_MS 10000

struct probe {
	const struct deployment *dep;
	bool selected;
	CURL *easy;
	struct curl_slist *headers;
	char *request;
	const char *token_param; /* "max_tokens", or "max_completion_tokens" on the retry */
	const char *entra_token; /* the deployment's Entra ID token, or NULL */
	char url[2048];
	char shown_url[2048]; /* url with its secrets masked */
	char auth[PROVIDER_REQUEST_AUTH_MAX];
	char error[CURL_ERROR_SIZE];
	char body[PROBE_MAX_BODY];
	size_t body_len;
	long retry_after_ms, retry_after_s;
	struct probe_answer answer;
	struct probe_diagnosis diagnosis;
	long latency_ms;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct probe *p = arg;
	size_t len = size * n, room = sizeof(p->body) - 1 - p->body_len;
	size_t take = len < room ? len : room;

	memcpy(p->body + p->body_len, data, take);
	p->body_len += take;
	p->body[p->body_len] = '\0';
	return len;
}

static bool header_number(const char *line, const char *name, long *ret)
{
	size_t n = strlen(name);
	char *end;
	long v;

	if (strncasecmp(line, name, n) != 0 || line[n] != ':')
		return false;
	v = strtol(line + n + 1, &end, 10);
	if (end == line + n + 1 || v < 0)
		return false;
	*ret = v;
	return true;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct probe *p = arg;
	size_t len = size * n;
	char line[256];

	if (len >= sizeof(line))
		return len;
	memcpy(line, data, len);
	line[len] = '\0';
	if (strncmp(line, "HTTP/", 5) == 0) { /* a new response: forget an interim one's */
		p->retry_after_ms = p->retry_after_s = -1;
		return len;
	}
	if (!header_number(line, "retry-after-ms", &p->retry_after_ms))
		if (!header_number(line, "x-ms-retry-after-ms", &p->retry_after_ms))
			header_number(line, "retry-after", &p->retry_after_s);
	return len;
}

static bool is_embedding(const struct deployment *d)
{
	return d->mode && strcmp(d->mode, "embedding") == 0;
}

/* A group used for the Responses API (model_info.mode: responses, the key
 * LiteLLM's health checks read) is probed on it. */
static bool is_responses(const struct deployment *d)
{
	return d->mode && strcmp(d->mode, "responses") == 0;
}

/* The operation a probe of D calls: embeddings for an embedding model, the
 * Responses API for a group used for it, legacy completions for a provider
 * that only answers those (providers.h), else chat. */
static const char *probe_op(const struct deployment *d)
{
	const struct provider_info *info = provider_info(d->provider);

	if (is_embedding(d))
		return "embeddings";
	if (is_responses(d))
		return "responses";
	if (info && !(info->ops & PROVIDER_OP_CHAT) && (info->ops & PROVIDER_OP_COMPLETIONS))
		return "completions";
	return "chat/completions";
}

static bool secret_param(const char *name, size_t len)
{
	static const char *const words[] = {"key", "token", "sig",  "secret",    "pass",
	                                    "pwd", "code",  "auth", "credential"};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (memmem(name, len, words[i], strlen(words[i])))
			return true;
	return false;
}

static void append(char *buf, size_t len, const char *s, size_t n)
{
	size_t used = strlen(buf);

	if (used + 1 >= len)
		return;
	if (n > len - 1 - used)
		n = len - 1 - used;
	memcpy(buf + used, s, n);
	buf[used + n] = '\0';
}

static void append_masked(char *buf, size_t len, const char *s, size_t n)
{
	char secret[1024], masked[64];

	snprintf(secret, sizeof(secret), "%.*s", (int)n, s);
	secret_mask(secret, masked, sizeof(masked));
	append(buf, len, masked, strlen(masked));
	explicit_bzero(secret, sizeof(secret));
}

/* URL as shown: a password in the userinfo and the values of query
 * parameters named like secrets (key, sig, token...) are masked. */
static void show_url(const char *url, char *buf, size_t len)
{
	const char *scheme = strstr(url, "://");
	const char *host = scheme ? scheme + 3 : url;
	const char *path = host + strcspn(host, "/?#");
	const char *at = memchr(host, '@', (size_t)(path - host));
	const char *query = strchr(path, '?');

	buf[0] = '\0';
	append(buf, len, url, (size_t)(host - url));
	if (at) {
		const char *colon = memchr(host, ':', (size_t)(at - host));

		append(buf, len, host, (size_t)((colon ? colon : at) - host));
		if (colon) {
			append(buf, len, ":", 1);
			append_masked(buf, len, colon + 1, (size_t)(at - colon - 1));
		}
		host = at;
	}
	append(buf, len, host, (size_t)((query ? query : path + strlen(path)) - host));
	while (query && *query) {
		size_t n = 1 + strcspn(query + 1, "&#");
		const char *eq = memchr(query, '=', n);

		if (eq && secret_param(query + 1, (size_t)(eq - query - 1))) {
			append(buf, len, query, (size_t)(eq + 1 - query));
			append_masked(buf, len, eq + 1, (size_t)(query + n - eq - 1));
		} else {
			append(buf, len, query, n);
		}
		query += n;
		if (*query == '#') {
			append(buf, len, query, strlen(query));
			break;
		}
	}
}

/* Replaces every occurrence of SECRET in TEXT by its masked form (never
 * longer than a secret of 4 characters or more). */
static void scrub(char *text, const char *secret)
{
	char masked[64];
	size_t n, m;
	char *hit;

	if (!secret || (n = strlen(secret)) < 4)
		return;
	secret_mask(secret, masked, sizeof(masked));
	m = strlen(masked);
	if (m > n)
		m = n;
	while ((hit = strstr(text, secret))) {
		memcpy(hit, masked, m);
		memmove(hit + m, hit + n, strlen(hit + n) + 1);
	}
}

static void scrub_all(const struct deployment *d, char *text)
{
	scrub(text, d->api_key);
	scrub(text, d->azure_ad_token);
	for (size_t i = 0; i < d->n_extra_headers; i++)
		scrub(text, d->extra_headers[i].value);
}

/* One "Name: value" line; a NULL VALUE removes curl's own header. */
static int add_header(void *ctx, const char *name, const char *value)
{
	struct probe *p = ctx;
	char line[PROVIDER_REQUEST_AUTH_MAX + 256];
	struct curl_slist *n;
	int len = value ? snprintf(line, sizeof(line), "%s: %s", name, value)
	                : snprintf(line, sizeof(line), "%s:", name);

	n = len > 0 && (size_t)len < sizeof(line) ? curl_slist_append(p->headers, line) : NULL;
	explicit_bzero(line, sizeof(line));
	if (!n)
		return -1;
	p->headers = n;
	return 0;
}

static int build_headers(struct probe *p)
{
	if (add_header(p, "Expect", NULL) < 0) /* no 100-continue round trip */
		return -1;
	return provider_request_headers(p->dep, p->entra_token, p->auth, add_header, p);
}

static int build_request(struct probe *p, const char *token_param)
{
	const struct deployment *d = p->dep;
	json_t *req;

	if (is_embedding(d))
		req = json_pack("{s:s, s:s}", "model", d->upstream_model, "input", "ping");
	else if (is_responses(d))
		/* 16: the least max_output_tokens OpenAI accepts; nothing stored */
		req = json_pack("{s:s, s:s, s:i, s:b}", "model", d->upstream_model, "input", "ping",
		                "max_output_tokens", 16, "store", 0);
	else if (strcmp(probe_op(d), "completions") == 0)
		req = json_pack("{s:s, s:s, s:i}", "model", d->upstream_model, "prompt", "ping",
		                token_param, 1);
	else
		req = json_pack("{s:s, s:[{s:s, s:s}], s:i}", "model", d->upstream_model,
		                "messages", "role", "user", "content", "ping", token_param, 1);
	free(p->request);
	p->request = req ? json_dumps(req, JSON_COMPACT) : NULL;
	p->token_param = token_param;
	json_decref(req);
	if (!p->request)
		return -1;
	curl_easy_setopt(p->easy, CURLOPT_POSTFIELDS, p->request);
	return 0;
}

static int probe_setup(struct probe *p, long timeout_ms)
{
	const struct deployment *d = p->dep;
	const char *op = probe_op(d);
	bool url_fits = provider_request_url(d, op, p->url, sizeof(p->url)) == 0;
	CURL *e;

	show_url(p->url, p->shown_url, sizeof(p->shown_url));
	scrub_all(d, p->shown_url);
	p->answer = (struct probe_answer){
	        .azure = d->provider == PROVIDER_AZURE,
	        .sent_credential = provider_request_has_credential(d),
	        .model = d->model,
	        .upstream = d->upstream_model,
	        .timeout_ms = timeout_ms,
	        .retry_after_ms = -1,
	};
	p->retry_after_ms = p->retry_after_s = -1;
	e = p->easy = curl_easy_init();
	if (!url_fits || !e || build_headers(p) < 0 || build_request(p, "max_tokens") < 0)
		return -1;
	curl_easy_setopt(e, CURLOPT_URL, p->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->headers);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, p);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, p);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, p->error);
	curl_easy_setopt(e, CURLOPT_PRIVATE, p);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROXY, ""); /* as the gateway: no proxy from the environment */
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	/* What stands until the transfer ends (a failed multi shows it). */
	p->answer.transport = PROBE_TRANSPORT_OTHER;
	probe_diagnose(&p->answer, &p->diagnosis);
	return 0;
}

static enum probe_transport transport_of(CURLcode code)
{
	switch (code) {
	case CURLE_OK:
		return PROBE_TRANSPORT_OK;
	case CURLE_COULDNT_RESOLVE_HOST:
		return PROBE_TRANSPORT_DNS;
	case CURLE_COULDNT_CONNECT:
		return PROBE_TRANSPORT_CONNECT;
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_HTTP2:
	case CURLE_PARTIAL_FILE:
		return PROBE_TRANSPORT_CLOSED;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		return PROBE_TRANSPORT_TLS_VERIFY;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_USE_SSL_FAILED:
		return PROBE_TRANSPORT_TLS;
	case CURLE_OPERATION_TIMEDOUT:
		return PROBE_TRANSPORT_TIMEOUT;
	default:
		return PROBE_TRANSPORT_OTHER;
	}
}

static void probe_finish(struct probe *p, CURLcode code)
{
	struct probe_answer *a = &p->answer;
	curl_off_t total = 0, connect = 0;
	long os_errno = 0;

	curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &a->status);
	curl_easy_getinfo(p->easy, CURLINFO_TOTAL_TIME_T, &total);
	curl_easy_getinfo(p->easy, CURLINFO_CONNECT_TIME_T, &connect);
	curl_easy_getinfo(p->easy, CURLINFO_OS_ERRNO, &os_errno);
	p->latency_ms = (long)(total / 1000);
	a->transport = transport_of(code);
	/* A connection cut after the head is still an answer to diagnose. */
	if (a->transport == PROBE_TRANSPORT_CLOSED && a->status > 0)
		a->transport = PROBE_TRANSPORT_OK;
	if (a->transport != PROBE_TRANSPORT_OK)
		a->status = 0;
	a->os_errno = (int)os_errno;
	a->connected = connect > 0;
	a->body = p->body;
	a->body_len = p->body_len;
	a->retry_after_ms = p->retry_after_ms >= 0  ? p->retry_after_ms
	                    : p->retry_after_s >= 0 ? p->retry_after_s * 1000
	                                            : -1;
	if (code == CURLE_OK)
		p->error[0] = '\0';
	else if (!p->error[0])
		snprintf(p->error, sizeof(p->error), "%s", curl_easy_strerror(code));
	probe_diagnose(a, &p->diagnosis);
	scrub_all(p->dep, p->diagnosis.text);
	scrub_all(p->dep, p->error);
}

/* The reasoning models refuse max_tokens and ask for max_completion_tokens. */
static bool wants_retry(const struct probe *p)
{
	return p->diagnosis.verdict == PROBE_UNSUPPORTED_PARAMETER &&
	       strcmp(p->token_param, "max_tokens") == 0 &&
	       strstr(p->body, "max_completion_tokens") != NULL;
}

static void run_all(struct probe *probes, size_t n)
{
	CURLM *multi = curl_multi_init();
	int running = 0, left;
	bool again;

	if (!multi)
		return;
	for (size_t i = 0; i < n; i++)
		if (probes[i].easy)
			curl_multi_add_handle(multi, probes[i].easy);
	do {
		CURLMsg *msg;

		again = false;
		curl_multi_perform(multi, &running);
		while ((msg = curl_multi_info_read(multi, &left))) {
			struct probe *p = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&p);
			probe_finish(p, msg->data.result);
			curl_multi_remove_handle(multi, p->easy);
			if (wants_retry(p) && build_request(p, "max_completion_tokens") == 0) {
				p->body_len = 0;
				p->body[0] = '\0';
				p->error[0] = '\0';
				curl_multi_add_handle(multi, p->easy);
				again = true;
			}
		}
		if (running)
			curl_multi_poll(multi, NULL, 0, 1000, NULL);
	} while (running || again);
	curl_multi_cleanup(multi);
}

/* The group's probe to name in a summary: its first failing one, else its first. */
static const struct probe *pick(const struct probe *probes, size_t n, const struct group *g,
                                bool *ret_works)
{
	const struct probe *first = NULL, *failing = NULL;

	for (size_t i = 0; i < g->n_deployments; i++) {
		const struct probe *p = g->deployments[i] < n ? &probes[g->deployments[i]] : NULL;

		if (!p || !p->selected)
			continue;
		if (!first)
			first = p;
		if (!failing && !p->diagnosis.reachable)
			failing = p;
	}
	*ret_works = first && !failing;
	return failing ? failing : first;
}

/* "401 wrong key", or "timeout" without an HTTP answer. */
static void outcome(const struct probe *p, char *buf, size_t len)
{
	if (p->answer.status > 0)
		snprintf(buf, len, "%ld %s", p->answer.status,
		         probe_verdict_words(p->diagnosis.verdict));
	else
		snprintf(buf, len, "%s", probe_verdict_words(p->diagnosis.verdict));
}

static void summary_line(const char *model, const struct probe *p, bool pw, const struct probe *a,
                         bool aw, char *buf, size_t len)
{
	char po[64], ao[64];

	outcome(p, po, sizeof(po));
	outcome(a, ao, sizeof(ao));
	if (pw && aw)
		snprintf(buf, len,
		         "%s: primary '%s' and direct Azure '%s' both work; the fallback is ready",
		         model, p->dep->id, a->dep->id);
	else if (!pw && aw)
		snprintf(
		        buf, len,
		        "%s: primary '%s' fails (%s) while direct Azure '%s' works: the primary's %s",
		        model, p->dep->id, po, a->dep->id,
		        probe_verdict_blame(p->diagnosis.verdict));
	else if (pw)
		snprintf(buf, len,
		         "%s: primary '%s' works but direct Azure '%s' fails (%s): the fallback "
		         "would not help; direct Azure's %s",
		         model, p->dep->id, a->dep->id, ao,
		         probe_verdict_blame(a->diagnosis.verdict));
	else if (p->diagnosis.verdict == a->diagnosis.verdict && p->answer.status == 0)
		snprintf(buf, len,
		         "%s: both fail the same way: primary '%s' (%s), direct Azure '%s' (%s): "
		         "check this machine's network, DNS and firewall first",
		         model, p->dep->id, po, a->dep->id, ao);
	else
		snprintf(
		        buf, len,
		        "%s: both fail: primary '%s' (%s), direct Azure '%s' (%s): the primary's %s, "
		        "and direct Azure's %s",
		        model, p->dep->id, po, a->dep->id, ao,
		        probe_verdict_blame(p->diagnosis.verdict),
		        probe_verdict_blame(a->diagnosis.verdict));
}

/* One entry per primary group whose direct-Azure group was probed too (SPEC 7). */
static json_t *summarize(const struct config *c, const struct probe *probes, size_t n)
{
	json_t *summary = json_array();

	for (size_t i = 0; i < c->n_groups; i++) {
		const struct group *g = &c->groups[i];
		const struct group *azure = config_direct_azure(c, g);
		const struct probe *p, *a;
		bool pw, aw;
		char line[1024];

		if (!azure)
			continue;
		p = pick(probes, n, g, &pw);
		a = pick(probes, n, azure, &aw);
		if (!p || !a)
			continue;
		summary_line(g->name, p, pw, a, aw, line, sizeof(line));
		json_array_append_new(summary,
		                      json_pack("{s:s, s:s, s:s, s:b, s:b, s:s}", "model", g->name,
		                                "primary", p->dep->id, "direct_azure", a->dep->id,
		                                "primary_works", pw, "direct_azure_works", aw,
		                                "text", line));
	}
	return summary;
}

static json_t *result_json(const struct probe *p)
{
	json_t *r = json_pack(
	        "{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:b, s:b}", "model", p->dep->model_name,
	        "deployment", p->dep->id, "provider", provider_name(p->dep->provider), "url",
	        p->shown_url, "latency_ms", (json_int_t)p->latency_ms, "verdict",
	        probe_verdict_name(p->diagnosis.verdict), "diagnosis", p->diagnosis.text, "passed",
	        p->diagnosis.passed, "reachable", p->diagnosis.reachable);

	json_object_set_new(r, "status",
	                    p->answer.status > 0 ? json_integer(p->answer.status) : json_null());
	json_object_set_new(r, "error", p->error[0] ? json_string(p->error) : json_null());
	if (p->answer.retry_after_ms >= 0)
		json_object_set_new(r, "retry_after_ms", json_integer(p->answer.retry_after_ms));
	if (p->token_param && strcmp(p->token_param, "max_tokens") != 0)
		json_object_set_new(r, "sent", json_string(p->token_param));
	return r;
}

static int width(const struct probe *probes, size_t n, const char *title, size_t field)
{
	size_t w = strlen(title);

	for (size_t i = 0; i < n; i++) {
		const struct probe *p = &probes[i];
		const char *s = field == 0   ? p->dep->model_name
		                : field == 1 ? p->dep->id
		                             : p->shown_url;

		if (p->selected && strlen(s) > w)
			w = strlen(s);
	}
	return (int)w;
}

static void print_table(const struct probe *probes, size_t n, json_t *summary)
{
	int wm = width(probes, n, "MODEL", 0), wd = width(probes, n, "DEPLOYMENT", 1);
	int wu = width(probes, n, "URL", 2);
	size_t i;
	json_t *s;
	bool passed = true;

	printf("%-*s  %-*s  %-*s  %-7s  %7s  %s\n", wm, "MODEL", wd, "DEPLOYMENT", wu, "URL",
	       "STATUS", "LATENCY", "DIAGNOSIS");
	for (i = 0; i < n; i++) {
		const struct probe *p = &probes[i];
		char status[32], latency[32];

		if (!p->selected)
			continue;
		if (p->answer.status > 0)
			snprintf(status, sizeof(status), "%ld", p->answer.status);
		else
			snprintf(status, sizeof(status), "%s",
			         probe_verdict_name(p->diagnosis.verdict));
		snprintf(latency, sizeof(latency), "%ldms", p->latency_ms);
		printf("%-*s  %-*s  %-*s  %-7s  %7s  %s%s\n", wm, p->dep->model_name, wd,
		       p->dep->id, wu, p->shown_url, status, latency,
		       p->diagnosis.passed ? "" : "FAIL: ", p->diagnosis.text);
		passed = passed && p->diagnosis.passed;
	}
	if (json_array_size(summary))
		printf("\n");
	json_array_foreach(summary, i, s)
	        printf("%s\n", json_string_value(json_object_get(s, "text")));
	printf("\n%s\n", passed ? "all deployments answered" : "some deployments failed");
}

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: llmgatectl probe [-c FILE] [--json] [--timeout DURATION] [MODEL...]\n"
	        "Sends one minimal request (1 output token) to every deployment of the config\n"
	        "(or of the MODELs named), in parallel, and explains each answer; then compares\n"
	        "each primary route with its direct-Azure fallback. Works without llmgated.\n"
	        "  -c, --config FILE     default %s\n"
	        "  -j, --json            one JSON object: {results, summary, passed}\n"
	        "  -t, --timeout DURATION  per request, default 10s\n"
	        "Exit status: 0 every deployment answered 2xx, 1 some did not, 2 usage or config "
	        "error.\n",
	        LLMGATE_DEFAULT_CONFIG);
}

static int parse_args(int argc, char **argv, const char **ret_path, bool *ret_json,
                      long *ret_timeout_ms)
{
	static const struct option options[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"json", no_argument, NULL, 'j'},
	        {"timeout", required_argument, NULL, 't'},
	        {"help", no_argument, NULL, 'h'},
	        {0},
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "c:jt:h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			*ret_path = optarg;
			break;
		case 'j':
			*ret_json = true;
			break;
		case 't':
			if (duration_parse(optarg, ret_timeout_ms) < 0 || *ret_timeout_ms <= 0) {
				fprintf(stderr, "llmgatectl probe: bad --timeout '%s'\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	return -1;
}

/*
 * The Entra ID token of every credential a selected deployment uses, fetched
 * once (as the daemon does); each such deployment sends it, or, when it
 * cannot be had, is not tried and fails with the reason in plain words.
 */
static void fetch_tokens(const struct config *c, struct probe *probes, long timeout_ms,
                         char **tokens)
{
	for (size_t k = 0; k < c->n_credentials; k++) {
		char err[ENTRA_ERROR_MAX] = "";
		bool used = false;
		int r = 0;

		for (size_t i = 0; i < c->n_deployments; i++)
			used |= probes[i].selected && c->deployments[i].entra &&
			        c->deployments[i].credential == k;
		if (used)
			r = probe_entra_fetch(&c->credentials[k], timeout_ms, &tokens[k], err,
			                      sizeof(err));
		for (size_t i = 0; used && i < c->n_deployments; i++) {
			struct probe *p = &probes[i];

			if (!p->selected || !p->dep->entra || p->dep->credential != k)
				continue;
			if (r == 0 && p->easy) {
				/* the headers were built without it */
				p->entra_token = tokens[k];
				p->answer.entra = true;
				curl_slist_free_all(p->headers);
				p->headers = NULL;
				if (build_headers(p) == 0)
					curl_easy_setopt(p->easy, CURLOPT_HTTPHEADER, p->headers);
				continue;
			}
			if (p->easy)
				curl_easy_cleanup(p->easy);
			p->easy = NULL;
			p->diagnosis = (struct probe_diagnosis){.verdict = PROBE_ENTRA_TOKEN};
			snprintf(p->diagnosis.text, sizeof(p->diagnosis.text),
			         "no Entra ID token (%s): %s",
			         entra_source_name(c->credentials[k].source), err);
			scrub_all(p->dep, p->diagnosis.text);
		}
	}
}

static void probes_free(struct probe *probes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (probes[i].easy)
			curl_easy_cleanup(probes[i].easy);
		curl_slist_free_all(probes[i].headers);
		free(probes[i].request);
		explicit_bzero(probes[i].auth, sizeof(probes[i].auth));
	}
	free(probes);
}

int probe_main(int argc, char **argv)
{
	const char *path = LLMGATE_DEFAULT_CONFIG;
	struct diag_list diags = {0};
	struct config *config = NULL;
	long timeout_ms = PROBE_DEFAULT_TIMEOUT_MS;
	bool json_out = false, all_passed = true;
	struct probe *probes;
	char **tokens;
	json_t *results, *summary;
	int r;

	r = parse_args(argc, argv, &path, &json_out, &timeout_ms);
	if (r >= 0)
		return r;
	r = config_load(path, &config, &diags);
	diag_sort(&diags);
	if (r < 0) {
		diag_print(&diags, stderr);
		diag_free(&diags);
		return 2;
	}
	diag_free(&diags);
	for (int i = optind; i < argc; i++) {
		if (!config_find_group(config, argv[i])) {
			fprintf(stderr, "llmgatectl probe: no model_name '%s' in %s\n", argv[i],
			        path);
			config_free(config);
			return 2;
		}
	}

	probes = calloc(config->n_deployments ? config->n_deployments : 1, sizeof(*probes));
	tokens = calloc(config->n_credentials + 1, sizeof(*tokens));
	if (!probes || !tokens || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "llmgatectl probe: out of memory\n");
		free(probes);
		free(tokens);
		config_free(config);
		return 2;
	}
	for (size_t i = 0; i < config->n_deployments; i++) {
		struct probe *p = &probes[i];

		p->dep = &config->deployments[i];
		p->selected = optind >= argc;
		for (int k = optind; k < argc; k++)
			if (strcmp(argv[k], p->dep->model_name) == 0)
				p->selected = true;
		if (p->selected && p->dep->not_served) {
			fprintf(stderr, "llmgatectl probe: %s: not served (%s); skipped\n",
			        p->dep->id, p->dep->not_served);
			p->selected = false;
			continue;
		}
		if (p->selected && probe_setup(p, timeout_ms) < 0) {
			p->answer.transport = PROBE_TRANSPORT_OTHER;
			probe_diagnose(&p->answer, &p->diagnosis);
			if (p->easy)
				curl_easy_cleanup(p->easy);
			p->easy = NULL;
		}
	}
	fetch_tokens(config, probes, timeout_ms, tokens);
	run_all(probes, config->n_deployments);

	results = json_array();
	for (size_t i = 0; i < config->n_deployments; i++) {
		if (!probes[i].selected)
			continue;
		all_passed = all_passed && probes[i].diagnosis.passed;
		json_array_append_new(results, result_json(&probes[i]));
	}
	summary = summarize(config, probes, config->n_deployments);

	if (json_out) {
		json_t *out = json_pack("{s:o, s:o, s:b}", "results", results, "summary", summary,
		                        "passed", all_passed);

		json_dumpf(out, stdout, JSON_INDENT(2));
		printf("\n");
		json_decref(out);
	} else {
		print_table(probes, config->n_deployments, summary);
		json_decref(results);
		json_decref(summary);
	}

	probes_free(probes, config->n_deployments);
	for (size_t i = 0; i < config->n_credentials; i++) {
		if (tokens[i])
			explicit_bzero(tokens[i], strlen(tokens[i]));
		free(tokens[i]);
	}
	free(tokens);
	curl_global_cleanup();
	config_free(config);
	return all_passed ? 0 : 1;
}
