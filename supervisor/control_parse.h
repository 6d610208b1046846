/*
 * control_parse: the control socket's request line, parsed and checked
 * before anything runs. Pure (jansson only, no supervisor state), so it is
 * unit-tested and fuzzed alone. A request is one line of JSON:
 * {"command": NAME, "args": [...]}, NAME as in control_commands.h with '-'
 * for '_' also accepted.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "control_commands.h"

struct control_request {
	json_t *root; /* the whole request; owns NAME and ARGS */
	enum control_command command;
	const char *name; /* as the client wrote it */
	json_t *args;     /* an array, or NULL when absent */
	/* Whether it changes the daemon: `fallback` without an argument only reads. */
	bool mutating;
};

/*
 * Parses LINE[0..LEN) (without its newline). Returns 0 and fills RET (free it
 * with control_request_clear()), or -EINVAL with the answer for the client
 * in WHY (WHY_LEN bytes) and nothing to free.
 */
int control_parse(const char *line, size_t len, struct control_request *ret, char *why,
                  size_t why_len);

void control_request_clear(struct control_request *req);
