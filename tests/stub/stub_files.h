/*
 * stub_files: the Files and Batches APIs of OpenAI and Azure OpenAI, as strict as the real ones
 * for what llmgate's pass-through relays: multipart uploads (file + purpose), file ids that must
 * exist, batches that name an uploaded batch file, Azure paths with a valid api-version.
 */
#ifndef STUB_FILES_H
#define STUB_FILES_H

#include <stdbool.h>

struct stub_files;
struct stub_http_conn;
struct stub_http_request;

/* REQUIRE_KEY: the key the client must present (Bearer, or api-key on Azure paths), or NULL. */
int stub_files_new(const char *name, const char *require_key, struct stub_files **ret);
void stub_files_free(struct stub_files *files);

/* Answers REQ when its path is one of these APIs' (/v1/files..., /v1/batches...,
 * /openai/files...?api-version=, /openai/v1/files...) and returns true; false: not ours. */
bool stub_files_handle(struct stub_files *files, struct stub_http_conn *conn,
                       const struct stub_http_request *req);

/* POST /_stub/files {"bytes": N, "purpose": P, "filename": F}: a file of N filler bytes that
 * costs the stub no memory (a large download); answers its file object. */
void stub_files_synthetic(struct stub_files *files, struct stub_http_conn *conn,
                          const struct stub_http_request *req);

#endif
