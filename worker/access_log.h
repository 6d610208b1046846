/*
 * access_log: a worker's writer of access log lines (one JSON object per
 * line) to stderr or a file opened O_APPEND, without ever blocking the event
 * loop: lines go to a bounded buffer that is written at the end of the
 * current loop iteration, non-blocking, in whole lines of at most PIPE_BUF
 * bytes (so lines of several workers sharing a pipe never interleave). What
 * cannot be buffered or written is dropped and counted; the first failure is
 * logged once per worker, none is fatal.
 *
 * Reopening for logrotate: a reload starts new workers, which open the path
 * afresh; the old ones finish on the old file and exit.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct access_log;

#define ACCESS_LOG_MAX_BUFFER (256 * 1024)

/* TARGET: "stderr" or a path. Returns 0, or a negative errno when the file
 * cannot be opened (*RET is then still a log that counts every line as
 * dropped, so that the loss shows in the metrics). */
int access_log_open(struct event_base *base, const char *target, struct access_log **ret);
void access_log_free(struct access_log *log); /* writes what it can first */

/* Queues one line (LINE ends with '\n'). */
void access_log_write(struct access_log *log, const char *line, size_t len);
/* Writes what it can now, without blocking. */
void access_log_flush(struct access_log *log);
/* Lines dropped since the previous call. */
uint32_t access_log_take_dropped(struct access_log *log);
