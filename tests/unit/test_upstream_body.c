/*
 * Unit tests of an upload's body made of parts (worker/upstream/
 * upstream_body.c): memory and file ranges read back at any offset and in
 * pieces of any size, the memory parts copied, one dup() per file, and the
 * file closed with the last reference.
 */
#include "upstream.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

int main(void)
{
	char path[] = "/tmp/llmgate-body-test-XXXXXX";
	const char file[] = "--b\r\nname=\"model\"\r\n\r\ngroup\r\n--b--\r\n";
	const char want[] = "--b\r\nname=\"model\"\r\n\r\nupstream-model\r\n--b--\r\n";
	char mid[] = "upstream-model";
	size_t at = strlen("--b\r\nname=\"model\"\r\n\r\n"), cut = strlen("group");
	int fd = mkstemp(path), before;
	struct upstream_body *b;
	char got[128];
	bool all = true;

	if (fd < 0 || write(fd, file, strlen(file)) != (ssize_t)strlen(file)) {
		tap_ok(false, "a file to read");
		return tap_done();
	}
	unlink(path);
	before = open_fds();
	b = upstream_body_new(
	        (struct upstream_body_part[]){
	                {.fd = fd, .offset = 0, .len = at},
	                {.data = mid, .len = strlen(mid)},
	                {.fd = fd, .offset = at + cut, .len = strlen(file) - at - cut},
	        },
	        3);
	mid[0] = 'X'; /* copied: the caller's memory may go */
	tap_ok(b && upstream_body_len(b) == strlen(want), "its length is its parts'");
	tap_ok(open_fds() == before + 1, "one dup() for the file's two ranges");
	for (size_t piece = 1; piece <= sizeof(got); piece++) {
		size_t off = 0;

		while (off < strlen(want)) {
			ssize_t n = upstream_body_read(b, off, got + off, piece);

			if (n <= 0) {
				all = false;
				break;
			}
			off += (size_t)n;
		}
		all = all && off == strlen(want) && memcmp(got, want, off) == 0;
	}
	tap_ok(all, "read back whole in pieces of every size");
	tap_ok(upstream_body_read(b, strlen(want), got, 10) == 0, "nothing past its end");
	tap_ok(upstream_body_read(b, 3, got, 4) == 4 && memcmp(got, want + 3, 4) == 0,
	       "from any offset (a resend starts anywhere libcurl asks)");
	upstream_body_ref(b);
	upstream_body_unref(b);
	tap_ok(open_fds() == before + 1, "held while a reference is");
	upstream_body_unref(b);
	tap_ok(open_fds() == before, "the last reference closes its fd");

	b = upstream_body_new((struct upstream_body_part[]){{.fd = fd, .offset = 0, .len = 100}},
	                      1);
	tap_ok(b && upstream_body_read(b, 0, got, sizeof(got)) == -EIO,
	       "a file shorter than its part: an error, not short data");
	upstream_body_unref(b);
	close(fd);
	return tap_done();
}
