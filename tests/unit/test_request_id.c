/*
 * Unit tests of request ids (worker/http/request_id.c): which ids from a
 * client are kept, the shape of fresh ones, and that a forked worker never
 * repeats its parent's sequence.
 */
#include "request_id.h"
#include "tap.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_valid(void)
{
	char longest[REQUEST_ID_MAX + 2];

	tap_ok(request_id_valid("abc-DEF_0.9"), "letters, digits, '-', '_', '.'");
	tap_ok(!request_id_valid(""), "empty");
	tap_ok(!request_id_valid("a b") && !request_id_valid("a/b") && !request_id_valid("a\"b") &&
	               !request_id_valid("caf\xc3\xa9"),
	       "anything else");
	memset(longest, 'a', REQUEST_ID_MAX);
	longest[REQUEST_ID_MAX] = '\0';
	tap_ok(request_id_valid(longest), "%d bytes", REQUEST_ID_MAX);
	longest[REQUEST_ID_MAX] = 'a';
	longest[REQUEST_ID_MAX + 1] = '\0';
	tap_ok(!request_id_valid(longest), "%d bytes", REQUEST_ID_MAX + 1);
}

static void test_generate(void)
{
	char a[REQUEST_ID_MAX + 1], b[REQUEST_ID_MAX + 1];

	request_id_generate(a);
	request_id_generate(b);
	tap_ok(strlen(a) == 32 && strspn(a, "0123456789abcdef") == 32, "32 hex digits: %s", a);
	tap_ok(request_id_valid(a), "a fresh id is a valid one");
	tap_ok(strcmp(a, b) != 0, "the next differs");
}

static void test_fork(void)
{
	char parent[REQUEST_ID_MAX + 1], child[REQUEST_ID_MAX + 1] = "";
	int fds[2], status = -1;
	pid_t pid;

	if (pipe(fds) < 0) {
		tap_ok(0, "pipe");
		return;
	}
	fflush(stdout); /* the child must not write the TAP lines buffered so far again */
	pid = fork();
	if (pid == 0) {
		request_id_generate(child);
		_exit(write(fds[1], child, 33) == 33 ? 0 : 1);
	}
	request_id_generate(parent);
	close(fds[1]);
	tap_ok(pid > 0 && read(fds[0], child, 33) == 33 && waitpid(pid, &status, 0) == pid &&
	               status == 0,
	       "a forked child makes an id");
	close(fds[0]);
	tap_ok(strcmp(parent, child) != 0, "its sequence is not its parent's (%s, %s)", parent,
	       child);
}

int main(void)
{
	test_valid();
	test_generate();
	test_fork();
	return tap_done();
}
