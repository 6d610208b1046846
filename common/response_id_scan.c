/*
 * response_id_scan: the response id in a Responses body or at the start of a
 * Responses stream (see response_id_scan.h). Runs in a worker on answers it
 * relays; pure.
 *
 * A small skipping JSON walker: it reads the keys of one object and skips
 * every value it does not want (strings with their escapes, nested objects
 * and arrays by depth, scalars up to their delimiter). The region it walks
 * ends where the input ends or, in a stream, where the data line ends;
 * running off a region that may still grow answers "more" (-EAGAIN).
 */
#include "response_id_scan.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define FOUND 0
#define NONE  (-ENOENT)
#define MORE  (-EAGAIN)

struct walk {
	const char *p, *end;
	bool growing; /* END is only where the bytes received so far end */
};

static int ran_out(const struct walk *w)
{
	return w->growing ? MORE : NONE;
}

static void skip_ws(struct walk *w)
{
	while (w->p < w->end && (*w->p == ' ' || *w->p == '\t' || *w->p == '\n' || *w->p == '\r'))
		w->p++;
}

/* At a '"': moves past the closing quote; *RET_ESCAPED when it holds a
 * backslash. */
static int skip_string(struct walk *w, bool *ret_escaped)
{
	*ret_escaped = false;
	for (w->p++; w->p < w->end; w->p++) {
		if (*w->p == '\\') {
			*ret_escaped = true;
			w->p++;
		} else if (*w->p == '"') {
			w->p++;
			return FOUND;
		}
	}
	return ran_out(w);
}

static int skip_value(struct walk *w)
{
	unsigned long depth = 0;
	bool escaped;
	int r;

	skip_ws(w);
	if (w->p >= w->end)
		return ran_out(w);
	if (*w->p != '{' && *w->p != '[' && *w->p != '"') {
		/* a number or a literal: up to its delimiter */
		while (w->p < w->end && !memchr(",}] \t\r\n", *w->p, 7))
			w->p++;
		return w->p < w->end ? FOUND : ran_out(w);
	}
	do {
		if (w->p >= w->end)
			return ran_out(w);
		switch (*w->p) {
		case '"':
			r = skip_string(w, &escaped);
			if (r < 0)
				return r;
			continue;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (depth == 0)
				return NONE;
			depth--;
			break;
		default:
			break;
		}
		w->p++;
	} while (depth > 0);
	return FOUND;
}

static bool id_byte(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

bool response_id_valid(const char *id, size_t len)
{
	if (len == 0 || len > RESPONSE_AFFINITY_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!id_byte(id[i]))
			return false;
	return true;
}

/* At a value that should be the id: FOUND with it, NONE when it is no id. */
static int read_id(struct walk *w, const char **ret_id, size_t *ret_len)
{
	const char *start;
	bool escaped;
	int r;

	if (*w->p != '"')
		return NONE;
	start = w->p + 1;
	r = skip_string(w, &escaped);
	if (r < 0)
		return r;
	*ret_len = (size_t)(w->p - 1 - start);
	*ret_id = start;
	return !escaped && response_id_valid(start, *ret_len) ? FOUND : NONE;
}

/* The member KEY of the object at W: FOUND with W at its value, NONE when
 * the object ends without it. TYPE, when given, is set to the bytes of a
 * "type" string member met on the way (TYPE_LEN 0 when escaped). */
static int find_member(struct walk *w, const char *key, const char **type, size_t *type_len)
{
	size_t key_len = strlen(key);

	skip_ws(w);
	if (w->p >= w->end)
		return ran_out(w);
	if (*w->p != '{')
		return NONE;
	w->p++;
	for (;;) {
		const char *name;
		bool escaped;
		size_t len;
		int r;

		skip_ws(w);
		if (w->p >= w->end)
			return ran_out(w);
		if (*w->p != '"')
			return NONE; /* '}' or garbage: no such member */
		name = w->p + 1;
		r = skip_string(w, &escaped);
		if (r < 0)
			return r;
		len = (size_t)(w->p - 1 - name);
		skip_ws(w);
		if (w->p >= w->end)
			return ran_out(w);
		if (*w->p != ':')
			return NONE;
		w->p++;
		skip_ws(w);
		if (w->p >= w->end)
			return ran_out(w);
		if (!escaped && len == key_len && memcmp(name, key, len) == 0)
			return FOUND;
		if (type && !escaped && len == 4 && memcmp(name, "type", 4) == 0 && *w->p == '"') {
			*type = w->p + 1;
			r = skip_string(w, &escaped);
			if (r < 0)
				return r;
			*type_len = escaped ? 0 : (size_t)(w->p - 1 - *type);
		} else {
			r = skip_value(w);
			if (r < 0)
				return r;
		}
		skip_ws(w);
		if (w->p >= w->end)
			return ran_out(w);
		if (*w->p != ',')
			return NONE;
		w->p++;
	}
}

int response_id_scan_body(const char *buf, size_t len, const char **ret_id, size_t *ret_len)
{
	struct walk w = {buf, buf + len, false};
	int r = find_member(&w, "id", NULL, NULL);

	return r == FOUND ? read_id(&w, ret_id, ret_len) : NONE;
}

static bool is(const char *s, size_t len, const char *word)
{
	return len == strlen(word) && memcmp(s, word, len) == 0;
}

/* The data line of the first event (its value from P to the line's end):
 * its "response"."id". */
static int scan_data(const char *p, const char *end, bool growing, const char **ret_id,
                     size_t *ret_len)
{
	struct walk w = {p, end, growing};
	const char *type = NULL;
	size_t type_len = 0;
	int r;

	r = find_member(&w, "response", &type, &type_len);
	if (r != FOUND)
		return r;
	if (type && !is(type, type_len, "response.created"))
		return NONE;
	r = find_member(&w, "id", NULL, NULL);
	return r == FOUND ? read_id(&w, ret_id, ret_len) : r;
}

int response_id_scan_stream(const char *buf, size_t len, const char **ret_id, size_t *ret_len)
{
	bool capped = len > RESPONSE_ID_SCAN_STREAM_MAX;
	const char *p = buf, *end = buf + (capped ? RESPONSE_ID_SCAN_STREAM_MAX : len);
	bool other_event = false; /* the event being read is named, not response.created */

	if (end - p >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3; /* a BOM may open an event stream */
	while (p < end) {
		const char *eol = p, *colon, *value;

		while (eol < end && *eol != '\n' && *eol != '\r')
			eol++;
		if (eol == end)
			break; /* a line still arriving, but for data (below) */
		colon = memchr(p, ':', (size_t)(eol - p));
		value = colon ? colon + 1 : eol;
		if (value < eol && *value == ' ')
			value++;
		if (eol == p)
			other_event = false; /* an event without data: not dispatched */
		else if (colon && is(p, (size_t)(colon - p), "event"))
			other_event = !is(value, (size_t)(eol - value), "response.created");
		else if (colon && is(p, (size_t)(colon - p), "data"))
			return other_event ? NONE : scan_data(value, eol, false, ret_id, ret_len);
		/* else a comment (": ..."), id, retry or unknown field: skipped */
		p = eol + (eol[0] == '\r' && eol + 1 < end && eol[1] == '\n' ? 2 : 1);
	}
	/* P starts a line that has not ended yet: the first data line may be
	 * read as far as it goes; the JSON cannot hold a raw line break */
	if (p < end && !other_event && end - p > 5 && memcmp(p, "data:", 5) == 0) {
		const char *value = p + 5 + (p[5] == ' ');
		int r = scan_data(value, end, !capped, ret_id, ret_len);

		if (r != MORE)
			return r;
	}
	return capped ? NONE : MORE;
}
