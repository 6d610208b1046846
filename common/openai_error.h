/*
 * openai_error: the body of every error answer llmgate gives a client, in
 * OpenAI's shape {"error":{"message":...,"type":...,"param":null,"code":...}},
 * from one builder: the proxy's replies (worker/api_error.c) and the HTTP
 * server's own rejects both use it. Pure: writes into the caller's buffer.
 */
#pragma once

#include <stddef.h>

/*
 * Writes the body (compact JSON, the bytes jansson's json_dumps() gives for
 * it) into BUF, like snprintf(): at most SIZE - 1 bytes and a NUL (BUF may
 * be NULL when SIZE is 0). CODE NULL is JSON null. A string that is not
 * valid UTF-8 has each byte >= 0x80 shown as '?', so that stray bytes from
 * outside (an upstream's header) cannot break the JSON. Returns the body's
 * full length: the body was cut when that is SIZE or more.
 */
size_t openai_error_format(char *buf, size_t size, const char *type, const char *code,
                           const char *message);
