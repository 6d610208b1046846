/*
 * stub_body: the JSON the stub answers with, shaped like OpenAI's and Azure OpenAI's own
 * responses, error bodies and stream events.
 */
#ifndef STUB_BODY_H
#define STUB_BODY_H

#include <stdbool.h>
#include <stddef.h>

struct evbuffer;

enum stub_body_op { STUB_BODY_CHAT, STUB_BODY_COMPLETIONS, STUB_BODY_EMBEDDINGS, STUB_BODY__COUNT };

struct stub_body_info {
	enum stub_body_op op;
	bool azure;
	const char *id; /* chatcmpl-... or cmpl-... */
	long long created;
	const char *model;
	const char *message; /* the assistant's whole text */
	int prompt_tokens;
	int cached_tokens;    /* of prompt_tokens (prompt_tokens_details) */
	int reasoning_tokens; /* added to the completion tokens (completion_tokens_details) */
	int inputs;           /* embeddings: vectors in the answer */
	int dimensions;       /* embeddings: length of each vector */
	bool base64;          /* embeddings: encoding_format "base64" */
};

/* A stream in progress: events are produced one at a time by stub_body_stream_next(). */
struct stub_body_stream {
	const struct stub_body_info *info;
	int chunks; /* chunks of content, one token each */
	bool include_usage;
	int next; /* index of the next event */
};

const char *stub_body_op_name(enum stub_body_op op);

/* Appends s as the inside of a JSON string literal. */
void stub_body_escape(struct evbuffer *out, const char *s, size_t len);

void stub_body_reply(struct evbuffer *out, const struct stub_body_info *info);
int stub_body_word_count(const char *message);

/* Appends one "data: ...\n\n" event; returns 0 after the final "data: [DONE]", else 1. */
int stub_body_stream_next(struct stub_body_stream *s, struct evbuffer *out);
/* Content chunks already produced. */
int stub_body_stream_sent(const struct stub_body_stream *s);
/* Whether the next event is a content chunk or the finish_reason chunk (what cut_after cuts). */
bool stub_body_stream_in_content(const struct stub_body_stream *s);

/* {"error":{"message","type","param":null,"code"}}; type and code may be NULL (JSON null). */
void stub_body_openai_error(struct evbuffer *out, const char *message, const char *type,
                            const char *code);
/* {"error":{"code","message"}} */
void stub_body_azure_error(struct evbuffer *out, const char *code, const char *message);
/* 401 as OpenAI or Azure send it; key is what the client presented, NULL when it sent none. */
void stub_body_auth_error(struct evbuffer *out, bool azure, const char *key);
/* A realistic error body for an injected HTTP status. */
void stub_body_status_error(struct evbuffer *out, int status, bool azure, const char *model);

#endif
