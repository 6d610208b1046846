/*
 * control_commands: every control-socket command, defined once. The table
 * drives dispatch (control.c), `help`, llmgatectl's usage text and the
 * man-page coverage test.
 *
 * X(name, mutating, args_help, help_text). Mutating commands are allowed only
 * to root and to the daemon's own user (SO_PEERCRED); the others to anyone
 * who can open the socket (mode 0660: its group).
 */
#pragma once

#include <stdbool.h>

#define CONTROL_COMMANDS(X)                                                                       \
	X(status, false, "", "version, generation, uptime, fallback mode, workers and backends")  \
	X(workers, false, "", "the worker table: slot, pid, state, generation, restarts, uptime") \
	X(backends, false, "", "every deployment: provider, URL, requests and failures by class") \
	X(fallback, true, "[auto|on|off]",                                                        \
	  "show the fallback mode; with an argument, set the operator override")                  \
	X(reload, true, "",                                                                       \
	  "reload the config; answers once the new generation serves, or with the errors")        \
	X(log_level, true, "LEVEL", "set the log level: error, warning, notice, info or debug")   \
	X(version, false, "", "the daemon's version")                                             \
	X(help, false, "", "the list of commands")
