/*
 * proxy_form: admission's read of an upload's multipart/form-data body (see
 * proxy_form.h). Runs in a worker, on the request path, over the body the
 * HTTP server has read; the parser (common/multipart.c) hands out pieces of
 * the body without copying them, and only the `model` and `stream` fields'
 * values are kept (bounded). An upload the server spooled to a file is read
 * from it in pieces (pread into one 64 KiB buffer of the worker's), so a form
 * of tens of MB is read once and never held in memory.
 */
#include "proxy_form.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "multipart.h"

struct scan {
	struct proxy_form *form;
	char *model;
	size_t model_cap;
	size_t model_len;
	char stream[8];
	size_t stream_len;
	enum { FIELD_OTHER, FIELD_MODEL, FIELD_STREAM } field;
	bool stream_seen;
	const char *why;
};

static int on_part(void *ctx, const struct multipart_part *part)
{
	struct scan *s = ctx;

	s->field = FIELD_OTHER;
	if (strcmp(part->name, "model") == 0) {
		if (s->form->has_model) {
			s->why = "the form has two 'model' fields";
			return -EBADMSG;
		}
		s->form->has_model = true;
		s->form->model_at = (size_t)part->offset;
		s->field = FIELD_MODEL;
	} else if (strcmp(part->name, "stream") == 0) {
		s->field = FIELD_STREAM;
		s->stream_seen = true;
		s->stream_len = 0;
	}
	return 0;
}

static int on_data(void *ctx, const char *data, size_t len, uint64_t offset)
{
	struct scan *s = ctx;

	(void)offset;
	if (s->field == FIELD_MODEL) {
		if (s->model_len + len >= s->model_cap) {
			s->why = "the form's 'model' is too long";
			return -EBADMSG;
		}
		memcpy(s->model + s->model_len, data, len);
		s->model_len += len;
	} else if (s->field == FIELD_STREAM) {
		size_t room = sizeof(s->stream) - 1 - s->stream_len;

		memcpy(s->stream + s->stream_len, data, len < room ? len : room);
		s->stream_len += len < room ? len : room;
	}
	return 0;
}

static int on_part_end(void *ctx, uint64_t offset)
{
	struct scan *s = ctx;

	if (s->field == FIELD_MODEL)
		s->form->model_len = (size_t)offset - s->form->model_at;
	s->field = FIELD_OTHER;
	return 0;
}

/* Feeds the body to M: from memory (BODY), else from FD. */
static int feed(struct multipart *m, const char *body, int fd, size_t len,
                const struct multipart_callbacks *cb, struct scan *s)
{
	static __thread char buf[64 * 1024];
	size_t off = 0;

	if (body)
		return multipart_feed(m, body, len, cb, s);
	while (off < len) {
		size_t want = len - off < sizeof(buf) ? len - off : sizeof(buf);
		ssize_t n = pread(fd, buf, want, (off_t)off);
		int r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			s->why = "cannot read the spooled request body";
			return -EIO;
		}
		r = multipart_feed(m, buf, (size_t)n, cb, s);
		if (r != 0)
			return r;
		off += (size_t)n;
	}
	return 0;
}

static int scan(const char *body, int fd, size_t len, const char *content_type,
                struct proxy_form *form, char *model, size_t model_cap, bool *ret_stream,
                const char **ret_why)
{
	static const struct multipart_callbacks callbacks = {on_part, on_data, on_part_end};
	static __thread struct multipart m; /* 8 KiB: not on the stack */
	struct scan s = {.form = form, .model = model, .model_cap = model_cap};
	int r;

	memset(form, 0, sizeof(*form));
	form->content_type = content_type;
	*ret_stream = false;
	model[0] = '\0';
	if (multipart_boundary(content_type, form->boundary, ret_why) < 0)
		return -EINVAL;
	multipart_init(&m, form->boundary);
	r = feed(&m, body, fd, len, &callbacks, &s);
	if (r == 0)
		r = multipart_finish(&m);
	if (r != 0) {
		*ret_why = s.why ? s.why : m.error;
		return r == -EIO ? -EIO : -EBADMSG;
	}
	form->first = (size_t)multipart_first_offset(&m);
	model[s.model_len] = '\0';
	if (memchr(model, '\0', s.model_len)) {
		*ret_why = "the form's 'model' contains a NUL character";
		return -EBADMSG;
	}
	s.stream[s.stream_len] = '\0';
	*ret_stream = s.stream_seen && strcmp(s.stream, "true") == 0;
	*ret_why = NULL;
	return 0;
}

int proxy_form_scan(const char *body, size_t len, const char *content_type, struct proxy_form *form,
                    char *model, size_t model_cap, bool *ret_stream, const char **ret_why)
{
	return scan(body, -1, len, content_type, form, model, model_cap, ret_stream, ret_why);
}

int proxy_form_scan_file(int fd, size_t len, const char *content_type, struct proxy_form *form,
                         char *model, size_t model_cap, bool *ret_stream, const char **ret_why)
{
	return scan(NULL, fd, len, content_type, form, model, model_cap, ret_stream, ret_why);
}
