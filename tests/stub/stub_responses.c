/*
 * stub_responses: the stub's Responses API (see stub_responses.h). The store is a ring of the
 * last STUB_RESPONSES_MAX responses created here, looked up linearly by id (tests keep it small;
 * the benchmark's responses are created and never looked up). Bodies are built with jansson.
 *
 * Rules kept as OpenAI documents them: a create needs a model (checked by the caller) and an
 * input or a previous_response_id; previous_response_id must name a stored response here (400
 * previous_response_not_found); "store": false responses are not kept; background: true ones are
 * answered "queued", read back "completed" and may be cancelled while not completed (others 400);
 * a deleted response is gone (404).
 */
#include "stub_responses.h"

#include "stub_body.h"

#include <errno.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

struct stored {
	char id[STUB_RESPONSE_ID_MAX + 1];
	json_t *response; /* NULL: free slot */
	json_t *input;    /* the input items */
	bool background;
	bool cancelled;
};

struct stub_responses {
	struct stored slots[STUB_RESPONSES_MAX];
	size_t next; /* the slot the next response takes (the oldest) */
	size_t count;
	char prefix[17]; /* random hex, unique per stub */
	unsigned long long seq;
};

int stub_responses_new(struct stub_responses **ret)
{
	struct stub_responses *r = calloc(1, sizeof(*r));
	unsigned char rnd[8];

	if (!r)
		return -ENOMEM;
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		unsigned long long t = (unsigned long long)time(NULL) ^ (unsigned long long)r;

		memcpy(rnd, &t, sizeof(rnd));
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(r->prefix + 2 * i, 3, "%02x", rnd[i]);
	*ret = r;
	return 0;
}

static void slot_clear(struct stored *s)
{
	json_decref(s->response);
	json_decref(s->input);
	memset(s, 0, sizeof(*s));
}

void stub_responses_free(struct stub_responses *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < STUB_RESPONSES_MAX; i++)
		slot_clear(&r->slots[i]);
	free(r);
}

size_t stub_responses_count(const struct stub_responses *r)
{
	return r->count;
}

static struct stored *find(struct stub_responses *r, const char *id)
{
	for (size_t i = 0; id && *id && i < STUB_RESPONSES_MAX; i++)
		if (r->slots[i].response && strcmp(r->slots[i].id, id) == 0)
			return &r->slots[i];
	return NULL;
}

enum stub_responses_op stub_responses_route(const char *rest, const char *method, char *id,
                                            bool *ret_method_ok)
{
	const char *p, *slash;
	size_t len;
	bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;

	*ret_method_ok = false;
	if (strcmp(rest, "responses") == 0) {
		*ret_method_ok = post;
		return STUB_RESPONSES_CREATE;
	}
	if (strcmp(rest, "responses/input_tokens") == 0) {
		*ret_method_ok = post;
		return STUB_RESPONSES_INPUT_TOKENS;
	}
	if (strncmp(rest, "responses/", 10) != 0)
		return STUB_RESPONSES_NONE;
	p = rest + 10;
	slash = strchr(p, '/');
	len = slash ? (size_t)(slash - p) : strlen(p);
	if (len == 0 || len > STUB_RESPONSE_ID_MAX)
		return STUB_RESPONSES_NONE;
	memcpy(id, p, len);
	id[len] = '\0';
	if (!slash) {
		*ret_method_ok = get || strcmp(method, "DELETE") == 0;
		return strcmp(method, "DELETE") == 0 ? STUB_RESPONSES_DELETE : STUB_RESPONSES_GET;
	}
	if (strcmp(slash, "/cancel") == 0) {
		*ret_method_ok = post;
		return STUB_RESPONSES_CANCEL;
	}
	if (strcmp(slash, "/input_items") == 0) {
		*ret_method_ok = get;
		return STUB_RESPONSES_INPUT_ITEMS;
	}
	return STUB_RESPONSES_NONE;
}

/* OpenAI's error body. PARAM and CODE may be NULL (JSON null). */
static void error(struct evbuffer *out, const char *message, const char *param, const char *code)
{
	json_t *e = json_pack("{s:{s:s, s:s, s:o, s:o}}", "error", "message", message, "type",
	                      "invalid_request_error", "param",
	                      param ? json_string(param) : json_null(), "code",
	                      code ? json_string(code) : json_null());
	char *text = e ? json_dumps(e, JSON_COMPACT) : NULL;

	if (text)
		evbuffer_add(out, text, strlen(text));
	free(text);
	json_decref(e);
}

static int send_json(struct evbuffer *out, json_t *value)
{
	char *text = value ? json_dumps(value, JSON_COMPACT) : NULL;

	json_decref(value);
	if (!text)
		return 500;
	evbuffer_add(out, text, strlen(text));
	free(text);
	return 200;
}

static int not_found(struct evbuffer *out, const char *id)
{
	char message[160];

	snprintf(message, sizeof(message), "Response with id '%.64s' not found.", id);
	error(out, message, NULL, NULL);
	return 404;
}

/* The input as its items: a string is one user message. */
static json_t *input_items(const json_t *input, const char *prefix, unsigned long long seq)
{
	json_t *items = json_array();
	char id[80];

	snprintf(id, sizeof(id), "msg_%s%012llx0", prefix, seq);
	if (json_is_string(input)) {
		json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:s, s:[{s:s, s:O}]}", "id",
		                                       id, "type", "message", "role", "user",
		                                       "status", "completed", "content", "type",
		                                       "input_text", "text", input));
	} else if (json_is_array(input)) {
		size_t i;
		json_t *item;

		json_array_foreach(input, i, item)
		{
			json_t *copy = json_deep_copy(item);

			if (json_is_object(copy) && !json_object_get(copy, "id")) {
				snprintf(id, sizeof(id), "msg_%s%012llx%zx", prefix, seq, i + 1);
				json_object_set_new(copy, "id", json_string(id));
			}
			json_array_append_new(items, copy);
		}
	}
	return items;
}

/* The x_stub count NAME of the request ROOT (the fault fields prompt_tokens,
 * cached_tokens, reasoning_tokens; validated by stub_fault), or DFLT. */
static int stub_count(const json_t *root, const char *name, int dflt)
{
	const json_t *v = json_object_get(json_object_get(root, "x_stub"), name);

	return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

/* As OpenAI sends it: reasoning tokens are part of output_tokens, cached
 * tokens of input_tokens. */
static json_t *usage(const json_t *root, int input_tokens, int output_tokens)
{
	int in = stub_count(root, "prompt_tokens", input_tokens);
	int cached = stub_count(root, "cached_tokens", 0);
	int reasoning = stub_count(root, "reasoning_tokens", 0);

	if (cached > in)
		cached = in;
	output_tokens += reasoning;
	return json_pack("{s:i, s:{s:i}, s:i, s:{s:i}, s:i}", "input_tokens", in,
	                 "input_tokens_details", "cached_tokens", cached, "output_tokens",
	                 output_tokens, "output_tokens_details", "reasoning_tokens", reasoning,
	                 "total_tokens", in + output_tokens);
}

static json_t *message_item(const char *item_id, const char *status, const char *text)
{
	json_t *content = json_array();

	if (text)
		json_array_append_new(content,
		                      json_pack("{s:s, s:[], s:[], s:s}", "type", "output_text",
		                                "annotations", "logprobs", "text", text));
	return json_pack("{s:s, s:s, s:s, s:o, s:s}", "id", item_id, "type", "message", "status",
	                 status, "content", content, "role", "assistant");
}

static int words(const char *text)
{
	int n = 0;

	for (const char *p = text; *p; p++)
		n += *p != ' ' && (p == text || p[-1] == ' ');
	return n ? n : 1;
}

/* The response object of a create: completed (with its output), or in progress. */
static json_t *response_object(const char *id, const json_t *root, const char *model,
                               const char *status, const char *item_id, const char *text,
                               int in_tokens)
{
	const json_t *prev = json_object_get(root, "previous_response_id");
	const json_t *instructions = json_object_get(root, "instructions");
	const json_t *metadata = json_object_get(root, "metadata");
	bool completed = strcmp(status, "completed") == 0;
	json_t *output = json_array();

	if (completed)
		json_array_append_new(output, message_item(item_id, "completed", text));
	return json_pack(
	        "{s:s, s:s, s:I, s:s, s:b, s:n, s:n, s:O, s:n, s:s, s:o, s:b, s:O, s:b, s:f, "
	        "s:{s:{s:s}}, s:s, s:[], s:f, s:s, s:o, s:n, s:o}",
	        "id", id, "object", "response", "created_at", (json_int_t)time(NULL), "status",
	        status, "background", json_is_true(json_object_get(root, "background")), "error",
	        "incomplete_details", "instructions", instructions ? instructions : json_null(),
	        "max_output_tokens", "model", model, "output", output, "parallel_tool_calls", 1,
	        "previous_response_id", prev ? prev : json_null(), "store",
	        !json_is_false(json_object_get(root, "store")), "temperature", 1.0, "text",
	        "format", "type", "text", "tool_choice", "auto", "tools", "top_p", 1.0,
	        "truncation", "disabled", "usage",
	        completed ? usage(root, in_tokens, words(text)) : json_null(), "user", "metadata",
	        metadata ? json_incref((json_t *)metadata) : json_object());
}

static int create(struct stub_responses *r, const json_t *root, const char *model, const char *text,
                  int chunks, struct evbuffer *out, bool *ret_stream,
                  struct stub_responses_stream *s)
{
	const json_t *prev = json_object_get(root, "previous_response_id");
	const json_t *input = json_object_get(root, "input");
	bool background = json_is_true(json_object_get(root, "background"));
	bool stream = json_is_true(json_object_get(root, "stream"));
	bool store = !json_is_false(json_object_get(root, "store"));
	char id[STUB_RESPONSE_ID_MAX + 1], item_id[48], message[200];
	int in_tokens = 1;
	json_t *response;

	if (prev && !json_is_null(prev)) {
		if (!json_is_string(prev) || !find(r, json_string_value(prev))) {
			snprintf(message, sizeof(message),
			         "Previous response with id '%.64s' not found.",
			         json_is_string(prev) ? json_string_value(prev) : "");
			error(out, message, "previous_response_id", "previous_response_not_found");
			return 400;
		}
	}
	if (!input && !prev) {
		error(out, "Missing required parameter: 'input'.", "input",
		      "missing_required_parameter");
		return 400;
	}
	if (background && !store) {
		error(out, "Background mode requires 'store' to be true.", "background", NULL);
		return 400;
	}
	if (json_is_string(input))
		in_tokens += (int)(json_string_length(input) / 4);
	r->seq++;
	snprintf(id, sizeof(id), "resp_%s%012llx", r->prefix, r->seq);
	snprintf(item_id, sizeof(item_id), "msg_%s%012llx", r->prefix, r->seq);
	response = response_object(id, root, model, background ? "queued" : "completed", item_id,
	                           text, in_tokens);
	if (!response)
		return 500;
	if (store) {
		struct stored *slot = &r->slots[r->next];

		if (slot->response)
			r->count--;
		slot_clear(slot);
		snprintf(slot->id, sizeof(slot->id), "%s", id);
		slot->response = json_incref(response);
		slot->input = input_items(input, r->prefix, r->seq);
		slot->background = background;
		r->next = (r->next + 1) % STUB_RESPONSES_MAX;
		r->count++;
	}
	if (stream && !background) {
		*ret_stream = true;
		s->response = response;
		snprintf(s->item_id, sizeof(s->item_id), "%s", item_id);
		s->text = text;
		s->chunks = chunks;
		s->next = 0;
		return 200;
	}
	return send_json(out, response);
}

/* A stored response as read back: a background one has finished by then, unless cancelled. */
static json_t *read_back(const struct stored *st)
{
	json_t *copy = json_deep_copy(st->response);

	if (st->background)
		json_object_set_new(copy, "status",
		                    json_string(st->cancelled ? "cancelled" : "completed"));
	return copy;
}

int stub_responses_answer(struct stub_responses *r, enum stub_responses_op op, const char *id,
                          const json_t *root, const char *model, const char *text, int chunks,
                          struct evbuffer *out, bool *ret_stream, struct stub_responses_stream *s)
{
	struct stored *st = NULL;

	*ret_stream = false;
	if (op == STUB_RESPONSES_CREATE)
		return create(r, root, model, text, chunks, out, ret_stream, s);
	if (op == STUB_RESPONSES_INPUT_TOKENS) {
		char *dump = json_dumps(json_object_get(root, "input"), JSON_ENCODE_ANY);
		int n = dump ? 1 + (int)(strlen(dump) / 4) : 1;

		free(dump);
		return send_json(out, json_pack("{s:s, s:i}", "object", "response.input_tokens",
		                                "input_tokens", n));
	}
	st = find(r, id);
	if (!st)
		return not_found(out, id);
	switch (op) {
	case STUB_RESPONSES_GET:
		return send_json(out, read_back(st));
	case STUB_RESPONSES_DELETE: {
		json_t *answer =
		        json_pack("{s:s, s:s, s:b}", "id", id, "object", "response", "deleted", 1);

		slot_clear(st);
		r->count--;
		return send_json(out, answer);
	}
	case STUB_RESPONSES_CANCEL:
		if (!st->background) {
			error(out, "Only responses created with background=true can be cancelled.",
			      NULL, NULL);
			return 400;
		}
		st->cancelled = true;
		return send_json(out, read_back(st));
	case STUB_RESPONSES_INPUT_ITEMS: {
		size_t n = json_array_size(st->input);
		json_t *first = json_object_get(json_array_get(st->input, 0), "id");
		json_t *last = json_object_get(json_array_get(st->input, n ? n - 1 : 0), "id");

		return send_json(out,
		                 json_pack("{s:s, s:O, s:O, s:O, s:b}", "object", "list", "data",
		                           st->input, "first_id", first ? first : json_null(),
		                           "last_id", last ? last : json_null(), "has_more", 0));
	}
	default:
		return 500;
	}
}

/* Delta E of TEXT: its words in turn, each but the last of the stream with its space. */
static void delta(const struct stub_responses_stream *s, int e, char *buf, size_t size)
{
	int n = words(s->text), w = e % n, i = 0;
	const char *p = s->text;

	while (*p == ' ')
		p++;
	for (; i < w && *p; i++) {
		p += strcspn(p, " ");
		while (*p == ' ')
			p++;
	}
	snprintf(buf, size, "%.*s%s", (int)strcspn(p, " "), p, e + 1 < s->chunks ? " " : "");
}

static void event(struct evbuffer *out, const char *name, json_t *data)
{
	char *text = data ? json_dumps(data, JSON_COMPACT) : NULL;

	evbuffer_add_printf(out, "event: %s\ndata: %s\n\n", name, text ? text : "{}");
	free(text);
	json_decref(data);
}

static json_t *in_progress(const struct stub_responses_stream *s)
{
	json_t *copy = json_deep_copy(s->response);

	json_object_set_new(copy, "status", json_string("in_progress"));
	json_object_set_new(copy, "output", json_array());
	json_object_set_new(copy, "usage", json_null());
	return copy;
}

int stub_responses_stream_next(struct stub_responses_stream *s, struct evbuffer *out)
{
	int seq = s->next++, d = seq - 4;
	const char *text = s->text;
	char piece[256];
	json_t *part;

	if (seq == 0 || seq == 1) {
		const char *name = seq ? "response.in_progress" : "response.created";

		if (!s->in_progress) {
			json_t *copy = in_progress(s);

			s->in_progress = copy ? json_dumps(copy, JSON_COMPACT) : NULL;
			json_decref(copy);
		}
		evbuffer_add_printf(out,
		                    "event: %s\ndata: {\"type\":\"%s\",\"sequence_number\":%d,"
		                    "\"response\":%s}\n\n",
		                    name, name, seq, s->in_progress ? s->in_progress : "{}");
		return 1;
	}
	if (seq == 2) {
		event(out, "response.output_item.added",
		      json_pack("{s:s, s:i, s:i, s:o}", "type", "response.output_item.added",
		                "sequence_number", seq, "output_index", 0, "item",
		                message_item(s->item_id, "in_progress", NULL)));
		return 1;
	}
	if (seq == 3) {
		event(out, "response.content_part.added",
		      json_pack("{s:s, s:i, s:s, s:i, s:i, s:{s:s, s:[], s:[], s:s}}", "type",
		                "response.content_part.added", "sequence_number", seq, "item_id",
		                s->item_id, "output_index", 0, "content_index", 0, "part", "type",
		                "output_text", "annotations", "logprobs", "text", ""));
		return 1;
	}
	if (d < s->chunks) {
		/* the bulk of a stream: formatted directly, as cheap as the chat chunks */
		static const char tail[] = "\",\"logprobs\":[]}\n\n";

		delta(s, d, piece, sizeof(piece));
		evbuffer_add_printf(out,
		                    "event: response.output_text.delta\ndata: {\"type\":"
		                    "\"response.output_text.delta\",\"sequence_number\":%d,"
		                    "\"item_id\":\"%s\",\"output_index\":0,\"content_index\":0,"
		                    "\"delta\":\"",
		                    seq, s->item_id);
		stub_body_escape(out, piece, strlen(piece));
		evbuffer_add(out, tail, sizeof(tail) - 1);
		return 1;
	}
	d -= s->chunks;
	part = json_pack("{s:s, s:[], s:[], s:s}", "type", "output_text", "annotations", "logprobs",
	                 "text", text);
	switch (d) {
	case 0:
		json_decref(part);
		event(out, "response.output_text.done",
		      json_pack("{s:s, s:i, s:s, s:i, s:i, s:s, s:[]}", "type",
		                "response.output_text.done", "sequence_number", seq, "item_id",
		                s->item_id, "output_index", 0, "content_index", 0, "text", text,
		                "logprobs"));
		return 1;
	case 1:
		event(out, "response.content_part.done",
		      json_pack("{s:s, s:i, s:s, s:i, s:i, s:o}", "type",
		                "response.content_part.done", "sequence_number", seq, "item_id",
		                s->item_id, "output_index", 0, "content_index", 0, "part", part));
		return 1;
	case 2:
		json_decref(part);
		event(out, "response.output_item.done",
		      json_pack("{s:s, s:i, s:i, s:o}", "type", "response.output_item.done",
		                "sequence_number", seq, "output_index", 0, "item",
		                message_item(s->item_id, "completed", text)));
		return 1;
	default:
		json_decref(part);
		if (!s->completed)
			s->completed = json_dumps(s->response, JSON_COMPACT);
		evbuffer_add_printf(
		        out,
		        "event: response.completed\ndata: {\"type\":\"response.completed\","
		        "\"sequence_number\":%d,\"response\":%s}\n\n",
		        seq, s->completed ? s->completed : "{}");
		return 0;
	}
}

int stub_responses_stream_sent(const struct stub_responses_stream *s)
{
	int d = s->next - 4;

	return d < 0 ? 0 : d > s->chunks ? s->chunks : d;
}

bool stub_responses_stream_in_content(const struct stub_responses_stream *s)
{
	return s->next >= 4 && s->next - 4 <= s->chunks;
}

void stub_responses_stream_clear(struct stub_responses_stream *s)
{
	json_decref(s->response);
	free(s->completed);
	free(s->in_progress);
	s->response = NULL;
	s->completed = s->in_progress = NULL;
}
