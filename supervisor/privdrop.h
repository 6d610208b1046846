/*
 * privdrop: leaves root after the privileged set-up (binding the listening
 * socket) and before any worker serves. Started as an ordinary user, nothing
 * changes. Also owns whether the processes may be dumped: a core dump or a
 * ptrace attach would expose the API keys held in memory.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Switches to USER (uid, primary group, supplementary groups) when running
 * as root. `root` keeps root; an unknown user falls back to `nobody`. A note
 * for the operator (a warning) is written to NOTE when there is one, else
 * NOTE is set to "". Returns 0 or a negative errno. */
int privdrop(const char *user, char *note, size_t note_len);

/* Makes the calling process (and every worker forked from it afterwards)
 * dumpable or not: prctl(PR_SET_DUMPABLE). Off unless llmgate.core_dumps is
 * true. Called after privdrop(), since a change of uid resets the flag.
 * Returns 0 or a negative errno. */
int privdrop_set_dumpable(bool allow);
