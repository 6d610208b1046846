/*
 * fuzz_http_request: a client connection's bytes, as a worker handles them:
 * the head scanner fed in pieces, the strict head parser, the body
 * (Content-Length or chunked, decoded in pieces), then what routes and proxy
 * do with a request: the Azure-SDK ingress path, the Responses paths by id
 * (the upstream request for each deployment), the JSON body and its
 * `model`, and the upstream request built for every deployment of the group
 * it names (tests/fixtures/full.yaml). Pipelined requests follow while the
 * connection stays open.
 *
 * The first byte of the input is the size of each read (0: all at once);
 * the rest is the byte stream.
 *
 * fuzz-args: -max_len=8192
 */
#include <errno.h>
#include <string.h>

#include "http_parser.h"
#include "../../worker/ingress.h"
#include "../../worker/proxy_request.h"
#include "../../worker/proxy_walk.h"
#include "fuzz.h"

#define MAX_BODY     65536
#define MAX_REQUESTS 16

static struct config *config;
static json_t **defaults; /* per deployment, as proxy_new() parses them */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	config = fuzz_fixture_config("full.yaml");
	defaults = calloc(config->n_deployments, sizeof(*defaults));
	for (size_t i = 0; defaults && i < config->n_deployments; i++)
		if (config->deployments[i].request_defaults_json)
			defaults[i] =
			        json_loads(config->deployments[i].request_defaults_json, 0, NULL);
	return 0;
}

/* What routes and proxy do with a parsed request. */
static void handle(const struct http_head *head, const char *body, size_t body_len)
{
	char name[INGRESS_MAX_DEPLOYMENT_NAME + 1], why[256], id[PROXY_RESPONSE_ID_MAX + 1];
	enum proxy_op op = PROXY_OP_CHAT;
	bool by_path = ingress_azure_path(head->path, head->path_len, name, &op);
	enum ingress_response_route route = ingress_response_path(head->path, head->path_len, id);
	const struct group *group;
	const char *model;
	json_t *root;

	(void)http_head_find(head, "authorization");
	(void)http_head_find(head, "x-request-id");
	if (route != INGRESS_RESPONSE_NONE && route != INGRESS_RESPONSE_BAD_ID) {
		/* an op by id: the upstream request to every deployment */
		struct proxy_request_target target = {.response_id = id, .query = "limit=1"};

		for (size_t d = 0; d < config->n_deployments; d++) {
			struct proxy_request r;

			(void)proxy_request_build(&r, &config->deployments[d],
			                          route == INGRESS_RESPONSE_CANCEL
			                                  ? PROXY_OP_RESPONSE_CANCEL
			                                  : PROXY_OP_RESPONSE_GET,
			                          &target, NULL, NULL);
			proxy_request_clear(&r);
		}
	}
	if (ingress_parse_body(body, body_len, by_path ? name : NULL, &root, &model, why,
	                       sizeof(why)) < 0)
		return;
	group = config_find_group(config, model);
	for (size_t i = 0; group && i < group->n_deployments; i++) {
		size_t d = group->deployments[i];
		struct proxy_request r;

		struct proxy_request_target target = {.model = model, .named_by_path = by_path};

		(void)proxy_request_build(&r, &config->deployments[d], op, &target, root,
		                          defaults ? defaults[d] : NULL);
		proxy_request_clear(&r);
	}
	json_decref(root);
}

/* Decodes a chunked body from IN in reads of STEP bytes. Returns the bytes
 * of IN used, or 0 when the body is malformed, too large or incomplete. */
static size_t chunked(const char *in, size_t in_len, size_t step, char *out, size_t *ret_len)
{
	struct http_chunked c;
	size_t pos = 0, len = 0;

	http_chunked_init(&c);
	while (pos < in_len) {
		size_t n = in_len - pos < step ? in_len - pos : step, used, made;
		int r = http_chunked_decode(&c, in + pos, n, &used, out + len, MAX_BODY - len,
		                            &made);

		if (used > n || made > MAX_BODY - len)
			abort();
		pos += used;
		len += made;
		if (r == 0) {
			*ret_len = len;
			return pos;
		}
		if (r != -EAGAIN || used != n)
			return 0;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_header headers[HTTP_PARSER_MAX_HEADERS];
	size_t step, len, pos = 0;
	char *buf, *out;

	if (size < 1)
		return 0;
	step = data[0] ? data[0] : SIZE_MAX;
	len = size - 1;
	buf = malloc(len + 1);
	out = malloc(MAX_BODY);
	if (!buf || !out)
		abort();
	memcpy(buf, data + 1, len);
	for (int req = 0; req < MAX_REQUESTS && pos < len; req++) {
		struct http_scan scan = {0};
		struct http_head head;
		size_t have = 0, start, end, body_len = 0;
		const char *body = NULL;
		int r = -EAGAIN;

		while (r == -EAGAIN && have < len - pos) {
			have = len - pos - have < step ? len - pos : have + step;
			r = http_scan_head(&scan, buf + pos, have, &start, &end);
		}
		if (r < 0)
			break;
		if (start > end || end > have)
			abort();
		r = http_parse_head(buf + pos + start, end - start, headers,
		                    HTTP_PARSER_MAX_HEADERS, &head);
		if (r < 0) {
			if (http_parser_status(r) < 400 || !head.error)
				abort();
			break;
		}
		pos += end;
		if (head.body == HTTP_BODY_LENGTH) {
			if (head.content_length > MAX_BODY || head.content_length > len - pos)
				break;
			body = buf + pos;
			body_len = (size_t)head.content_length;
			pos += body_len;
		} else if (head.body == HTTP_BODY_CHUNKED) {
			size_t used = chunked(buf + pos, len - pos, step, out, &body_len);

			if (!used)
				break;
			body = out;
			pos += used;
		}
		handle(&head, body, body_len);
		if (!head.keep_alive)
			break;
	}
	free(out);
	free(buf);
	return 0;
}
