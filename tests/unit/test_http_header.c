/*
 * Unit tests of the one header-field rule and the list of llmgate's own
 * header names (common/http_header.c): tchar byte by byte against RFC 9110's
 * list, the case-blind compare against tolower(), names and values, and each
 * list where it applies.
 */
#include <ctype.h>

#include "http_header.h"
#include "tap.h"

static bool rfc_tchar(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void test_bytes(void)
{
	int tchar_wrong = -1, field_wrong = -1;

	for (int c = 0; c < 256; c++) {
		if (http_is_tchar((unsigned char)c) != rfc_tchar(c))
			tchar_wrong = c;
		if (http_is_field_byte((unsigned char)c) != (c == '\t' || (c >= 0x20 && c != 0x7f)))
			field_wrong = c;
	}
	tap_ok(tchar_wrong < 0, "tchar is RFC 9110's set, byte by byte (wrong: %d)", tchar_wrong);
	tap_ok(field_wrong < 0, "field bytes: HTAB, SP, visible, obs-text (wrong: %d)",
	       field_wrong);
}

/* http_ascii_caseeq() against tolower() in the C locale, every pair of bytes. */
static void test_caseeq(void)
{
	int wrong_a = -1, wrong_b = -1;

	for (int a = 0; a < 256; a++)
		for (int b = 0; b < 256; b++) {
			char x = (char)a, y = (char)b;
			bool want = tolower(a) == tolower(b);

			if (http_ascii_caseeq(&x, &y, 1) != want) {
				wrong_a = a;
				wrong_b = b;
			}
		}
	tap_ok(wrong_a < 0, "one byte against another: tolower() of each (wrong: %d, %d)", wrong_a,
	       wrong_b);
	tap_ok(http_ascii_caseeq("Content-Length", "content-length", 14) &&
	               !http_ascii_caseeq("Content-Lengtx", "content-length", 14) &&
	               http_ascii_caseeq("abc", "abd", 2) && http_ascii_caseeq("", "x", 0),
	       "N bytes compared, no more");
	tap_ok(http_header_name_is("HOST", 4, "host") && !http_header_name_is("hostx", 5, "host") &&
	               !http_header_name_is("hos", 3, "host"),
	       "a name is a literal: its length, then its bytes without case");
}

static void test_names_and_values(void)
{
	tap_ok(http_header_name_valid("x-request-id"), "a plain name");
	tap_ok(http_header_name_valid("X_Odd.Name~!#$%&'*+^`|"), "every tchar symbol");
	tap_ok(!http_header_name_valid(""), "empty name");
	tap_ok(!http_header_name_valid("x name"), "space in a name");
	tap_ok(!http_header_name_valid("x:y"), "colon in a name");
	tap_ok(!http_header_name_valid("x(y)"), "delimiter in a name");
	tap_ok(!http_header_name_valid("caf\xc3\xa9"), "non-ASCII in a name");
	tap_ok(http_header_value_valid(""), "empty value");
	tap_ok(http_header_value_valid("a b\tc \xc3\xa9"), "blanks and obs-text in a value");
	tap_ok(!http_header_value_valid("a\r\nX-Evil: 1"), "CRLF in a value");
	tap_ok(!http_header_value_valid("a\nb"), "LF in a value");
	tap_ok(!http_header_value_valid("a\x7f"), "DEL in a value");
	{
		/* the word-at-a-time check against the byte table, for every byte value
		 * at every place of a 40-byte value (five words, no tail) and of a
		 * 43-byte one (a tail) */
		char v[44];
		bool agree = true;

		for (size_t len = 40; len <= 43; len += 3)
			for (size_t at = 0; at < len; at++)
				for (int c = 1; c < 256; c++) {
					memset(v, 'a', len);
					v[len] = '\0';
					v[at] = (char)c;
					agree &= http_header_value_valid(v) ==
					         http_is_field_byte((unsigned char)c);
				}
		tap_ok(agree,
		       "each byte value at each place of a long value: as the byte table says");
	}
	tap_ok(!http_header_value_valid("a\x01"), "control byte in a value");
}

static void test_own(void)
{
	static const char *const framing[] = {"Content-Length", "transfer-encoding", "CONNECTION"};

	for (size_t i = 0; i < 3; i++)
		tap_ok(http_header_is_own(framing[i], HTTP_OWN_RESPONSE) &&
		               http_header_is_own(framing[i], HTTP_OWN_UPSTREAM) &&
		               http_header_is_own(framing[i], HTTP_OWN_EXTRA),
		       "%s is ours everywhere", framing[i]);
	tap_ok(http_header_is_own("Content-Type", HTTP_OWN_RESPONSE) &&
	               http_header_is_own("date", HTTP_OWN_RESPONSE) &&
	               http_header_is_own("Server", HTTP_OWN_RESPONSE),
	       "the fixed response headers are the server's");
	tap_ok(!http_header_is_own("content-type", HTTP_OWN_EXTRA | HTTP_OWN_UPSTREAM),
	       "but a request may carry its own Content-Type");
	tap_ok(http_header_is_own("Host", HTTP_OWN_EXTRA) &&
	               !http_header_is_own("host", HTTP_OWN_RESPONSE | HTTP_OWN_UPSTREAM),
	       "extra_headers may not set Host");
	tap_ok(http_header_is_own("Expect", HTTP_OWN_UPSTREAM) &&
	               !http_header_is_own("expect", HTTP_OWN_EXTRA | HTTP_OWN_RESPONSE),
	       "the upstream request never carries Expect");
	tap_ok(!http_header_is_own("x-request-id", HTTP_OWN_RESPONSE) &&
	               !http_header_is_own("authorization", HTTP_OWN_EXTRA),
	       "other names are free");
	tap_ok(!http_header_is_own("content-lengthx", HTTP_OWN_RESPONSE) &&
	               !http_header_is_own("content-lengt", HTTP_OWN_RESPONSE) &&
	               !http_header_is_own("", HTTP_OWN_RESPONSE),
	       "a prefix or an extension of an own name is not it");
	tap_ok(!http_header_is_own("connection", 0), "no place: nothing is ours");
}

int main(void)
{
	test_bytes();
	test_caseeq();
	test_names_and_values();
	test_own();
	return tap_done();
}
