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

/* The account privdrop() switches to for USER (getpwnam()'s, valid until the
 * next such call): NULL when it switches to none (not root, or USER is
 * `root`), or when USER is unknown and so is `nobody`. *RET_FALLBACK: USER
 * is unknown, so this is `nobody`'s. What the daemon makes as root before
 * the switch (the state directory) is given to it. */
struct passwd;
const struct passwd *privdrop_account(const char *user, bool *ret_fallback);

/* Makes the calling process (and every worker forked from it afterwards)
 * dumpable or not: prctl(PR_SET_DUMPABLE). Off unless llmgate.core_dumps is
 * true. Called after privdrop(), since a change of uid resets the flag.
 * Returns 0 or a negative errno. */
int privdrop_set_dumpable(bool allow);
