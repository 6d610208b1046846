/*
 * stub_responses: the stub's OpenAI Responses API (POST /v1/responses, GET/DELETE
 * /v1/responses/{id}, POST /v1/responses/{id}/cancel, GET /v1/responses/{id}/input_items,
 * POST /v1/responses/input_tokens), shaped as OpenAI documents it: the response object, the
 * named-event stream (response.created ... response.completed, sequence_number from 0, no
 * [DONE]), the stored responses by id and their errors. Each stub remembers only the responses it
 * created, so a request for another's id answers 404 and a previous_response_id it does not
 * know 400 previous_response_not_found, as the real API does across accounts and resources.
 */
#ifndef STUB_RESPONSES_H
#define STUB_RESPONSES_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct evbuffer;

#define STUB_RESPONSES_MAX   4096 /* stored responses; the oldest goes first */
#define STUB_RESPONSE_ID_MAX 64

enum stub_responses_op {
	STUB_RESPONSES_NONE,
	STUB_RESPONSES_CREATE,       /* POST responses */
	STUB_RESPONSES_INPUT_TOKENS, /* POST responses/input_tokens */
	STUB_RESPONSES_GET,          /* GET responses/{id} */
	STUB_RESPONSES_DELETE,       /* DELETE responses/{id} */
	STUB_RESPONSES_CANCEL,       /* POST responses/{id}/cancel */
	STUB_RESPONSES_INPUT_ITEMS,  /* GET responses/{id}/input_items */
};

struct stub_responses;

/* A store whose ids carry NAME's random prefix (unique per stub). */
int stub_responses_new(struct stub_responses **ret);
void stub_responses_free(struct stub_responses *r);
/* Responses stored now. */
size_t stub_responses_count(const struct stub_responses *r);

/* The op that REST (the path after the API root: "responses...") and METHOD name, with the id
 * in ID (STUB_RESPONSE_ID_MAX + 1 bytes); NONE when REST is no Responses path. *RET_METHOD_OK
 * tells whether METHOD is the op's. */
enum stub_responses_op stub_responses_route(const char *rest, const char *method, char *id,
                                            bool *ret_method_ok);

/* A stream of a created response, event by event. */
struct stub_responses_stream {
	json_t *response;  /* the completed response object */
	char *completed;   /* its JSON, made once */
	char *in_progress; /* the JSON of it in progress, made once */
	char item_id[48];
	const char *text;
	int chunks; /* output_text.delta events */
	int next;   /* the next event's sequence_number */
};

/*
 * Answers OP. ROOT: the request's JSON body (create, input_tokens); MODEL its model (or the
 * deployment); TEXT the assistant's answer; CHUNKS the deltas of a stream. Writes the status
 * and, unless a stream starts (*RET_STREAM, then S is set up and owns a reference), the JSON body
 * into OUT.
 */
int stub_responses_answer(struct stub_responses *r, enum stub_responses_op op, const char *id,
                          const json_t *root, const char *model, const char *text, int chunks,
                          struct evbuffer *out, bool *ret_stream, struct stub_responses_stream *s);

/* Appends the next event of S ("event: NAME\ndata: {...}\n\n"); 0 after response.completed. */
int stub_responses_stream_next(struct stub_responses_stream *s, struct evbuffer *out);
/* Delta events produced so far, and whether the next event is a delta (what cut_after cuts). */
int stub_responses_stream_sent(const struct stub_responses_stream *s);
bool stub_responses_stream_in_content(const struct stub_responses_stream *s);
void stub_responses_stream_clear(struct stub_responses_stream *s);

#endif
