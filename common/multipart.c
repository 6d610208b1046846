/*
 * multipart: the streaming multipart/form-data parser (see multipart.h).
 * Pure and bounded: the state is one struct with a part-header buffer of
 * MULTIPART_MAX_PART_HEAD bytes; run by the worker on the request path and by
 * its unit test and fuzz target.
 *
 * The body is read as if it began with CRLF, so that the first delimiter
 * (which may open the body, RFC 2046 5.1.1) is found like every other one:
 * "\r\n--" boundary. Bytes that might be the start of a delimiter are held
 * only as a count (they are the delimiter's own first bytes); when the match
 * fails they are handed out from the delimiter string. A boundary has no CR
 * (bchars), so after a failed match only the current byte can start a new
 * one.
 */
#include "multipart.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool bchar(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("'()+_,-./:=? ", c) != NULL);
}

static bool tchar(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static const char *skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

int multipart_boundary(const char *content_type, char *boundary, const char **ret_why)
{
	static const char type[] = "multipart/form-data";
	const char *p = skip_ows(content_type ? content_type : "");
	bool found = false;

	*ret_why = "the Content-Type is not multipart/form-data";
	if (strncasecmp(p, type, sizeof(type) - 1) != 0)
		return -EINVAL;
	p = skip_ows(p + sizeof(type) - 1);
	while (*p == ';') {
		const char *key = skip_ows(p + 1), *v;
		size_t klen = 0, n = 0;
		char value[MULTIPART_MAX_BOUNDARY + 2];

		while (tchar(key[klen]))
			klen++;
		v = skip_ows(key + klen);
		*ret_why = "the Content-Type has a malformed parameter";
		if (klen == 0 || *v != '=')
			return -EINVAL;
		v = skip_ows(v + 1);
		if (*v == '"') {
			for (v++; *v && *v != '"'; v++) {
				if (*v == '\\' && v[1])
					v++;
				if (n <= MULTIPART_MAX_BOUNDARY)
					value[n] = *v;
				n++;
			}
			if (*v != '"')
				return -EINVAL;
			v++;
		} else {
			for (; tchar(*v); v++) {
				if (n <= MULTIPART_MAX_BOUNDARY)
					value[n] = *v;
				n++;
			}
		}
		p = skip_ows(v);
		if (*p && *p != ';')
			return -EINVAL;
		if (klen != 8 || strncasecmp(key, "boundary", 8) != 0)
			continue;
		*ret_why = "the Content-Type names its boundary twice";
		if (found)
			return -EINVAL;
		*ret_why = "the multipart boundary is not 1 to 70 valid characters";
		if (n == 0 || n > MULTIPART_MAX_BOUNDARY || value[n - 1] == ' ')
			return -EINVAL;
		for (size_t i = 0; i < n; i++)
			if (!bchar(value[i]))
				return -EINVAL;
		memcpy(boundary, value, n);
		boundary[n] = '\0';
		found = true;
	}
	*ret_why = found ? "the Content-Type is malformed" : "the Content-Type has no boundary";
	if (*p || !found)
		return -EINVAL;
	*ret_why = NULL;
	return 0;
}

void multipart_init(struct multipart *m, const char *boundary)
{
	size_t n = strnlen(boundary, MULTIPART_MAX_BOUNDARY);

	m->delim_len = 4 + n;
	memcpy(m->delim, "\r\n--", 4);
	memcpy(m->delim + 4, boundary, n);
	m->delim[m->delim_len] = '\0';
	m->match = 2; /* the body reads as if it began with CRLF */
	m->state = MULTIPART_PREAMBLE;
	m->pos = 0;
	m->first = 0;
	m->after = 0;
	m->head_len = 0;
	m->parts = 0;
	m->error = NULL;
}

static int fail(struct multipart *m, int err, const char *why)
{
	m->error = why;
	return err;
}

/* One parameter value at *P (a token or a quoted string, unescaped) into
 * OUT (room for MULTIPART_MAX_NAME + 1 bytes); *P moves past it. The
 * value's whole length, or -1 when malformed. */
static long param_value(const char **p, char *out)
{
	const char *r = *p;
	size_t n = 0;

	if (*r == '"') {
		for (r++; *r && *r != '"'; r++) {
			if (*r == '\\' && r[1])
				r++;
			if (n < MULTIPART_MAX_NAME)
				out[n] = *r;
			n++;
		}
		if (*r != '"')
			return -1;
		r++;
	} else {
		for (; tchar(*r); r++) {
			if (n < MULTIPART_MAX_NAME)
				out[n] = *r;
			n++;
		}
		if (n == 0)
			return -1;
	}
	out[n < MULTIPART_MAX_NAME ? n : MULTIPART_MAX_NAME] = '\0';
	*p = r;
	return (long)n;
}

/* Parses a Content-Disposition value LINE into PART (its strings in M). */
static const char *disposition(struct multipart *m, const char *line, struct multipart_part *part)
{
	const char *p = skip_ows(line);

	if (strncasecmp(p, "form-data", 9) != 0 || tchar(p[9]))
		return "a part's Content-Disposition is not form-data";
	p = skip_ows(p + 9);
	while (*p == ';') {
		const char *key = skip_ows(p + 1);
		char scratch[MULTIPART_MAX_NAME + 1], *out = scratch;
		size_t klen = 0;
		long n;

		while (tchar(key[klen]))
			klen++;
		p = skip_ows(key + klen);
		if (klen == 0 || *p != '=')
			return "a part's Content-Disposition has a malformed parameter";
		p = skip_ows(p + 1);
		if (klen == 4 && strncasecmp(key, "name", 4) == 0) {
			if (part->name)
				return "a part's Content-Disposition names it twice";
			out = m->name;
		} else if (klen == 8 && strncasecmp(key, "filename", 8) == 0) {
			if (part->filename)
				return "a part's Content-Disposition has two file names";
			out = m->filename;
		}
		n = param_value(&p, out);
		if (n < 0)
			return "a part's Content-Disposition has a malformed parameter";
		if (n > MULTIPART_MAX_NAME)
			return "a part's name or file name is over 255 bytes";
		if (out == m->name)
			part->name = m->name;
		else if (out == m->filename)
			part->filename = m->filename;
		p = skip_ows(p);
	}
	if (*p)
		return "a part's Content-Disposition is malformed";
	if (!part->name || !part->name[0])
		return "a part has no field name (Content-Disposition name)";
	return NULL;
}

/* The part's header lines are in m->head (ending with an empty line):
 * parses them in place. */
static const char *parse_head(struct multipart *m, struct multipart_part *part)
{
	char *p = m->head, *end = m->head + m->head_len - 2; /* the empty line's CRLF */
	bool seen = false;

	*part = (struct multipart_part){0};
	while (p < end) {
		char *eol = memchr(p, '\r', (size_t)(end - p)), *colon, *value;
		size_t nlen = 0;

		/* every line ends in CRLF: the scan in multipart_feed made sure */
		*eol = '\0';
		while (tchar(p[nlen]))
			nlen++;
		colon = p + nlen;
		if (nlen == 0 || *colon != ':')
			return "a part has a malformed header line";
		value = (char *)skip_ows(colon + 1);
		for (char *t = eol; t > value && (t[-1] == ' ' || t[-1] == '\t'); t--)
			t[-1] = '\0';
		for (const char *c = value; *c; c++)
			if ((unsigned char)*c < 0x20 && *c != '\t')
				return "a part's header has a control character";
		if (nlen == 19 && strncasecmp(p, "content-disposition", 19) == 0) {
			const char *why;

			if (seen)
				return "a part has two Content-Disposition headers";
			seen = true;
			why = disposition(m, value, part);
			if (why)
				return why;
		} else if (nlen == 12 && strncasecmp(p, "content-type", 12) == 0) {
			part->content_type = value;
		}
		p = eol + 2;
	}
	if (!seen)
		return "a part has no Content-Disposition";
	return NULL;
}

/* One byte of a part's header lines. 1: the headers are whole. */
static int head_byte(struct multipart *m, char c)
{
	size_t n = m->head_len;

	if (n == sizeof(m->head))
		return fail(m, MULTIPART_E2BIG, "a part's headers are over 8192 bytes");
	if (c == '\n' && (n == 0 || m->head[n - 1] != '\r'))
		return fail(m, MULTIPART_EBADMSG, "a bare LF in a part's headers");
	if (n > 0 && m->head[n - 1] == '\r' && c != '\n')
		return fail(m, MULTIPART_EBADMSG, "a bare CR in a part's headers");
	if (c == '\0')
		return fail(m, MULTIPART_EBADMSG, "a NUL in a part's headers");
	if (n == 0 && (c == ' ' || c == '\t'))
		return fail(m, MULTIPART_EBADMSG, "a part's headers start with white space");
	if (n >= 2 && m->head[n - 1] == '\n' && (c == ' ' || c == '\t'))
		return fail(m, MULTIPART_EBADMSG, "a folded header line in a part");
	m->head[m->head_len++] = c;
	n++;
	if (c != '\n')
		return 0;
	return n == 2 || (n >= 4 && memcmp(m->head + n - 4, "\r\n\r\n", 4) == 0);
}

/* The byte after a delimiter's boundary. */
static int after_byte(struct multipart *m, char c)
{
	switch (m->after) {
	case 0:
		if (c == '-') {
			m->after = '-';
			return 0;
		}
		/* padding or CR */
		__attribute__((fallthrough));
	case ' ':
		if (c == ' ' || c == '\t') {
			m->after = ' ';
			return 0;
		}
		if (c == '\r') {
			m->after = '\r';
			return 0;
		}
		return fail(
		        m, MULTIPART_EBADMSG,
		        "a multipart boundary is followed by something other than CRLF or '--'");
	case '-':
		if (c != '-')
			return fail(m, MULTIPART_EBADMSG,
			            "a multipart boundary is followed by one '-'");
		if (m->parts == 0)
			return fail(m, MULTIPART_EBADMSG, "the multipart body has no part");
		m->state = MULTIPART_EPILOGUE;
		return 0;
	default: /* '\r' */
		if (c != '\n')
			return fail(m, MULTIPART_EBADMSG, "a bare CR after a multipart boundary");
		m->state = MULTIPART_HEADERS;
		m->head_len = 0;
		return 0;
	}
}

static int emit(const struct multipart_callbacks *cb, void *ctx, const char *data, size_t len,
                uint64_t offset)
{
	return len && cb->on_data ? cb->on_data(ctx, data, len, offset) : 0;
}

int multipart_feed(struct multipart *m, const char *data, size_t len,
                   const struct multipart_callbacks *cb, void *ctx)
{
	const uint64_t base = m->pos;
	size_t run = 0; /* BODY: start of the data not handed out yet */
	int r;

	for (size_t i = 0; i < len; i++) {
		if (m->match == 0 &&
		    (m->state == MULTIPART_BODY || m->state == MULTIPART_PREAMBLE)) {
			/* data: on to the next byte that may start a delimiter (an
			 * upload's file part is megabytes of it) */
			const char *hit = memchr(data + i, m->delim[0], len - i);

			if (!hit)
				break;
			i = (size_t)(hit - data);
		}
		char c = data[i];

		m->pos = base + i + 1;
		switch (m->state) {
		case MULTIPART_PREAMBLE:
		case MULTIPART_BODY:
			if (c == m->delim[m->match]) {
				if (m->match == 0 && m->state == MULTIPART_BODY) {
					r = emit(cb, ctx, data + run, i - run, base + run);
					if (r)
						return r;
				}
				if (++m->match < m->delim_len)
					continue;
				/* a whole delimiter */
				m->match = 0;
				m->after = 0;
				if (m->state == MULTIPART_BODY) {
					if (cb->on_part_end &&
					    (r = cb->on_part_end(ctx, base + i + 1 - m->delim_len)))
						return r;
				} else {
					m->first = base + i + 1 - (m->delim_len - 2);
				}
				m->state = MULTIPART_AFTER_BOUNDARY;
				continue;
			}
			if (m->match == 0)
				continue;
			if (m->state == MULTIPART_BODY) {
				/* the held bytes were data after all */
				r = emit(cb, ctx, m->delim, m->match, base + i - m->match);
				if (r)
					return r;
			}
			m->match = c == m->delim[0];
			run = m->match ? i + 1 : i;
			continue;
		case MULTIPART_AFTER_BOUNDARY:
			if ((r = after_byte(m, c)))
				return r;
			continue;
		case MULTIPART_HEADERS: {
			struct multipart_part part;
			const char *why;

			r = head_byte(m, c);
			if (r < 0)
				return r;
			if (r == 0)
				continue;
			why = parse_head(m, &part);
			if (why)
				return fail(m, MULTIPART_EBADMSG, why);
			part.offset = base + i + 1;
			m->parts++;
			m->state = MULTIPART_BODY;
			m->match = 0;
			run = i + 1;
			if (cb->on_part && (r = cb->on_part(ctx, &part)))
				return r;
			continue;
		}
		case MULTIPART_EPILOGUE:
			m->pos = base + len;
			return 0;
		}
	}
	m->pos = base + len;
	if (m->state == MULTIPART_BODY && m->match == 0)
		return emit(cb, ctx, data + run, len - run, base + run);
	return 0;
}

int multipart_finish(struct multipart *m)
{
	if (m->state == MULTIPART_EPILOGUE)
		return 0;
	return fail(m, MULTIPART_EBADMSG,
	            m->parts ? "the multipart body is truncated (no closing boundary)"
	                     : "the multipart body has no part");
}
