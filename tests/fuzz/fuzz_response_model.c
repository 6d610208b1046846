/*
 * fuzz_response_model: the reader of an answer's top-level "model" for the
 * spans (worker/response_model.c), on an exact-size copy of the input (so
 * ASan sees any read past it), as a JSON answer and as server-sent events.
 * Whenever it finds a model in a body jansson accepts as an object, it is
 * jansson's top-level "model"; what it finds is never empty, never holds a
 * quote or a backslash, and always fits its room.
 *
 * fuzz-args: -max_len=4096
 */
#include <jansson.h>
#include <string.h>

#include "fuzz.h"
#include "response_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1);
	char out[RESPONSE_MODEL_MAX];
	size_t n;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	for (int sse = 0; sse < 2; sse++) {
		n = sse ? response_model_events(copy, size, out, sizeof(out))
		        : response_model_object(copy, size, out, sizeof(out));
		if (!n)
			continue;
		if (n >= sizeof(out) || strlen(out) != n || strpbrk(out, "\"\\"))
			abort();
		if (!sse) {
			json_t *root = json_loadb(copy, size, JSON_REJECT_DUPLICATES, NULL);
			const char *model = json_string_value(json_object_get(root, "model"));

			if (root && json_is_object(root) && (!model || strcmp(model, out) != 0))
				abort(); /* a model the whole answer does not name */
			json_decref(root);
		}
	}
	free(copy);
	return 0;
}
