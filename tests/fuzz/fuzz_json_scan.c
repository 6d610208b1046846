/*
 * fuzz_json_scan: the request scanner that reads `model` and `stream`
 * without a JSON tree (worker/json_scan.c), checked against the tree path it
 * stands in for. Whenever the scanner vouches for a body (returns 0), jansson
 * with the worker's flags must accept it as an object with the same `model`
 * (or none) and the same `stream`: the scanner is never more lenient and
 * never reads a different model than the tree would.
 *
 * fuzz-args: -max_len=4096
 */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "fuzz.h"
#include "json_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_scan_result scan;
	json_error_t jerr;
	const json_t *model;
	json_t *root;
	int r;

	r = json_scan_request((const char *)data, size, &scan);
	if (r != 0) {
		if (r != -EAGAIN)
			abort();
		return 0;
	}
	root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!root || !json_is_object(root))
		abort(); /* the scanner vouched for what the tree refuses */
	model = json_object_get(root, "model");
	if (scan.model) {
		if (!json_is_string(model) || json_string_length(model) != scan.model_len ||
		    memcmp(json_string_value(model), scan.model, scan.model_len) != 0)
			abort();
	} else if (json_is_string(model)) {
		abort();
	}
	if (scan.stream != json_is_true(json_object_get(root, "stream")))
		abort();
	json_decref(root);
	return 0;
}
