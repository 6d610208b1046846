/*
 * control_commands: every control-socket command, defined once. The table
 * drives dispatch (supervisor/control.c binds each command to its handler),
 * `help`, llmgatectl's usage text and answer printers (ctl/ctl.c binds each
 * to its printer) and the man-page coverage test.
 *
 * X(name, mutating, args_help, help_text). Mutating commands are allowed only
 * to root and to the daemon's own user (SO_PEERCRED); the others to anyone
 * who can open the socket (mode 0660: its group). A name is written with '_'
 * here and shown with '-'; a client may send either.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define CONTROL_COMMANDS(X)                                                                         \
	X(status, false, "",                                                                        \
	  "version, generation, uptime, fallback mode, workers and deployments")                    \
	X(workers, false, "", "the worker table: slot, pid, state, generation, restarts, uptime")   \
	X(deployments, false, "",                                                                   \
	  "every deployment: provider, URL, requests and failures by class")                        \
	X(keys, false, "",                                                                          \
	  "every client key: its limits and use (llmgatectl key list; key create needs no daemon)") \
	X(fallback, true, "[auto|on|off]",                                                          \
	  "show the fallback mode; with an argument, set the operator override")                    \
	X(reload, true, "",                                                                         \
	  "reload the config; answers once the new generation serves, or with the errors")          \
	X(log_level, true, "LEVEL", "set the log level: error, warning, notice, info or debug")     \
	X(version, false, "", "the daemon's version")                                               \
	X(help, false, "", "the list of commands")

enum control_command {
#define CONTROL_ENUM(name, mutating, args, help) CONTROL_CMD_##name,
	CONTROL_COMMANDS(CONTROL_ENUM)
#undef CONTROL_ENUM
	        CONTROL_CMD__COUNT,
};

struct control_command_info {
	const char *name; /* with '_' */
	bool mutating;
	const char *args;
	const char *help;
};

static inline const struct control_command_info *control_command_info(enum control_command c)
{
	static const struct control_command_info table[CONTROL_CMD__COUNT] = {
#define CONTROL_ROW(n, m, a, h) [CONTROL_CMD_##n] = {#n, m, a, h},
	        CONTROL_COMMANDS(CONTROL_ROW)
#undef CONTROL_ROW
	};

	return &table[c];
}

/* The command NAME spells, '-' standing for '_'; -1 when there is none. */
static inline int control_command_find(const char *name)
{
	for (int c = 0; c < CONTROL_CMD__COUNT; c++) {
		const char *t = control_command_info((enum control_command)c)->name, *n = name;

		while (*t && *t == (*n == '-' ? '_' : *n))
			t++, n++;
		if (*t == '\0' && *n == '\0')
			return c;
	}
	return -1;
}

/* The name of C as shown to people ("log-level"), into BUF of LEN bytes. */
static inline const char *control_command_shown(enum control_command c, char *buf, size_t len)
{
	size_t i = 0;

	for (const char *p = control_command_info(c)->name; *p && i + 1 < len; p++)
		buf[i++] = *p == '_' ? '-' : *p;
	if (len)
		buf[i] = '\0';
	return buf;
}
