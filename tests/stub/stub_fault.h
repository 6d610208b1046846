/*
 * stub_fault: the fault-injection settings of the test stub, one table of fields shared by the
 * command line (--delay-ms 200), the request body ("x_stub": {...}) and POST /_stub/config.
 */
#ifndef STUB_FAULT_H
#define STUB_FAULT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* X(id, json name, type, min, max): for strings min/max bound the length in bytes. */
#define STUB_FAULT_FIELDS(X)                                                  \
	X(STATUS, "status", STUB_FAULT_TYPE_INT, 100, 599)                    \
	X(DELAY_MS, "delay_ms", STUB_FAULT_TYPE_INT, 0, 3600000)              \
	X(HANG, "hang", STUB_FAULT_TYPE_BOOL, 0, 1)                           \
	X(HEADERS_THEN_HANG, "headers_then_hang", STUB_FAULT_TYPE_BOOL, 0, 1) \
	X(RESET, "reset", STUB_FAULT_TYPE_BOOL, 0, 1)                         \
	X(CHUNKS, "chunks", STUB_FAULT_TYPE_INT, 0, 100000)                   \
	X(CHUNK_DELAY_MS, "chunk_delay_ms", STUB_FAULT_TYPE_INT, 0, 3600000)  \
	X(CUT_AFTER, "cut_after", STUB_FAULT_TYPE_INT, 0, 1000000000)         \
	X(RETRY_AFTER_MS, "retry_after_ms", STUB_FAULT_TYPE_INT, 0, 86400000) \
	X(RETRY_AFTER, "retry_after", STUB_FAULT_TYPE_INT, 0, 86400)          \
	X(BODY, "body", STUB_FAULT_TYPE_STRING, 0, 1048576)                   \
	X(CONTENT_TYPE, "content_type", STUB_FAULT_TYPE_STRING, 1, 200)       \
	X(COUNT, "count", STUB_FAULT_TYPE_INT, 0, 1000000000)                 \
	X(BODY_BYTES, "body_bytes", STUB_FAULT_TYPE_INT, 0, 1LL << 40)        \
	X(ENDLESS, "endless", STUB_FAULT_TYPE_BOOL, 0, 1)                     \
	X(BAD_CHUNKING, "bad_chunking", STUB_FAULT_TYPE_BOOL, 0, 1)           \
	X(PROMPT_TOKENS, "prompt_tokens", STUB_FAULT_TYPE_INT, 1, 1000000000) \
	X(CACHED_TOKENS, "cached_tokens", STUB_FAULT_TYPE_INT, 0, 1000000000) \
	X(REASONING_TOKENS, "reasoning_tokens", STUB_FAULT_TYPE_INT, 0, 1000000000)

enum stub_fault_type {
	STUB_FAULT_TYPE_INT,
	STUB_FAULT_TYPE_BOOL,
	STUB_FAULT_TYPE_STRING,
	STUB_FAULT_TYPE__COUNT
};

enum stub_fault_field {
#define STUB_FAULT_ENUM(id, name, type, min, max) STUB_FAULT_##id,
	STUB_FAULT_FIELDS(STUB_FAULT_ENUM)
#undef STUB_FAULT_ENUM
	        STUB_FAULT__COUNT
};

/* A set of faults; a zeroed struct is empty. Only fields whose bit is in `set` mean anything. */
struct stub_fault {
	unsigned set;
	long long num[STUB_FAULT__COUNT]; /* INT and BOOL fields */
	char *str[STUB_FAULT__COUNT];     /* STRING fields, NUL-terminated, may hold NULs */
	size_t len[STUB_FAULT__COUNT];
};

const char *stub_fault_name(enum stub_fault_field field);
enum stub_fault_type stub_fault_type(enum stub_fault_field field);
long long stub_fault_min(enum stub_fault_field field);
long long stub_fault_max(enum stub_fault_field field);

bool stub_fault_has(const struct stub_fault *f, enum stub_fault_field field);
long long stub_fault_num(const struct stub_fault *f, enum stub_fault_field field, long long dflt);
bool stub_fault_flag(const struct stub_fault *f, enum stub_fault_field field);
const char *stub_fault_str(const struct stub_fault *f, enum stub_fault_field field,
                           size_t *ret_len);

/* Adds the fields of a JSON object to f. Unknown fields and bad values fail with -EINVAL and a
 * message in err; f may then hold some of the fields and should be cleared by the caller. */
int stub_fault_parse_json(struct stub_fault *f, const json_t *obj, char *err, size_t errlen);
/* Sets one field from a command-line value; a BOOL field takes NULL as true. */
int stub_fault_parse_option(struct stub_fault *f, enum stub_fault_field field, const char *value,
                            char *err, size_t errlen);

/* Copies into dst every field set in src, replacing what dst had. */
int stub_fault_merge(struct stub_fault *dst, const struct stub_fault *src);
json_t *stub_fault_to_json(const struct stub_fault *f);
void stub_fault_clear(struct stub_fault *f);

#endif
