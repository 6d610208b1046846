/*
 * control: the supervisor's control socket (SPEC 9). A Unix stream socket
 * speaking newline-delimited JSON: one request object per line
 * ({"command": "...", "args": [...]}) and one response object per line
 * ({"ok": true, "result": ...} or {"ok": false, "error": "...", ...}).
 * Bounded connections and buffers; a slow client never stalls the loop.
 */
#pragma once

struct control;
struct supervisor;

/* Creates the socket at PATH (mode 0660) safely: a stale socket of a dead
 * daemon is replaced, a live one or a non-socket is refused. Running as root,
 * the socket, and its directory when missing and created here (0750), go to
 * USER's uid and group (the user the daemon is to run as). Logs its own
 * errors. Returns 0 or a negative errno. */
int control_open(struct supervisor *sup, const char *path, const char *user, struct control **ret);

/* Closes every client and the socket, and removes the socket file. */
void control_close(struct control *control);
