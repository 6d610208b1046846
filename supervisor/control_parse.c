/*
 * control_parse: a control request line to a command (see control_parse.h).
 * Runs in the supervisor, once per request line; the line is bounded by
 * control.c (CONTROL_MAX_LINE).
 */
#include "control_parse.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	bool mutating;
} commands[CONTROL_CMD__COUNT] = {
#define CONTROL_ROW(n, m, a, h) [CONTROL_CMD_##n] = {#n, m},
        CONTROL_COMMANDS(CONTROL_ROW)
#undef CONTROL_ROW
};

int control_parse(const char *line, size_t len, struct control_request *ret, char *why,
                  size_t why_len)
{
	json_error_t jerr;
	json_t *request = json_loadb(line, len, 0, &jerr), *args;
	const char *name;
	char cmd[32];
	int which = -1;

	memset(ret, 0, sizeof(*ret));
	if (!request || !json_is_object(request)) {
		snprintf(why, why_len, "the request is not a JSON object: %s",
		         request ? "wrong type" : jerr.text);
		json_decref(request);
		return -EINVAL;
	}
	name = json_string_value(json_object_get(request, "command"));
	args = json_object_get(request, "args");
	if (!name || strlen(name) >= sizeof(cmd) || (args && !json_is_array(args))) {
		snprintf(why, why_len, "a request is {\"command\": NAME, \"args\": [...]}");
		json_decref(request);
		return -EINVAL;
	}
	snprintf(cmd, sizeof(cmd), "%s", name);
	for (char *p = cmd; *p; p++)
		if (*p == '-')
			*p = '_';
	for (int i = 0; i < CONTROL_CMD__COUNT; i++)
		if (strcmp(cmd, commands[i].name) == 0)
			which = i;
	if (which < 0) {
		snprintf(why, why_len, "unknown command '%s' (try 'help')", name);
		json_decref(request);
		return -EINVAL;
	}
	*ret = (struct control_request){
	        .root = request,
	        .command = (enum control_command)which,
	        .name = name,
	        .args = args,
	        .mutating = commands[which].mutating &&
	                    !(which == CONTROL_CMD_fallback && json_array_size(args) == 0),
	};
	return 0;
}

void control_request_clear(struct control_request *req)
{
	json_decref(req->root);
	req->root = NULL;
	req->name = NULL;
	req->args = NULL;
}
