/*
 * Unit tests of what a client's request names (worker/ingress.c): the
 * Azure-SDK ingress path, the Responses routes by id, and the body's JSON
 * and `model`; and of the split
 * of an upstream's header line (worker/upstream/header_line.c).
 */
#include "../../worker/upstream/header_line.h"
#include "../../worker/ingress.h"
#include "../../worker/proxy_walk.h"
#include "tap.h"

#include <errno.h>

static bool azure(const char *path, const char *want_name, enum proxy_op want_op)
{
	char name[INGRESS_MAX_DEPLOYMENT_NAME + 1] = "";
	enum proxy_op op = PROXY_OP__COUNT;
	bool ok = ingress_azure_path(path, strlen(path), name, &op);

	if (!want_name)
		return !ok;
	return ok && strcmp(name, want_name) == 0 && op == want_op;
}

static void test_azure_path(void)
{
	char longer[400];

	tap_ok(azure("/openai/deployments/gpt-4o/chat/completions", "gpt-4o", PROXY_OP_CHAT),
	       "chat completions");
	tap_ok(azure("/openai/deployments/gpt-4o/completions", "gpt-4o", PROXY_OP_COMPLETIONS),
	       "completions");
	tap_ok(azure("/openai/deployments/e/embeddings", "e", PROXY_OP_EMBEDDINGS), "embeddings");
	tap_ok(azure("/openai/deployments/w/audio/transcriptions", "w",
	             PROXY_OP_AUDIO_TRANSCRIPTIONS),
	       "audio transcriptions");
	tap_ok(azure("/openai/deployments/d/images/generations", "d", PROXY_OP_IMAGES_GENERATIONS),
	       "image generations");
	tap_ok(azure("/openai/deployments/m/moderations", NULL, 0),
	       "no moderations: Azure OpenAI has none");
	tap_ok(azure("/openai/deployments//chat/completions", NULL, 0), "an empty name");
	tap_ok(azure("/openai/deployments/gpt-4o", NULL, 0), "no operation");
	tap_ok(azure("/openai/deployments/", NULL, 0), "the prefix alone");
	tap_ok(azure("/openai/deployments/x/chat/completions/", NULL, 0), "a trailing slash");
	tap_ok(azure("/openai/deployments/x/y/chat/completions", NULL, 0), "a name with a slash");
	tap_ok(azure("/openai/deployment/x/chat/completions", NULL, 0), "another prefix");
	char max_name[INGRESS_MAX_DEPLOYMENT_NAME + 1];

	snprintf(max_name, sizeof(max_name), "%0256d", 0);
	snprintf(longer, sizeof(longer), "/openai/deployments/%s/embeddings", max_name);
	tap_ok(azure(longer, max_name, PROXY_OP_EMBEDDINGS), "a name of 256 bytes fits");
	snprintf(longer, sizeof(longer), "/openai/deployments/%0257d/embeddings", 0);
	tap_ok(azure(longer, NULL, 0), "a name over 256 bytes is refused");
	/* PATH is not NUL-terminated: only PATH_LEN counts */
	char name[INGRESS_MAX_DEPLOYMENT_NAME + 1];
	enum proxy_op op;
	const char *p = "/openai/deployments/m/embeddingsXYZ";
	tap_ok(ingress_azure_path(p, strlen(p) - 3, name, &op) && strcmp(name, "m") == 0,
	       "the path's length, not its NUL, ends it");
}

static int body(const char *text, const char *named, const char **ret_model)
{
	char why[200];
	json_t *root;
	int r = ingress_parse_body(text, strlen(text), named, &root, ret_model, why, sizeof(why));

	if ((r == 0) != (root != NULL))
		return -999;
	if (r == 0 && *ret_model != named && !json_is_object(root))
		return -998;
	json_decref(root);
	return r;
}

static void test_body(void)
{
	const char *model = NULL;

	tap_ok(body("{\"model\":\"gpt-4o\",\"messages\":[]}", NULL, &model) == 0,
	       "a body with a model");
	tap_ok(body("{\"messages\":[]}", "dep", &model) == 0 && strcmp(model, "dep") == 0,
	       "the path's name wins");
	tap_ok(body("{\"model\":\"\"}", NULL, &model) == -ENOENT, "an empty model");
	tap_ok(body("{\"model\":7}", NULL, &model) == -ENOENT, "a model that is not a string");
	tap_ok(body("{}", NULL, &model) == -ENOENT, "no model");
	tap_ok(body("", NULL, &model) == -EBADMSG, "an empty body");
	tap_ok(body("[1]", NULL, &model) == -EBADMSG, "an array");
	tap_ok(body("{\"model\":\"a\",\"model\":\"b\"}", NULL, &model) == -EBADMSG,
	       "duplicate keys are refused");
	tap_ok(body("{\"model\":\"a\"} x", NULL, &model) == -EBADMSG, "trailing bytes");

	char why[200];
	json_t *root;
	ingress_parse_body("{", 1, NULL, &root, &model, why, sizeof(why));
	tap_ok(strncmp(why, ": ", 2) == 0 && strlen(why) > 2, "a JSON error says why");
}

static void test_header_line(void)
{
	const char *line = "Retry-After: \t 7 \r\n", *value;
	size_t name_len, value_len;

	tap_ok(header_line_split(line, strlen(line), &name_len, &value, &value_len) &&
	               name_len == 11 && value_len == 1 && *value == '7',
	       "name and trimmed value");
	line = "X-Empty:   \r\n";
	tap_ok(header_line_split(line, strlen(line), &name_len, &value, &value_len) &&
	               value_len == 0,
	       "an empty value");
	line = "HTTP/1.1 200 OK\r\n";
	tap_ok(!header_line_split(line, strlen(line), &name_len, &value, &value_len),
	       "a status line has no colon");
	line = "a:b";
	tap_ok(header_line_split(line, 1, &name_len, &value, &value_len) == false,
	       "only LEN bytes are read");
}

static bool response(const char *path, enum ingress_response_route want, const char *want_id)
{
	char id[PROXY_RESPONSE_ID_MAX + 1] = "";
	enum ingress_response_route got = ingress_response_path(path, strlen(path), id);

	return got == want && (!want_id || strcmp(id, want_id) == 0);
}

static void test_response_path(void)
{
	char longest[200], too_long[200];

	tap_ok(response("/v1/responses/resp_1", INGRESS_RESPONSE_ITEM, "resp_1"), "an item");
	tap_ok(response("/responses/resp_1", INGRESS_RESPONSE_ITEM, "resp_1"), "without /v1");
	tap_ok(response("/v1/responses/r-2/cancel", INGRESS_RESPONSE_CANCEL, "r-2"), "cancel");
	tap_ok(response("/v1/responses/r_3/input_items", INGRESS_RESPONSE_INPUT_ITEMS, "r_3"),
	       "input items");
	tap_ok(response("/v1/responses", INGRESS_RESPONSE_NONE, NULL), "the create path");
	tap_ok(response("/v1/responses/", INGRESS_RESPONSE_NONE, NULL), "no id");
	tap_ok(response("/v1/responses/r/other", INGRESS_RESPONSE_NONE, NULL), "another suffix");
	tap_ok(response("/v1/responses/r/cancel/", INGRESS_RESPONSE_NONE, NULL),
	       "a trailing slash");
	tap_ok(response("/v1/responses/a%2Fb", INGRESS_RESPONSE_BAD_ID, NULL), "an escaped slash");
	tap_ok(response("/v1/responses/../x", INGRESS_RESPONSE_NONE, NULL), "dots and a slash");
	tap_ok(response("/v1/responses/..", INGRESS_RESPONSE_BAD_ID, NULL), "dots");
	tap_ok(response("/v1/responses/a?b", INGRESS_RESPONSE_BAD_ID, NULL), "a question mark");
	snprintf(longest, sizeof(longest), "/v1/responses/%0*d", PROXY_RESPONSE_ID_MAX, 0);
	snprintf(too_long, sizeof(too_long), "/v1/responses/%0*d", PROXY_RESPONSE_ID_MAX + 1, 0);
	tap_ok(response(longest, INGRESS_RESPONSE_ITEM, NULL), "the longest id");
	tap_ok(response(too_long, INGRESS_RESPONSE_BAD_ID, NULL), "an id one longer");
	tap_ok(response("/v2/responses/x", INGRESS_RESPONSE_NONE, NULL), "another prefix");
}

int main(void)
{
	test_azure_path();
	test_response_path();
	test_body();
	test_header_line();
	return tap_done();
}
