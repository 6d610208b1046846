/*
 * test_multipart: the streaming multipart/form-data parser (common/multipart.c):
 * the boundary from a Content-Type, fields in any order, every split of the
 * input (a boundary cut across reads) giving the same parts and bytes, and
 * the strict refusals (bare LF, no name, no closing boundary, a 64 KiB part
 * header...).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "multipart.h"
#include "tap.h"

struct seen {
	char text[8192]; /* "name[filename]=data|" per part */
	size_t len;
	uint64_t model_at, model_end;
	int parts;
	bool offsets_ok;
	const char *input;
};

static void add(struct seen *s, const char *data, size_t len)
{
	if (s->len + len < sizeof(s->text)) {
		memcpy(s->text + s->len, data, len);
		s->len += len;
		s->text[s->len] = '\0';
	}
}

static int on_part(void *ctx, const struct multipart_part *p)
{
	struct seen *s = ctx;

	add(s, p->name, strlen(p->name));
	if (p->filename) {
		add(s, "[", 1);
		add(s, p->filename, strlen(p->filename));
		add(s, "]", 1);
	}
	if (p->content_type) {
		add(s, "(", 1);
		add(s, p->content_type, strlen(p->content_type));
		add(s, ")", 1);
	}
	add(s, "=", 1);
	if (strcmp(p->name, "model") == 0)
		s->model_at = p->offset;
	s->parts++;
	return 0;
}

static int on_data(void *ctx, const char *data, size_t len, uint64_t offset)
{
	struct seen *s = ctx;

	/* every piece is what the input holds at its offset */
	if (memcmp(s->input + offset, data, len) != 0)
		s->offsets_ok = false;
	add(s, data, len);
	return 0;
}

static int on_part_end(void *ctx, uint64_t offset)
{
	struct seen *s = ctx;

	if (s->model_at && !s->model_end)
		s->model_end = offset;
	add(s, "|", 1);
	return 0;
}

static const struct multipart_callbacks cbs = {on_part, on_data, on_part_end};

/* Parses BODY in pieces of STEP bytes (0: whole). */
static int parse(const char *boundary, const char *body, size_t len, size_t step, struct seen *s,
                 const char **ret_why)
{
	static struct multipart m;
	int r = 0;

	memset(s, 0, sizeof(*s));
	s->offsets_ok = true;
	s->input = body;
	multipart_init(&m, boundary);
	for (size_t at = 0; at < len && r == 0;) {
		size_t n = step && len - at > step ? step : len - at;

		r = multipart_feed(&m, body + at, n, &cbs, s);
		at += n;
	}
	if (r == 0)
		r = multipart_finish(&m);
	*ret_why = m.error;
	return r;
}

#define FORM                                                                      \
	"--XyZ\r\n"                                                               \
	"Content-Disposition: form-data; name=\"file\"; filename=\"a b.wav\"\r\n" \
	"Content-Type: audio/wav\r\n"                                             \
	"\r\n"                                                                    \
	"RIFF\r\n--XyYa\r\n-\r\r\n--X\r\n--Xy \x00 data\r\n"                      \
	"--XyZ\r\n"                                                               \
	"Content-Disposition: form-data; name=model\r\n"                          \
	"\r\n"                                                                    \
	"whisper-1\r\n"                                                           \
	"--XyZ--\r\n"

static void test_boundary(void)
{
	char b[MULTIPART_MAX_BOUNDARY + 1];
	const char *why;

	tap_ok(multipart_boundary("multipart/form-data; boundary=abc", b, &why) == 0 &&
	               strcmp(b, "abc") == 0,
	       "a token boundary");
	tap_ok(multipart_boundary("Multipart/Form-Data;charset=utf-8; boundary=\"a b:c\"", b,
	                          &why) == 0 &&
	               strcmp(b, "a b:c") == 0,
	       "a quoted boundary among parameters, any case");
	tap_ok(multipart_boundary("multipart/form-data", b, &why) == -EINVAL, "no boundary");
	tap_ok(multipart_boundary("application/json; boundary=x", b, &why) == -EINVAL,
	       "not multipart/form-data");
	tap_ok(multipart_boundary("multipart/form-data; boundary=\"x \"", b, &why) == -EINVAL,
	       "a boundary ending in a space");
	tap_ok(multipart_boundary("multipart/form-data; boundary="
	                          "12345678901234567890123456789012345678901234567890123456789012"
	                          "34567890",
	                          b, &why) == 0,
	       "a boundary of 70 characters");
	tap_ok(multipart_boundary("multipart/form-data; boundary="
	                          "12345678901234567890123456789012345678901234567890123456789012"
	                          "345678901",
	                          b, &why) == -EINVAL,
	       "a boundary of 71 characters");
	tap_ok(multipart_boundary("multipart/form-data; boundary=a; boundary=b", b, &why) ==
	               -EINVAL,
	       "two boundaries");
	tap_ok(multipart_boundary("multipart/form-data; boundary=\"a\\\"b\"", b, &why) == -EINVAL,
	       "a quote is no bchar");
	tap_ok(multipart_boundary(NULL, b, &why) == -EINVAL, "no Content-Type");
}

static void test_splits(void)
{
	static const char want[] = "file[a b.wav](audio/wav)=RIFF\r\n--XyYa\r\n-\r\r\n--X\r\n--Xy "
	                           "\x00 data|model=whisper-1|";
	size_t len = sizeof(FORM) - 1;
	struct seen s;
	const char *why = NULL;
	bool all = true;

	int r0 = parse("XyZ", FORM, len, 0, &s, &why);

	tap_ok(r0 == 0, "a form parses (%s)", why ? why : "");
	tap_ok(s.len == sizeof(want) - 1 && memcmp(s.text, want, s.len) == 0 && s.parts == 2,
	       "its parts and data, the delimiter look-alikes kept");
	tap_ok(s.offsets_ok, "every piece is handed out at its offset");
	tap_ok(s.model_end - s.model_at == 9 && memcmp(&FORM[s.model_at], "whisper-1", 9) == 0,
	       "the model field's value is at the offsets given");
	for (size_t step = 1; step < len; step++) {
		int r = parse("XyZ", FORM, len, step, &s, &why);

		if (r != 0 || s.len != sizeof(want) - 1 || memcmp(s.text, want, s.len) != 0 ||
		    !s.offsets_ok) {
			if (all)
				tap_ok(0, "split every %zu bytes", step);
			all = false;
		}
	}
	tap_ok(all, "every split of the input (boundaries cut across reads) gives the same");
}

static void expect_error(const char *body, int err, const char *what)
{
	struct seen s;
	const char *why;
	int r = parse("b", body, strlen(body), 0, &s, &why);

	tap_ok(r == err && why, "%s: refused (%s)", what, why ? why : "no reason");
}

static void test_strict(void)
{
	struct seen s;
	const char *why;
	char *big;
	size_t n = 64 * 1024;

	tap_ok(parse("b",
	             "preamble\r\n--b\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"
	             "--b--\r\nepilogue",
	             strlen("preamble\r\n--b\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"
	                    "--b--\r\nepilogue"),
	             3, &s, &why) == 0 &&
	               strcmp(s.text, "a=1|") == 0,
	       "a preamble and an epilogue are ignored");
	tap_ok(parse("b", "--b  \t\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n--b--",
	             strlen("--b  \t\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n--b--"),
	             0, &s, &why) == 0 &&
	               strcmp(s.text, "a=|") == 0,
	       "transport padding after a boundary, an empty value");
	expect_error("--b\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--b\r\n",
	             MULTIPART_EBADMSG, "no closing boundary (truncated)");
	expect_error("--b\r\nContent-Disposition: form-data; name=a\r\n\r\n1", MULTIPART_EBADMSG,
	             "truncated in a part");
	expect_error("--b\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--b--",
	             MULTIPART_EBADMSG, "a bare LF after the boundary");
	expect_error("--b\r\nContent-Disposition: form-data; name=a\n\r\n1\r\n--b--",
	             MULTIPART_EBADMSG, "a bare LF in the headers");
	expect_error("--b\r\nContent-Disposition: form-data\r\n\r\n1\r\n--b--", MULTIPART_EBADMSG,
	             "a part without a name");
	expect_error("--b\r\nContent-Type: text/plain\r\n\r\n1\r\n--b--", MULTIPART_EBADMSG,
	             "a part without Content-Disposition");
	expect_error("--b\r\nContent-Disposition: attachment; name=a\r\n\r\n1\r\n--b--",
	             MULTIPART_EBADMSG, "a disposition other than form-data");
	expect_error("--b\r\nContent-Disposition: form-data; name=a; name=c\r\n\r\n1\r\n--b--",
	             MULTIPART_EBADMSG, "two names");
	expect_error("--b\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\n1\r\n--b--",
	             MULTIPART_EBADMSG, "a folded header line");
	expect_error("--b--", MULTIPART_EBADMSG, "no part");
	expect_error("--bx\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--b--",
	             MULTIPART_EBADMSG, "a longer boundary");
	expect_error("", MULTIPART_EBADMSG, "an empty body");

	{
		static const char head[] =
		        "--b\r\nContent-Disposition: form-data; name=a\r\nX-Pad: ";
		static const char tail[] = "\r\n\r\n1\r\n--b--";

		big = malloc(sizeof(head) + n + sizeof(tail));
		if (!big) {
			tap_ok(false, "out of memory");
			return;
		}
		memcpy(big, head, sizeof(head) - 1);
		memset(big + sizeof(head) - 1, 'x', n);
		memcpy(big + sizeof(head) - 1 + n, tail, sizeof(tail));
	}
	n = (size_t)parse("b", big, strlen(big), 4096, &s, &why);
	tap_ok((int)n == MULTIPART_E2BIG, "a part header of 64 KiB is refused (%s)",
	       why ? why : "");
	free(big);
}

int main(void)
{
	test_boundary();
	test_splits();
	test_strict();
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}
