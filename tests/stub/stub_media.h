/*
 * stub_media: the stub's images, audio and moderations endpoints, as strict as the OpenAI and
 * Azure OpenAI references: images/generations, images/edits (multipart), audio/speech (audio
 * bytes), audio/transcriptions and audio/translations (multipart; json, text, srt, vtt or
 * verbose_json answers), moderations (OpenAI only: Azure OpenAI has none).
 */
#ifndef STUB_MEDIA_H
#define STUB_MEDIA_H

#include <stdbool.h>
#include <stddef.h>

struct evbuffer;
struct stub_http_request;

enum stub_media_op {
	STUB_MEDIA_NONE = -1,
	STUB_MEDIA_IMAGES_GENERATIONS,
	STUB_MEDIA_IMAGES_EDITS,
	STUB_MEDIA_AUDIO_SPEECH,
	STUB_MEDIA_AUDIO_TRANSCRIPTIONS,
	STUB_MEDIA_AUDIO_TRANSLATIONS,
	STUB_MEDIA_MODERATIONS,
};

/* The media op of an API path's rest ("audio/speech"), or STUB_MEDIA_NONE. */
enum stub_media_op stub_media_op(const char *rest);

struct stub_media_in {
	enum stub_media_op op;
	const char *name;       /* the stub's, in the answers' text */
	bool azure;             /* an Azure path (dated or v1) */
	const char *deployment; /* Azure dated: the URL's deployment, else NULL */
	/* whether Azure has a deployment of this name (v1: the body's model names it) */
	bool (*has_deployment)(void *ctx, const char *name);
	void *ctx;
};

struct stub_media_out {
	int status;
	const char *content_type; /* static */
};

/* Decides the answer to REQ (its auth and api-version already checked) into OUT (body) and
 * RES. */
void stub_media_answer(const struct stub_media_in *in, const struct stub_http_request *req,
                       struct evbuffer *out, struct stub_media_out *res);

#endif
