/*
 * stub_media: the stub's images, audio and moderations answers (see stub_media.h).
 *
 * Strict as the references: JSON bodies with their required fields (prompt; model, input and
 * voice; input), multipart/form-data bodies read by this file's own parser (not llmgate's: a
 * bug shared by both would hide itself) that demands a boundary from the Content-Type, CRLF
 * lines, a Content-Disposition with a name on every part, a file part with a file name of an
 * audio type OpenAI takes, and the closing boundary. The model must be in the body (the form's
 * `model` field for uploads) except on Azure's dated deployments path, where the URL names the
 * deployment; on Azure's v1 API it must name a deployment. Answers say what the stub received
 * (model, bytes and FNV-1a hash of the file, the mask) so tests can tell that the gateway
 * forwarded the upload untouched.
 */
#include "stub_media.h"

#include "stub_body.h"
#include "stub_http.h"

#include <event2/buffer.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MEDIA_MAX_PARTS    32
#define MEDIA_MAX_FILE     (25LL * 1024 * 1024) /* OpenAI's audio limit: 25 MB */
#define MEDIA_SPEECH_BYTES 16384
#define MEDIA_TINY_PNG_B64 \
	"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="

static const char *const op_paths[] = {
        [STUB_MEDIA_IMAGES_GENERATIONS] = "images/generations",
        [STUB_MEDIA_IMAGES_EDITS] = "images/edits",
        [STUB_MEDIA_AUDIO_SPEECH] = "audio/speech",
        [STUB_MEDIA_AUDIO_TRANSCRIPTIONS] = "audio/transcriptions",
        [STUB_MEDIA_AUDIO_TRANSLATIONS] = "audio/translations",
        [STUB_MEDIA_MODERATIONS] = "moderations",
};

enum stub_media_op stub_media_op(const char *rest)
{
	for (size_t i = 0; i < sizeof(op_paths) / sizeof(op_paths[0]); i++)
		if (strcmp(rest, op_paths[i]) == 0)
			return (enum stub_media_op)i;
	return STUB_MEDIA_NONE;
}

struct part {
	char name[128];
	char filename[256];
	bool has_filename;
	const char *data;
	size_t len;
};

static bool starts(const char *p, const char *end, const char *lit)
{
	size_t n = strlen(lit);

	return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0;
}

/* NAME="..." or NAME=token in a Content-Disposition (LINE..END) into OUT. */
static bool disposition_param(const char *line, const char *end, const char *key, char *out,
                              size_t size)
{
	size_t klen = strlen(key);

	for (const char *p = line; p + klen + 1 < end; p++) {
		size_t n = 0;

		if ((p[-1] != ' ' && p[-1] != ';') || strncasecmp(p, key, klen) != 0 ||
		    p[klen] != '=')
			continue;
		p += klen + 1;
		if (*p == '"') {
			for (p++; p < end && *p != '"' && n + 1 < size; p++)
				out[n++] = *p == '\\' && p + 1 < end ? *++p : *p;
			if (p >= end || *p != '"')
				return false;
		} else {
			for (; p < end && *p != ';' && *p != ' ' && n + 1 < size; p++)
				out[n++] = *p;
		}
		out[n] = '\0';
		return true;
	}
	return false;
}

/* Parses a whole multipart/form-data BODY; the number of parts, or -1 (WHY says why). */
static int form_parse(const char *ctype, const char *body, size_t len, struct part *parts,
                      const char **why)
{
	char delim[80] = "\r\n--", *b = delim + 4;
	const char *bp = ctype ? strcasestr(ctype, "boundary=") : NULL, *p, *end = body + len;
	size_t blen = 0, dlen;
	int n = 0;

	*why = "Content-Type must be multipart/form-data with a boundary";
	if (!ctype || strncasecmp(ctype, "multipart/form-data", 19) != 0 || !bp)
		return -1;
	bp += 9;
	if (*bp == '"')
		for (bp++; *bp && *bp != '"' && blen < 70; bp++)
			b[blen++] = *bp;
	else
		for (; *bp && *bp != ';' && *bp != ' ' && blen < 70; bp++)
			b[blen++] = *bp;
	if (blen == 0)
		return -1;
	b[blen] = '\0';
	dlen = 4 + blen;
	*why = "the body does not start with its boundary";
	if (!starts(body, end, delim + 2))
		return -1;
	p = body + dlen - 2;
	for (;;) {
		const char *head_end, *next;
		struct part *pt = &parts[n];

		if (starts(p, end, "--"))
			break; /* the closing boundary */
		*why = "a boundary line does not end in CRLF";
		if (!starts(p, end, "\r\n"))
			return -1;
		p += 2;
		*why = "a part's headers do not end";
		head_end = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
		if (!head_end)
			return -1;
		*why = "too many parts";
		if (n == MEDIA_MAX_PARTS)
			return -1;
		memset(pt, 0, sizeof(*pt));
		*why = "a part has no Content-Disposition: form-data with a name";
		for (const char *line = p; line < head_end + 2;) {
			const char *eol = memmem(line, (size_t)(head_end + 2 - line), "\r\n", 2);

			if (strncasecmp(line, "content-disposition:", 20) == 0) {
				const char *v = line + 20;

				while (*v == ' ')
					v++;
				if (strncasecmp(v, "form-data", 9) != 0 ||
				    !disposition_param(v, eol, "name", pt->name, sizeof(pt->name)))
					return -1;
				pt->has_filename = disposition_param(
				        v, eol, "filename", pt->filename, sizeof(pt->filename));
			}
			line = eol + 2;
		}
		if (!pt->name[0])
			return -1;
		pt->data = head_end + 4;
		*why = "the body has no closing boundary";
		next = memmem(pt->data, (size_t)(end - pt->data), delim, dlen);
		if (!next)
			return -1;
		pt->len = (size_t)(next - pt->data);
		n++;
		p = next + dlen;
	}
	*why = "the body has no part";
	return n > 0 ? n : -1;
}

static const struct part *field(const struct part *parts, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(parts[i].name, name) == 0)
			return &parts[i];
	return NULL;
}

static uint64_t fnv1a(const char *data, size_t len)
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)data[i]) * 1099511628211ull;
	return h;
}

static void error(struct stub_media_out *res, struct evbuffer *out, int status, const char *msg,
                  const char *param)
{
	(void)param; /* named in the message, as OpenAI does */
	res->status = status;
	res->content_type = "application/json";
	stub_body_openai_error(out, msg, "invalid_request_error", NULL);
}

/* The model of the request: the URL's deployment (Azure dated), else MODEL (from the body),
 * which Azure's v1 API needs to name a deployment. NULL: answered. */
static const char *the_model(const struct stub_media_in *in, const char *model,
                             struct evbuffer *out, struct stub_media_out *res)
{
	if (in->deployment)
		return in->deployment;
	if (!model || !*model) {
		error(res, out, 400, "you must provide a model parameter", "model");
		return NULL;
	}
	if (in->azure && !in->has_deployment(in->ctx, model)) {
		res->status = 404;
		res->content_type = "application/json";
		stub_body_status_error(out, 404, true, model);
		return NULL;
	}
	return model;
}

static void add_text(struct evbuffer *out, const char *s)
{
	stub_body_escape(out, s, strlen(s));
}

static void images_answer(const struct stub_media_in *in, struct evbuffer *out, const char *format,
                          const char *revised)
{
	evbuffer_add_printf(out, "{\"created\":%lld,\"data\":[{", (long long)time(NULL));
	if (format && strcmp(format, "url") == 0)
		evbuffer_add_printf(out, "\"url\":\"https://stub.invalid/%s/image-1.png\"",
		                    in->name);
	else
		evbuffer_add_printf(out, "\"b64_json\":\"%s\"", MEDIA_TINY_PNG_B64);
	evbuffer_add_printf(out, ",\"revised_prompt\":\"");
	add_text(out, revised);
	evbuffer_add_printf(out, "\"}]}");
}

static void generations(const struct stub_media_in *in, const json_t *root, struct evbuffer *out,
                        struct stub_media_out *res)
{
	const char *prompt = json_string_value(json_object_get(root, "prompt"));
	const char *format = json_string_value(json_object_get(root, "response_format"));
	const char *model =
	        the_model(in, json_string_value(json_object_get(root, "model")), out, res);
	char text[600];

	if (!model)
		return;
	if (!prompt || !*prompt) {
		error(res, out, 400, "Missing required parameter: 'prompt'.", "prompt");
		return;
	}
	if (format && strcmp(format, "url") != 0 && strcmp(format, "b64_json") != 0) {
		error(res, out, 400, "Invalid value for 'response_format'.", "response_format");
		return;
	}
	snprintf(text, sizeof(text), "stub %s: %s drew %.400s", in->name, model, prompt);
	images_answer(in, out, format, text);
}

static void speech(const struct stub_media_in *in, const json_t *root, struct evbuffer *out,
                   struct stub_media_out *res)
{
	static const struct {
		const char *format, *type, *magic;
	} formats[] = {
	        {"mp3", "audio/mpeg", "ID3"},     {"opus", "audio/opus", "OggS"},
	        {"aac", "audio/aac", "\xff\xf1"}, {"flac", "audio/flac", "fLaC"},
	        {"wav", "audio/wav", "RIFF"},     {"pcm", "audio/pcm", ""},
	};
	const json_t *input = json_object_get(root, "input");
	const char *voice = json_string_value(json_object_get(root, "voice"));
	const char *format = json_string_value(json_object_get(root, "response_format"));
	const char *model =
	        the_model(in, json_string_value(json_object_get(root, "model")), out, res);
	size_t i = 0, n;

	if (!model)
		return;
	if (!json_is_string(input) || json_string_length(input) == 0 ||
	    json_string_length(input) > 4096) {
		error(res, out, 400, "'input' must be a string of 1 to 4096 characters", "input");
		return;
	}
	if (!voice || !*voice) {
		error(res, out, 400, "Missing required parameter: 'voice'.", "voice");
		return;
	}
	for (; format && i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strcmp(format, formats[i].format) == 0)
			break;
	if (i == sizeof(formats) / sizeof(formats[0])) {
		error(res, out, 400, "Invalid value for 'response_format'.", "response_format");
		return;
	}
	res->content_type = formats[i].type;
	evbuffer_add_printf(out, "%sstub %s: %s said %.200s", formats[i].magic, in->name, model,
	                    json_string_value(input));
	for (n = evbuffer_get_length(out); n < MEDIA_SPEECH_BYTES; n++)
		evbuffer_add(out, (char[]){(char)(n * 31)}, 1);
}

static void moderations(const struct stub_media_in *in, const json_t *root, struct evbuffer *out,
                        struct stub_media_out *res)
{
	static const char *const categories[] = {"harassment", "hate", "self-harm", "sexual",
	                                         "violence"};
	const json_t *input = json_object_get(root, "input");
	const json_t *model = json_object_get(root, "model");
	size_t n = json_is_array(input) ? json_array_size(input) : 1;

	if (in->azure) {
		/* Azure OpenAI has no moderations endpoint */
		res->status = 404;
		stub_body_azure_error(out, "404", "Resource not found");
		return;
	}
	if (!input || (!json_is_string(input) && (!json_is_array(input) || n == 0))) {
		error(res, out, 400, "Missing required parameter: 'input'.", "input");
		return;
	}
	if (model && !json_is_string(model)) {
		error(res, out, 400, "'model' must be a string", "model");
		return;
	}
	evbuffer_add_printf(out, "{\"id\":\"modr-stub-%s\",\"model\":\"", in->name);
	add_text(out, model ? json_string_value(model) : "omni-moderation-latest");
	evbuffer_add_printf(out, "\",\"results\":[");
	for (size_t i = 0; i < n; i++) {
		evbuffer_add_printf(out, "%s{\"flagged\":false,\"categories\":{", i ? "," : "");
		for (size_t c = 0; c < sizeof(categories) / sizeof(categories[0]); c++)
			evbuffer_add_printf(out, "%s\"%s\":false", c ? "," : "", categories[c]);
		evbuffer_add_printf(out, "},\"category_scores\":{");
		for (size_t c = 0; c < sizeof(categories) / sizeof(categories[0]); c++)
			evbuffer_add_printf(out, "%s\"%s\":0.0001", c ? "," : "", categories[c]);
		evbuffer_add_printf(out, "}}");
	}
	evbuffer_add_printf(out, "]}");
}

static bool audio_file_name(const char *name)
{
	static const char *const exts[] = {".flac", ".mp3", ".mp4", ".mpeg", ".mpga",
	                                   ".m4a",  ".ogg", ".wav", ".webm"};
	size_t n = strlen(name);

	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		size_t e = strlen(exts[i]);

		if (n > e && strcasecmp(name + n - e, exts[i]) == 0)
			return true;
	}
	return false;
}

/* A form field's text value into BUF, or NULL when absent. */
static const char *value(const struct part *parts, int n, const char *name, char *buf, size_t size)
{
	const struct part *p = field(parts, n, name);

	if (!p)
		return NULL;
	snprintf(buf, size, "%.*s", (int)p->len, p->data);
	return buf;
}

static void transcription(const struct stub_media_in *in, const struct part *parts, int n,
                          struct evbuffer *out, struct stub_media_out *res)
{
	const struct part *file = field(parts, n, "file");
	char mbuf[300], fbuf[32], sbuf[8], text[800];
	const char *model, *format = value(parts, n, "response_format", fbuf, sizeof(fbuf));
	bool translate = in->op == STUB_MEDIA_AUDIO_TRANSLATIONS;

	model = value(parts, n, "model", mbuf, sizeof(mbuf));
	if (!(model = the_model(in, model, out, res)))
		return;
	if (!file || !file->has_filename) {
		error(res, out, 400, "Missing required parameter: 'file'.", "file");
		return;
	}
	if ((long long)file->len > MEDIA_MAX_FILE) {
		res->status = 413;
		stub_body_openai_error(out, "Maximum content size limit (26214400) exceeded",
		                       "invalid_request_error", NULL);
		return;
	}
	if (!audio_file_name(file->filename)) {
		error(res, out, 400,
		      "Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', 'mp4', "
		      "'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm']",
		      "file");
		return;
	}
	snprintf(text, sizeof(text), "stub %s: %s %s %zu bytes of %s (fnv1a %016llx)", in->name,
	         model, translate ? "translated" : "heard", file->len, file->filename,
	         (unsigned long long)fnv1a(file->data, file->len));
	if (!translate && value(parts, n, "stream", sbuf, sizeof(sbuf)) &&
	    strcmp(sbuf, "true") == 0) {
		/* OpenAI's transcription stream: text deltas, then the whole text */
		res->content_type = "text/event-stream; charset=utf-8";
		for (const char *w = text; *w;) {
			size_t len = strcspn(w, " ");

			len += w[len] == ' ';
			evbuffer_add_printf(out, "data: {\"type\":\"transcript.text.delta\","
			                         "\"delta\":\"");
			stub_body_escape(out, w, len);
			evbuffer_add_printf(out, "\"}\n\n");
			w += len;
		}
		evbuffer_add_printf(out, "data: {\"type\":\"transcript.text.done\",\"text\":\"");
		add_text(out, text);
		evbuffer_add_printf(out, "\"}\n\n");
		return;
	}
	if (!format || strcmp(format, "json") == 0) {
		evbuffer_add_printf(out, "{\"text\":\"");
		add_text(out, text);
		evbuffer_add_printf(out, "\"}");
	} else if (strcmp(format, "verbose_json") == 0) {
		evbuffer_add_printf(out,
		                    "{\"task\":\"%s\",\"language\":\"english\",\"duration\":1.0,"
		                    "\"text\":\"",
		                    translate ? "translate" : "transcribe");
		add_text(out, text);
		evbuffer_add_printf(out, "\",\"segments\":[]}");
	} else if (strcmp(format, "text") == 0) {
		res->content_type = "text/plain; charset=utf-8";
		evbuffer_add_printf(out, "%s\n", text);
	} else if (strcmp(format, "srt") == 0) {
		res->content_type = "text/plain; charset=utf-8";
		evbuffer_add_printf(out, "1\n00:00:00,000 --> 00:00:01,000\n%s\n\n", text);
	} else if (strcmp(format, "vtt") == 0) {
		res->content_type = "text/plain; charset=utf-8";
		evbuffer_add_printf(out, "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n%s\n\n", text);
	} else {
		error(res, out, 400, "Invalid value for 'response_format'.", "response_format");
	}
}

static void edits(const struct stub_media_in *in, const struct part *parts, int n,
                  struct evbuffer *out, struct stub_media_out *res)
{
	const struct part *image = field(parts, n, "image"), *mask = field(parts, n, "mask");
	char mbuf[300], pbuf[400], mtext[320], text[1600];
	const char *model = value(parts, n, "model", mbuf, sizeof(mbuf));
	const char *prompt = value(parts, n, "prompt", pbuf, sizeof(pbuf));

	if (!image)
		image = field(parts, n, "image[]");
	if (!(model = the_model(in, model, out, res)))
		return;
	if (!image || !image->has_filename) {
		error(res, out, 400, "Missing required parameter: 'image'.", "image");
		return;
	}
	if (!prompt || !*prompt) {
		error(res, out, 400, "Missing required parameter: 'prompt'.", "prompt");
		return;
	}
	if (mask && !mask->has_filename) {
		error(res, out, 400, "'mask' must be a file", "mask");
		return;
	}
	if (mask)
		snprintf(mtext, sizeof(mtext), " with mask %s (%zu bytes)", mask->filename,
		         mask->len);
	snprintf(text, sizeof(text), "stub %s: %s edited %s (%zu bytes)%s: %s", in->name, model,
	         image->filename, image->len, mask ? mtext : "", prompt);
	images_answer(in, out, NULL, text);
}

void stub_media_answer(const struct stub_media_in *in, const struct stub_http_request *req,
                       struct evbuffer *out, struct stub_media_out *res)
{
	static struct part parts[MEDIA_MAX_PARTS];
	bool form = in->op == STUB_MEDIA_IMAGES_EDITS ||
	            in->op == STUB_MEDIA_AUDIO_TRANSCRIPTIONS ||
	            in->op == STUB_MEDIA_AUDIO_TRANSLATIONS;
	const char *ctype = stub_http_header(req, "content-type");

	res->status = 200;
	res->content_type = "application/json";
	if (form) {
		const char *why;
		int n = form_parse(ctype, req->body, req->body_len, parts, &why);

		if (n < 0) {
			error(res, out, 400, why, NULL);
			return;
		}
		if (in->op == STUB_MEDIA_IMAGES_EDITS)
			edits(in, parts, n, out, res);
		else
			transcription(in, parts, n, out, res);
		return;
	}
	json_t *root = json_loadb(req->body, req->body_len, 0, NULL);

	if (!json_is_object(root) || !ctype || strncasecmp(ctype, "application/json", 16) != 0) {
		error(res, out, 400, "the body must be a JSON object sent as application/json",
		      NULL);
	} else if (in->op == STUB_MEDIA_IMAGES_GENERATIONS) {
		generations(in, root, out, res);
	} else if (in->op == STUB_MEDIA_AUDIO_SPEECH) {
		speech(in, root, out, res);
	} else {
		moderations(in, root, out, res);
	}
	json_decref(root);
}
