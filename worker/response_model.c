/*
 * response_model: the top-level "model" of an answer's first bytes (see
 * response_model.h). A scanner of one JSON object's members that skips
 * their values without reading them (strings by their quotes and escapes,
 * nested objects and arrays by depth) and stops at the first byte it cannot
 * vouch for: any malformed or cut input ends in "not found", never in a read
 * past LEN.
 */
#include "response_model.h"

#include <stdbool.h>
#include <string.h>

static size_t skip_ws(const char *p, size_t len, size_t i)
{
	while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	return i;
}

/* P[I] is a string's opening quote: the index after its closing one, or 0
 * when it does not end within LEN. */
static size_t skip_string(const char *p, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		const char *q = memchr(p + i, '"', len - i);
		size_t back = 0;

		if (!q)
			return 0;
		i = (size_t)(q - p);
		/* a quote after an odd number of backslashes is escaped (the
		 * opening quote stops the count) */
		while (p[i - 1 - back] == '\\')
			back++;
		if (back % 2 == 0)
			return i + 1;
	}
	return 0;
}

/* P[I] starts a value: the index after it, or LEN (cut, or not JSON). */
static size_t skip_value(const char *p, size_t len, size_t i)
{
	size_t depth = 0;

	do {
		if (i >= len)
			return len;
		switch (p[i]) {
		case '"':
			if (!(i = skip_string(p, len, i)))
				return len;
			break;
		case '{':
		case '[':
			depth++;
			i++;
			break;
		case '}':
		case ']':
			if (depth == 0)
				return len; /* closes what it did not open */
			depth--;
			i++;
			break;
		default:
			/* a number, a literal, a separator inside a nested value */
			if (depth == 0) {
				while (i < len && p[i] != ',' && p[i] != '}' && p[i] != ']' &&
				       p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
					i++;
				return i;
			}
			i++;
			break;
		}
	} while (depth > 0);
	return i;
}

size_t response_model_object(const char *p, size_t len, char *out, size_t cap)
{
	size_t i = skip_ws(p, len, 0);

	if (i >= len || p[i] != '{')
		return 0;
	for (i++;;) {
		bool model;
		size_t key;

		i = skip_ws(p, len, i);
		if (i >= len || p[i] != '"')
			return 0; /* the end of the object, or not a member */
		key = i + 1;
		if (!(i = skip_string(p, len, i)))
			return 0;
		/* five bytes that are "model" hold no escape */
		model = i - 1 - key == 5 && memcmp(p + key, "model", 5) == 0;
		i = skip_ws(p, len, i);
		if (i >= len || p[i] != ':')
			return 0;
		i = skip_ws(p, len, i + 1);
		if (model) {
			size_t start = i + 1, n;

			if (i >= len || p[i] != '"' || !(i = skip_string(p, len, i)))
				return 0;
			n = i - 1 - start;
			if (n == 0 || n >= cap)
				return 0;
			for (size_t k = start; k < start + n; k++)
				if ((unsigned char)p[k] < 0x20 || p[k] == '\\')
					return 0; /* escaped, or a control byte no JSON string holds
					           */
			memcpy(out, p + start, n);
			out[n] = '\0';
			return n;
		}
		i = skip_value(p, len, i);
		i = skip_ws(p, len, i);
		if (i >= len || p[i] != ',')
			return 0;
		i++;
	}
}

size_t response_model_events(const char *p, size_t len, char *out, size_t cap)
{
	size_t i = 0;

	while (i < len) {
		const char *nl = memchr(p + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - p) : len, n;

		if (end - i > 5 && memcmp(p + i, "data:", 5) == 0 &&
		    (n = response_model_object(p + i + 5, end - i - 5, out, cap)) > 0)
			return n;
		i = end + 1;
	}
	return 0;
}
