/*
 * reload: loading the config again and replacing the serving generation
 * with one of the new config (SIGHUP, `llmgatectl reload`). One reload at a
 * time; one asked for while the first generation starts waits for it to
 * serve. Supervisor process only.
 */
#pragma once

struct diag_list;
struct supervisor;

/* How a reload ended: 0 serving, -EINVAL config errors (DIAGS has them),
 * -EBUSY another reload running, other negative errno: the new generation
 * failed (MESSAGE says why). DIAGS may be NULL. */
typedef void reload_done_fn(void *ctx, int result, const char *message,
                            const struct diag_list *diags);

/* Starts a reload; DONE (may be NULL) is called once with the outcome. */
void reload_start(struct supervisor *sup, reload_done_fn *done, void *ctx);
/* Forgets the waiter of a running reload (its control client went away). */
void reload_forget(struct supervisor *sup, void *ctx);
/* The running reload ended (generation.c): tells its waiter. */
void reload_finish(struct supervisor *sup, int result, const char *message,
                   const struct diag_list *diags);
/* The first generation serves: runs a reload queued meanwhile, from the loop. */
void reload_run_queued(struct supervisor *sup);
