/*
 * Unit tests of the control socket's request line parser
 * (supervisor/control_parse.c): commands, their spelling, arguments, what
 * counts as mutating, and the answer to a malformed line.
 */
#include "../../supervisor/control_parse.h"
#include "tap.h"

#include <errno.h>

static char why[512];

static int parse(const char *line, struct control_request *req)
{
	int r = control_parse(line, strlen(line), req, why, sizeof(why));

	if (r < 0 && req->root)
		return -999;
	return r;
}

static void test_commands(void)
{
	struct control_request req;

	tap_ok(parse("{\"command\":\"status\"}", &req) == 0 && req.command == CONTROL_CMD_status &&
	               !req.mutating && !req.args,
	       "status");
	control_request_clear(&req);
	tap_ok(parse("{\"command\":\"log-level\",\"args\":[\"debug\"]}", &req) == 0 &&
	               req.command == CONTROL_CMD_log_level && req.mutating &&
	               json_array_size(req.args) == 1,
	       "log-level with '-' and an argument, mutating");
	control_request_clear(&req);
	tap_ok(parse("{\"command\":\"fallback\",\"args\":[]}", &req) == 0 && !req.mutating,
	       "fallback without an argument only reads");
	control_request_clear(&req);
	tap_ok(parse("{\"command\":\"fallback\",\"args\":[\"on\"]}", &req) == 0 && req.mutating,
	       "fallback with an argument mutates");
	control_request_clear(&req);
	tap_ok(parse("{\"command\":\"reload\"}", &req) == 0 && req.mutating, "reload mutates");
	control_request_clear(&req);
}

static void test_malformed(void)
{
	struct control_request req;

	tap_ok(parse("{\"command\":", &req) == -EINVAL &&
	               strncmp(why, "the request is not a JSON object: ", 34) == 0,
	       "broken JSON");
	tap_ok(parse("[\"status\"]", &req) == -EINVAL && strstr(why, "wrong type"), "an array");
	tap_ok(parse("{\"command\":\"status\",\"args\":\"x\"}", &req) == -EINVAL &&
	               strstr(why, "\"args\": [...]"),
	       "args not an array");
	tap_ok(parse("{\"command\":7}", &req) == -EINVAL, "a command that is not a string");
	tap_ok(parse("{\"command\":\"0123456789012345678901234567890123\"}", &req) == -EINVAL,
	       "a command name too long");
	tap_ok(parse("{\"command\":\"shutdown\"}", &req) == -EINVAL &&
	               strcmp(why, "unknown command 'shutdown' (try 'help')") == 0,
	       "an unknown command");
	tap_ok(parse("{\"command\":\"sta\\u0000tus\"}", &req) == -EINVAL, "a NUL in the name");
	tap_ok(control_parse("{\"command\":\"status\"} trailing", 20, &req, why, sizeof(why)) == 0,
	       "only LEN bytes are parsed");
	control_request_clear(&req);
}

int main(void)
{
	test_commands();
	test_malformed();
	return tap_done();
}
