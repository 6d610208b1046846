/*
 * control_parse: a control request line to a command (see control_parse.h).
 * Runs in the supervisor, once per request line; the line is bounded by
 * control.c (CONTROL_MAX_LINE).
 */
#include "control_parse.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define CONTROL_MAX_NAME 32 /* longer than any command: refused as malformed */

int control_parse(const char *line, size_t len, struct control_request *ret, char *why,
                  size_t why_len)
{
	json_error_t jerr;
	json_t *request = json_loadb(line, len, 0, &jerr), *args;
	const char *name;
	int which;

	memset(ret, 0, sizeof(*ret));
	if (!request || !json_is_object(request)) {
		snprintf(why, why_len, "the request is not a JSON object: %s",
		         request ? "wrong type" : jerr.text);
		json_decref(request);
		return -EINVAL;
	}
	name = json_string_value(json_object_get(request, "command"));
	args = json_object_get(request, "args");
	if (!name || strlen(name) >= CONTROL_MAX_NAME || (args && !json_is_array(args))) {
		snprintf(why, why_len, "a request is {\"command\": NAME, \"args\": [...]}");
		json_decref(request);
		return -EINVAL;
	}
	which = control_command_find(name);
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
	        .mutating = control_command_info((enum control_command)which)->mutating &&
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
