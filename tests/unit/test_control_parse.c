/*
 * Unit tests of the control socket's request line parser
 * (supervisor/control_parse.c): commands, their spelling, arguments, what
 * counts as mutating, and the answer to a malformed line; the command
 * table's lookup and shown names (common/control_commands.h).
 */
#include "supervisor/control_parse.h"
#include "tap.h"

#include <errno.h>
#include <stdio.h>

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

static void test_table(void)
{
	char name[32], dashed[32];
	int found = 0;

	for (int i = 0; i < CONTROL_CMD__COUNT; i++) {
		const struct control_command_info *c =
		        control_command_info((enum control_command)i);

		control_command_shown((enum control_command)i, dashed, sizeof(dashed));
		snprintf(name, sizeof(name), "%s", c->name);
		if (control_command_find(name) == i && control_command_find(dashed) == i &&
		    !strchr(dashed, '_'))
			found++;
	}
	tap_ok(found == CONTROL_CMD__COUNT, "every command found as written and as shown");
	tap_str(control_command_shown(CONTROL_CMD_log_level, dashed, sizeof(dashed)), "log-level",
	        "log_level is shown as log-level");
	tap_str(control_command_shown(CONTROL_CMD_log_level, dashed, 4), "log",
	        "a short buffer is cut and terminated");
	tap_ok(control_command_find("log-level") == CONTROL_CMD_log_level &&
	               control_command_find("log_level") == CONTROL_CMD_log_level,
	       "both spellings");
	tap_ok(control_command_find("") < 0 && control_command_find("stat") < 0 &&
	               control_command_find("statuss") < 0 && control_command_find("log-") < 0,
	       "prefixes and extensions are not commands");
	tap_ok(control_command_info(CONTROL_CMD_reload)->mutating &&
	               !control_command_info(CONTROL_CMD_status)->mutating,
	       "mutating column");
}

int main(void)
{
	test_commands();
	test_malformed();
	test_table();
	return tap_done();
}
