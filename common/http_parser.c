/*
 * http_parser: strict HTTP/1.1 request heads and chunked bodies (see
 * http_parser.h). Used by a worker's HTTP server on every request; pure.
 *
 * Invariants: only CRLF ends a line (a bare CR or LF is an error, never a
 * line end); exactly one SP separates the request-line parts; nothing may
 * stand between a field name and its colon; a line starting with whitespace
 * (obs-fold) is an error; the body length comes from exactly one of a single
 * Content-Length or "Transfer-Encoding: chunked", never both.
 */
#include "http_parser.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "hex.h"

enum {
	CHUNK_SIZE_START,
	CHUNK_SIZE,
	CHUNK_EXT,
	CHUNK_SIZE_LF,
	CHUNK_DATA,
	CHUNK_DATA_CR,
	CHUNK_DATA_LF,
	CHUNK_TRAILER_START,
	CHUNK_TRAILER,
	CHUNK_TRAILER_LF,
	CHUNK_END_LF,
	CHUNK_DONE,
};

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

int http_scan_head(struct http_scan *scan, const char *buf, size_t len, size_t *ret_start,
                   size_t *ret_end)
{
	size_t pos = scan->pos;

	while (pos < len) {
		const char *p = buf + pos;
		const char *cr = memchr(p, '\r', len - pos);
		const char *lf = memchr(p, '\n', (size_t)((cr ? cr : buf + len) - p));

		if (lf)
			return -EBADMSG; /* an LF before any CR: bare */
		if (!cr) {
			pos = len;
			break;
		}
		pos = (size_t)(cr - buf);
		if (pos + 1 >= len)
			break; /* need the byte after the CR */
		if (buf[pos + 1] != '\n')
			return -EBADMSG;
		if (pos == scan->line_start) {
			if (scan->line_start == scan->start) {
				/* an empty line before the request line: skip it */
				scan->start = pos + 2;
			} else {
				scan->pos = scan->line_start = pos + 2;
				*ret_start = scan->start;
				*ret_end = pos + 2;
				return 0;
			}
		}
		pos += 2;
		scan->line_start = pos;
	}
	scan->pos = pos;
	return -EAGAIN;
}

static int fail(struct http_head *h, int err, const char *why)
{
	h->error = why;
	return err;
}

int http_next_line(char **p, char *end, char **ret_line, size_t *ret_len)
{
	char *line = *p;
	char *cr = memchr(line, '\r', (size_t)(end - line));

	if (!cr || cr + 1 >= end || cr[1] != '\n' || memchr(line, '\n', (size_t)(cr - line)))
		return -EBADMSG;
	*cr = '\0';
	*ret_line = line;
	*ret_len = (size_t)(cr - line);
	*p = cr + 2;
	return 0;
}

static int parse_version(struct http_head *h, const char *v, size_t len)
{
	if (len != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
	    v[7] < '0' || v[7] > '9')
		return fail(h, -EBADMSG, "malformed HTTP version");
	if (v[5] != '1')
		return fail(h, -EPROTONOSUPPORT, "unsupported HTTP version");
	h->version_minor = v[7] == '0' ? 0 : 1;
	return 0;
}

static int parse_target(struct http_head *h, char *target, size_t len)
{
	char *tend = target + len, *path = target, *q;

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)target[i] <= 0x20 || (unsigned char)target[i] >= 0x7f)
			return fail(h, -EBADMSG, "invalid byte in the request target");
	if (memchr(target, '#', len))
		return fail(h, -EBADMSG, "fragment in the request target");
	h->target = target;
	h->target_len = len;
	if (len == 1 && target[0] == '*') {
		if (strcmp(h->method, "OPTIONS") != 0)
			return fail(h, -EBADMSG, "'*' target outside OPTIONS");
		h->path = target;
		h->path_len = 1;
		return 0;
	}
	if (target[0] != '/') {
		/* absolute-form: scheme "://" authority [path] ["?" query] */
		char *authority = NULL;

		if (strncasecmp(target, "http://", 7) == 0)
			authority = target + 7;
		else if (strncasecmp(target, "https://", 8) == 0)
			authority = target + 8;
		if (!authority || authority == tend || *authority == '/' || *authority == '?')
			return fail(h, -EBADMSG, "malformed request target");
		path = authority + strcspn(authority, "/?");
	}
	q = memchr(path, '?', (size_t)(tend - path));
	if (path < tend && *path == '/') {
		h->path = path;
		h->path_len = (size_t)((q ? q : tend) - path);
	} else {
		h->path = "/";
		h->path_len = 1;
	}
	if (q) {
		h->query = q + 1;
		h->query_len = (size_t)(tend - (q + 1));
	}
	return 0;
}

static int parse_request_line(struct http_head *h, char *line, size_t len)
{
	char *sp1 = memchr(line, ' ', len), *sp2, *end = line + len;

	if (!sp1 || sp1 == line)
		return fail(h, -EBADMSG, "malformed request line");
	for (char *c = line; c < sp1; c++)
		if (!http_is_tchar((unsigned char)*c))
			return fail(h, -EBADMSG, "malformed method");
	sp2 = memchr(sp1 + 1, ' ', (size_t)(end - (sp1 + 1)));
	if (!sp2 || sp2 == sp1 + 1 || memchr(sp2 + 1, ' ', (size_t)(end - (sp2 + 1))))
		return fail(h, -EBADMSG, "malformed request line");
	*sp1 = '\0';
	*sp2 = '\0';
	h->method = line;
	h->method_len = (size_t)(sp1 - line);
	int r = parse_version(h, sp2 + 1, (size_t)(end - (sp2 + 1)));
	if (r < 0)
		return r;
	return parse_target(h, sp1 + 1, (size_t)(sp2 - (sp1 + 1)));
}

int http_parse_length(const struct http_header *f, uint64_t *ret, const char **why)
{
	uint64_t n = 0;

	*why = NULL;
	if (f->value_len == 0) {
		*why = "empty Content-Length";
		return -EBADMSG;
	}
	for (size_t i = 0; i < f->value_len; i++) {
		unsigned d = (unsigned)(f->value[i] - '0');

		if (d > 9) {
			*why = "non-numeric Content-Length";
			return -EBADMSG;
		}
		if (n > ((uint64_t)INT64_MAX - d) / 10) {
			*why = "Content-Length overflows";
			return -EBADMSG;
		}
		n = n * 10 + d;
	}
	*ret = n;
	return 0;
}

static int parse_content_length(struct http_head *h, const struct http_header *f)
{
	const char *why;
	int r = http_parse_length(f, &h->content_length, &why);

	return r < 0 ? fail(h, r, why) : 0;
}

bool http_list_has(const char *value, const char *token)
{
	size_t tlen = strlen(token);

	for (const char *p = value; *p;) {
		size_t n;

		while (*p == ',' || is_ows(*p))
			p++;
		n = strcspn(p, ",");
		while (n > 0 && is_ows(p[n - 1]))
			n--;
		if (n == tlen && strncasecmp(p, token, tlen) == 0)
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

/* Are all bytes of [P, END) field bytes? Eight at a time while no byte is
 * below 0x20 (a control, or HTAB) or 0x7f; byte by byte from there. */
static bool field_bytes(const char *p, const char *end)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;

	while (end - p >= 8) {
		uint64_t x, del;

		memcpy(&x, p, 8);
		del = x ^ (0x7f * ones);
		if ((((x - 0x20 * ones) & ~x) | ((del - ones) & ~del)) & highs)
			break;
		p += 8;
	}
	for (; p < end; p++)
		if (!http_is_field_byte((unsigned char)*p))
			return false;
	return true;
}

/* One header line LINE[0..LEN) in place into F (name and value
 * NUL-terminated, the value's blanks trimmed); -EBADMSG with *WHY set for
 * obs-fold, no or an empty name, blanks before the colon, a byte that is not
 * a tchar in the name or a field byte in the value. */
static int parse_field(char *line, size_t len, struct http_header *f, const char **why)
{
	char *end = line + len, *c = line, *v;

	*why = NULL;
	if (is_ows(line[0])) {
		*why = "obsolete line folding";
		return -EBADMSG;
	}
	/* the name: tchars up to the colon (':' is not one) */
	while (c < end && http_is_tchar((unsigned char)*c))
		c++;
	if (c == end || *c != ':') {
		/* the first byte that is not a tchar is not the colon */
		if (!memchr(c, ':', (size_t)(end - c)))
			*why = "header line without a colon";
		else if (is_ows(*c))
			*why = "whitespace before the colon of a header";
		else
			*why = "invalid byte in a header name";
		return -EBADMSG;
	}
	if (c == line) {
		*why = "empty header name";
		return -EBADMSG;
	}
	*c = '\0';
	f->name = line;
	f->name_len = (size_t)(c - line);
	if (!field_bytes(c + 1, end)) {
		*c = ':';
		*why = "invalid byte in a header value";
		return -EBADMSG;
	}
	v = c + 1;
	while (v < end && is_ows(*v))
		v++;
	while (end > v && is_ows(end[-1]))
		end--;
	*end = '\0';
	f->value = v;
	f->value_len = (size_t)(end - v);
	return 0;
}

int http_parse_fields(char *p, char *end, struct http_header *headers, size_t max_headers,
                      size_t *ret_n, const char **why)
{
	char *line;
	size_t line_len;
	int r;

	*ret_n = 0;
	for (;;) {
		/* up to the CRLF; a bare LF in the line is neither a tchar nor a
		 * field byte, so parse_field() refuses it, and it is named here */
		char *cr = memchr(p, '\r', (size_t)(end - p));

		if (!cr || cr + 1 >= end || cr[1] != '\n') {
			*why = "bare CR or LF in a header";
			return -EBADMSG;
		}
		*cr = '\0';
		line = p;
		line_len = (size_t)(cr - p);
		p = cr + 2;
		if (line_len == 0)
			break;
		if (*ret_n == max_headers) {
			if (memchr(line, '\n', line_len)) {
				*why = "bare CR or LF in a header";
				return -EBADMSG;
			}
			*why = "too many headers";
			return -EMSGSIZE;
		}
		r = parse_field(line, line_len, &headers[*ret_n], why);
		if (r < 0) {
			if (memchr(line, '\n', line_len))
				*why = "bare CR or LF in a header";
			return r;
		}
		(*ret_n)++;
	}
	if (p != end) {
		*why = "bytes after the end of the head";
		return -EBADMSG;
	}
	return 0;
}

/* Is F's name LIT (a string literal), ignoring case? Lengths first. */
#define name_is(f, lit) http_header_name_is((f)->name, (f)->name_len, lit)

/* Applies the framing and connection rules once every header is known. */
static int check_headers(struct http_head *h)
{
	const struct http_header *cl = NULL, *te = NULL;
	unsigned hosts = 0;
	bool close = false, keep = false;
	int r;

	for (size_t i = 0; i < h->n_headers; i++) {
		const struct http_header *f = &h->headers[i];

		/* name_is() compares lengths first, and the names below differ in
		 * length: one compare of bytes at most per header */
		if (name_is(f, "content-length")) {
			if (cl)
				return fail(h, -EBADMSG, "more than one Content-Length");
			cl = f;
		} else if (name_is(f, "transfer-encoding")) {
			if (te)
				return fail(h, -ENOTSUP, "more than one Transfer-Encoding");
			te = f;
		} else if (name_is(f, "host")) {
			hosts++;
		} else if (name_is(f, "connection")) {
			close |= http_list_has(f->value, "close");
			keep |= http_list_has(f->value, "keep-alive");
		} else if (name_is(f, "expect")) {
			if (strcasecmp(f->value, "100-continue") != 0)
				return fail(h, -EPROTO, "unsupported Expect");
			h->expect_continue = true;
		}
	}
	if (hosts > 1)
		return fail(h, -EBADMSG, "more than one Host");
	if (hosts == 0 && h->version_minor >= 1)
		return fail(h, -EBADMSG, "no Host in an HTTP/1.1 request");
	if (cl && te)
		return fail(h, -EBADMSG, "both Content-Length and Transfer-Encoding");
	if (te) {
		if (h->version_minor == 0)
			return fail(h, -EBADMSG, "Transfer-Encoding in an HTTP/1.0 request");
		if (strcasecmp(te->value, "chunked") != 0)
			return fail(h, -ENOTSUP, "unsupported Transfer-Encoding");
		h->body = HTTP_BODY_CHUNKED;
	} else if (cl) {
		r = parse_content_length(h, cl);
		if (r < 0)
			return r;
		h->body = h->content_length ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
	}
	h->keep_alive = !close && (h->version_minor >= 1 || keep);
	return 0;
}

int http_parse_head(char *buf, size_t len, struct http_header *headers, size_t max_headers,
                    struct http_head *ret)
{
	char *p = buf, *end = buf + len, *line;
	size_t line_len;
	int r;

	*ret = (struct http_head){.headers = headers};
	if (memchr(buf, '\0', len))
		return fail(ret, -EBADMSG, "NUL byte in the head");
	if (http_next_line(&p, end, &line, &line_len) < 0)
		return fail(ret, -EBADMSG, "bare CR or LF in the request line");
	r = parse_request_line(ret, line, line_len);
	if (r < 0)
		return r;
	r = http_parse_fields(p, end, headers, max_headers, &ret->n_headers, &ret->error);
	if (r < 0)
		return r;
	return check_headers(ret);
}

const struct http_header *http_head_find(const struct http_head *head, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < head->n_headers; i++)
		if (head->headers[i].name_len == n &&
		    http_ascii_caseeq(head->headers[i].name, name, n))
			return &head->headers[i];
	return NULL;
}

int http_parser_status(int err)
{
	switch (err) {
	case -EMSGSIZE:
		return 431;
	case -EPROTO:
		return 417;
	case -ENOTSUP:
		return 501;
	case -EPROTONOSUPPORT:
		return 505;
	default:
		return 400;
	}
}

void http_chunked_init(struct http_chunked *c)
{
	*c = (struct http_chunked){.state = CHUNK_SIZE_START};
}

int http_chunked_decode(struct http_chunked *c, const char *in, size_t in_len, size_t *ret_consumed,
                        char *out, size_t out_cap, size_t *ret_produced)
{
	size_t i = 0, o = 0;
	int r = -EAGAIN;

	while (i < in_len && r == -EAGAIN) {
		char ch = in[i];

		switch (c->state) {
		case CHUNK_SIZE_START:
		case CHUNK_SIZE: {
			int d;

			/* the digits in one loop, not one pass of the switch each */
			while ((d = hex_digit_value(ch)) >= 0) {
				if (++c->digits > 16)
					r = -EBADMSG;
				c->remaining = c->remaining << 4 | (uint64_t)d;
				c->state = CHUNK_SIZE;
				c->line_len++;
				i++;
				if (r != -EAGAIN || i == in_len)
					break;
				ch = in[i];
			}
			if (d >= 0) {
				break; /* out of input, or too many digits */
			} else if (c->state == CHUNK_SIZE_START) {
				r = -EBADMSG;
			} else if (ch == ';') {
				c->state = CHUNK_EXT;
			} else if (ch == '\r') {
				c->state = CHUNK_SIZE_LF;
			} else {
				r = -EBADMSG;
			}
			c->line_len++;
			i++;
			break;
		}
		case CHUNK_EXT:
			if (ch == '\r')
				c->state = CHUNK_SIZE_LF;
			else if (!http_is_field_byte((unsigned char)ch))
				r = -EBADMSG;
			if (++c->line_len > HTTP_PARSER_MAX_CHUNK_LINE)
				r = -EBADMSG;
			i++;
			break;
		case CHUNK_SIZE_LF:
			if (ch != '\n') {
				r = -EBADMSG;
				break;
			}
			i++;
			c->line_len = 0;
			c->digits = 0;
			c->state = c->remaining ? CHUNK_DATA : CHUNK_TRAILER_START;
			break;
		case CHUNK_DATA: {
			size_t n = in_len - i;

			if (n > c->remaining)
				n = (size_t)c->remaining;
			if (n > out_cap - o)
				n = out_cap - o;
			if (n == 0) {
				r = -ENOBUFS;
				break;
			}
			memmove(out + o, in + i, n);
			i += n;
			o += n;
			c->remaining -= n;
			if (c->remaining == 0)
				c->state = CHUNK_DATA_CR;
			break;
		}
		case CHUNK_DATA_CR:
		case CHUNK_DATA_LF:
			if (c->state == CHUNK_DATA_CR && ch == '\r' && i + 1 < in_len &&
			    in[i + 1] == '\n') {
				/* the usual case: the CRLF after the data in one step */
				i += 2;
				c->state = CHUNK_SIZE_START;
				break;
			}
			if (ch != (c->state == CHUNK_DATA_CR ? '\r' : '\n')) {
				r = -EBADMSG;
				break;
			}
			i++;
			c->state = c->state == CHUNK_DATA_CR ? CHUNK_DATA_LF : CHUNK_SIZE_START;
			break;
		case CHUNK_TRAILER_START:
			c->state = ch == '\r' ? CHUNK_END_LF : CHUNK_TRAILER;
			if (ch == '\r' || !is_ows(ch)) {
				if (ch != '\r' && !http_is_tchar((unsigned char)ch))
					r = -EBADMSG;
			} else {
				r = -EBADMSG; /* obs-fold */
			}
			c->line_len++;
			i++;
			break;
		case CHUNK_TRAILER:
			if (ch == '\r')
				c->state = CHUNK_TRAILER_LF;
			else if (!http_is_field_byte((unsigned char)ch))
				r = -EBADMSG;
			if (++c->line_len > HTTP_PARSER_MAX_TRAILERS)
				r = -EBADMSG;
			i++;
			break;
		case CHUNK_TRAILER_LF:
		case CHUNK_END_LF:
			if (ch != '\n') {
				r = -EBADMSG;
				break;
			}
			i++;
			if (c->state == CHUNK_END_LF) {
				c->state = CHUNK_DONE;
				r = 0;
			} else {
				c->state = CHUNK_TRAILER_START;
			}
			break;
		default:
			r = 0;
			break;
		}
	}
	if (r == -EAGAIN && c->state == CHUNK_DONE)
		r = 0;
	*ret_consumed = i;
	*ret_produced = o;
	return r;
}
