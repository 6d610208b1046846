/*
 * ingress: the request path and body parsing of a worker's client requests
 * (see ingress.h). Runs in a worker, once per request. Bounded by the
 * caller: the body is at most max_request_size bytes, and jansson refuses
 * duplicate keys and nesting deeper than its own limit.
 */
#include "ingress.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proxy_walk.h"
#include "response_id_scan.h"

bool ingress_azure_path(const char *path, size_t path_len, char *name, enum proxy_op *ret_op)
{
	static const struct {
		const char *suffix;
		enum proxy_op op;
	} ops[] = {
	        {"/chat/completions", PROXY_OP_CHAT},
	        {"/completions", PROXY_OP_COMPLETIONS},
	        {"/embeddings", PROXY_OP_EMBEDDINGS},
	        {"/images/generations", PROXY_OP_IMAGES_GENERATIONS},
	        {"/images/edits", PROXY_OP_IMAGES_EDITS},
	        {"/audio/speech", PROXY_OP_AUDIO_SPEECH},
	        {"/audio/transcriptions", PROXY_OP_AUDIO_TRANSCRIPTIONS},
	        {"/audio/translations", PROXY_OP_AUDIO_TRANSLATIONS},
	};
	size_t plen = sizeof(INGRESS_AZURE_PREFIX) - 1;
	const char *rest = path + plen, *slash;

	if (path_len <= plen || memcmp(path, INGRESS_AZURE_PREFIX, plen) != 0)
		return false;
	slash = memchr(rest, '/', path_len - plen);
	if (!slash || slash == rest || (size_t)(slash - rest) > INGRESS_MAX_DEPLOYMENT_NAME)
		return false;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t n = strlen(ops[i].suffix);

		if ((size_t)(path + path_len - slash) == n &&
		    memcmp(slash, ops[i].suffix, n) == 0) {
			memcpy(name, rest, (size_t)(slash - rest));
			name[slash - rest] = '\0';
			*ret_op = ops[i].op;
			return true;
		}
	}
	return false;
}

enum ingress_response_route ingress_response_path(const char *path, size_t path_len, char *id)
{
	static const struct {
		const char *suffix;
		enum ingress_response_route route;
	} routes[] = {
	        {"/cancel", INGRESS_RESPONSE_CANCEL},
	        {"/input_items", INGRESS_RESPONSE_INPUT_ITEMS},
	};
	const char *rest, *end = path + path_len, *slash;
	enum ingress_response_route route = INGRESS_RESPONSE_ITEM;

	if (path_len > 14 && memcmp(path, "/v1/responses/", 14) == 0)
		rest = path + 14;
	else if (path_len > 11 && memcmp(path, "/responses/", 11) == 0)
		rest = path + 11;
	else
		return INGRESS_RESPONSE_NONE;
	slash = memchr(rest, '/', (size_t)(end - rest));
	if (slash) {
		route = INGRESS_RESPONSE_NONE;
		for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
			if ((size_t)(end - slash) == strlen(routes[i].suffix) &&
			    memcmp(slash, routes[i].suffix, (size_t)(end - slash)) == 0)
				route = routes[i].route;
		if (route == INGRESS_RESPONSE_NONE)
			return INGRESS_RESPONSE_NONE;
	} else {
		slash = end;
	}
	if (!response_id_valid(rest, (size_t)(slash - rest)))
		return INGRESS_RESPONSE_BAD_ID;
	memcpy(id, rest, (size_t)(slash - rest));
	id[slash - rest] = '\0';
	return route;
}

int ingress_parse_body(const char *body, size_t len, const char *named, json_t **ret_root,
                       const char **ret_model, char *why, size_t why_len)
{
	json_error_t jerr;
	json_t *root = NULL;
	const char *model = named;

	*ret_root = NULL;
	*ret_model = NULL;
	if (len)
		root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!root || !json_is_object(root)) {
		snprintf(why, why_len, "%s%s", root ? "" : ": ",
		         root ? "" : (len ? jerr.text : "empty body"));
		json_decref(root);
		return -EBADMSG;
	}
	if (!model) {
		const json_t *value = json_object_get(root, "model");

		model = json_string_value(value);
		if (model && strlen(model) != json_string_length(value)) {
			/* valid JSON ("\u0000" is), but no name of ours */
			json_decref(root);
			return -EILSEQ;
		}
	}
	if (!model || !model[0]) {
		json_decref(root);
		return -ENOENT;
	}
	*ret_root = root;
	*ret_model = model;
	return 0;
}
