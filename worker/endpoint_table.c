/*
 * endpoint_table: the table of client routes (see endpoint_table.h) and its
 * lookups. Pure: used by endpoints.c on every request, by the HTTP server's
 * body-limit callback at every request head, and by test_endpoint_table.
 */
#include "endpoint_table.h"

#include <string.h>

#include "api_paths.h"
#include "config.h"
#include "ingress.h"

#define JSON    ENDPOINT_BODY_JSON
#define FORM    ENDPOINT_BODY_FORM
#define NONE    ENDPOINT_BODY_NONE
#define REQUEST ENDPOINT_LIMIT_REQUEST
#define UPLOAD  ENDPOINT_LIMIT_UPLOAD
/* a literal path and its length */
#define PATH(literal) literal, sizeof(literal) - 1

/* clang-format off */
static const struct endpoint table[] = {
	{"GET", PATH("/health/liveliness"), ENDPOINT_LIVENESS, 0, NONE, REQUEST, false},
	{"GET", PATH("/health/liveness"), ENDPOINT_LIVENESS, 0, NONE, REQUEST, false},
	{"GET", PATH("/health/readiness"), ENDPOINT_READINESS, 0, NONE, REQUEST, false},
	{"GET", PATH("/v1/models"), ENDPOINT_MODELS, 0, NONE, REQUEST, true},
	{"GET", PATH("/models"), ENDPOINT_MODELS, 0, NONE, REQUEST, true},
	{"POST", PATH("/v1/chat/completions"), ENDPOINT_PROXY, PROXY_OP_CHAT, JSON, REQUEST, true},
	{"POST", PATH("/chat/completions"), ENDPOINT_PROXY, PROXY_OP_CHAT, JSON, REQUEST, true},
	{"POST", PATH("/v1/completions"), ENDPOINT_PROXY, PROXY_OP_COMPLETIONS, JSON, REQUEST, true},
	{"POST", PATH("/completions"), ENDPOINT_PROXY, PROXY_OP_COMPLETIONS, JSON, REQUEST, true},
	{"POST", PATH("/v1/embeddings"), ENDPOINT_PROXY, PROXY_OP_EMBEDDINGS, JSON, REQUEST, true},
	{"POST", PATH("/embeddings"), ENDPOINT_PROXY, PROXY_OP_EMBEDDINGS, JSON, REQUEST, true},
	{"POST", PATH("/v1/images/generations"), ENDPOINT_PROXY, PROXY_OP_IMAGES_GENERATIONS, JSON, REQUEST, true},
	{"POST", PATH("/images/generations"), ENDPOINT_PROXY, PROXY_OP_IMAGES_GENERATIONS, JSON, REQUEST, true},
	{"POST", PATH("/v1/images/edits"), ENDPOINT_PROXY, PROXY_OP_IMAGES_EDITS, FORM, UPLOAD, true},
	{"POST", PATH("/images/edits"), ENDPOINT_PROXY, PROXY_OP_IMAGES_EDITS, FORM, UPLOAD, true},
	{"POST", PATH("/v1/audio/speech"), ENDPOINT_PROXY, PROXY_OP_AUDIO_SPEECH, JSON, REQUEST, true},
	{"POST", PATH("/audio/speech"), ENDPOINT_PROXY, PROXY_OP_AUDIO_SPEECH, JSON, REQUEST, true},
	{"POST", PATH("/v1/audio/transcriptions"), ENDPOINT_PROXY, PROXY_OP_AUDIO_TRANSCRIPTIONS, FORM, UPLOAD, true},
	{"POST", PATH("/audio/transcriptions"), ENDPOINT_PROXY, PROXY_OP_AUDIO_TRANSCRIPTIONS, FORM, UPLOAD, true},
	{"POST", PATH("/v1/audio/translations"), ENDPOINT_PROXY, PROXY_OP_AUDIO_TRANSLATIONS, FORM, UPLOAD, true},
	{"POST", PATH("/audio/translations"), ENDPOINT_PROXY, PROXY_OP_AUDIO_TRANSLATIONS, FORM, UPLOAD, true},
	{"POST", PATH("/v1/moderations"), ENDPOINT_PROXY, PROXY_OP_MODERATIONS, JSON, REQUEST, true},
	{"POST", PATH("/moderations"), ENDPOINT_PROXY, PROXY_OP_MODERATIONS, JSON, REQUEST, true},
	{"POST", PATH("/v1/responses"), ENDPOINT_PROXY, PROXY_OP_RESPONSES, JSON, REQUEST, true},
	{"POST", PATH("/responses"), ENDPOINT_PROXY, PROXY_OP_RESPONSES, JSON, REQUEST, true},
	{"POST", PATH("/v1/responses/input_tokens"), ENDPOINT_PROXY, PROXY_OP_RESPONSES_INPUT_TOKENS, JSON, REQUEST, true},
	{"POST", PATH("/responses/input_tokens"), ENDPOINT_PROXY, PROXY_OP_RESPONSES_INPUT_TOKENS, JSON, REQUEST, true},
	/* patterns: matched by endpoints.c (ingress.c parses them) */
	{"", PATH("/v1/responses/{id}"), ENDPOINT_BY_ID, 0, ENDPOINT_BODY_BY_METHOD, REQUEST, true},
	{"POST", PATH(INGRESS_AZURE_PREFIX "{group}/{op}"), ENDPOINT_AZURE, 0, JSON, REQUEST, false},
	/* prefixes */
	{"", PATH("/v1/conversations"), ENDPOINT_UNSERVED, 0, NONE, REQUEST, true},
	{"", PATH("/conversations"), ENDPOINT_UNSERVED, 0, NONE, REQUEST, true},
	/* LiteLLM's default pass-through routes, the files API (api_paths.h,
	 * which the config loader reads too): their target is chosen by
	 * worker/passthrough*.c */
#define FILES_ROW(name, upload) \
	{"", PATH("/v1/" name), ENDPOINT_PASS_THROUGH, 0, ENDPOINT_BODY_ANY, (upload) ? UPLOAD : REQUEST, true},
	API_FILES_OPS(FILES_ROW)
#undef FILES_ROW
};
/* clang-format on */

const struct endpoint *endpoint_table(size_t *ret_n)
{
	*ret_n = sizeof(table) / sizeof(table[0]);
	return table;
}

static bool exact(const struct endpoint *e)
{
	return e->kind != ENDPOINT_BY_ID && e->kind != ENDPOINT_AZURE &&
	       e->kind != ENDPOINT_UNSERVED && e->kind != ENDPOINT_PASS_THROUGH;
}

const struct endpoint *endpoint_table_find(const char *path, size_t len, bool under_prefix)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct endpoint *e = &table[i];

		if (exact(e) && e->path_len == len && memcmp(e->path, path, len) == 0 &&
		    (!under_prefix || e->api))
			return e;
	}
	return NULL;
}

const struct endpoint *endpoint_table_prefix(const char *path, size_t len)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct endpoint *e = &table[i];
		size_t n = e->path_len;

		if ((e->kind == ENDPOINT_UNSERVED || e->kind == ENDPOINT_PASS_THROUGH) &&
		    len >= n && memcmp(path, e->path, n) == 0 && (len == n || path[n] == '/'))
			return e;
	}
	return NULL;
}

const struct endpoint *endpoint_table_kind(enum endpoint_kind kind)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].kind == kind)
			return &table[i];
	return NULL;
}

static const struct endpoint *of_op(enum proxy_op op)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].kind == ENDPOINT_PROXY && table[i].op == op)
			return &table[i];
	return NULL;
}

const char *endpoint_table_api_path(const char *path, size_t *len, bool *ret_under)
{
	static const char edits[] = "/openai/images/edits";
	size_t v1 = sizeof(INGRESS_AZURE_V1_PREFIX) - 1, az = sizeof(INGRESS_AZURE_RESPONSES) - 1;
	size_t n = *len;

	*ret_under = true;
	if (n > v1 && memcmp(path, INGRESS_AZURE_V1_PREFIX, v1) == 0 && path[v1] == '/') {
		*len -= v1;
		return path + v1;
	}
	if ((n >= az && memcmp(path, INGRESS_AZURE_RESPONSES, az) == 0 &&
	     (n == az || path[az] == '/')) ||
	    (n == sizeof(edits) - 1 && memcmp(path, edits, n) == 0)) {
		*len -= sizeof("/openai") - 1;
		return path + sizeof("/openai") - 1;
	}
	*ret_under = false;
	return path;
}

/* The row of a request for PATH as the server sees it at its head. */
static const struct endpoint *of_head(const char *path, size_t len)
{
	char name[INGRESS_MAX_DEPLOYMENT_NAME + 1];
	const struct endpoint *e;
	enum proxy_op op;
	bool under;

	path = endpoint_table_api_path(path, &len, &under);
	e = endpoint_table_find(path, len, under);
	if (!e && ingress_azure_path(path, len, name, &op))
		e = of_op(op);
	if (!e)
		e = endpoint_table_prefix(path, len);
	return e;
}

bool endpoint_table_body_spool(const char *path, size_t len)
{
	const struct endpoint *e = of_head(path, len);

	return e && e->body == ENDPOINT_BODY_FORM;
}

size_t endpoint_table_body_limit(const struct config *config, const char *path, size_t len)
{
	const struct endpoint *e = of_head(path, len);

	return e && e->limit == ENDPOINT_LIMIT_UPLOAD ? config->max_upload_size
	                                              : config->max_request_size;
}
