/*
 * admin: the supervisor's tiny HTTP listener at llmgate.admin_listen, for
 * Prometheus: GET (or HEAD) /metrics answers the text exposition of
 * metrics.h; any other path is 404, any other method 405, a malformed
 * request 400. One request per connection (Connection: close); bounded
 * connections, head size and time, so a slow or hostile client never stalls
 * the supervisor's loop. Off unless admin_listen is set.
 */
#pragma once

struct admin;
struct supervisor;

/* Listens on ADDRESS ("HOST:PORT"). Logs its own errors. 0 or a negative errno. */
int admin_open(struct supervisor *sup, const char *address, struct admin **ret);
void admin_close(struct admin *admin);
