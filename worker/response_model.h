/*
 * response_model: the model an answer names (its top-level "model" string),
 * read from the answer's first bytes for the spans' gen_ai.response.model.
 * Pure: no allocation, no I/O; reads only the bytes it is given.
 *
 * It never guesses: a "model" that is not a plain string (escaped, empty,
 * holding a control byte, longer than the caller's room), one nested in
 * another member, or one beyond the bytes given is not found. OpenAI names the model near an
 * answer's start; Azure orders members by name, so it comes after
 * "choices", and its streams' first event names none (""): the caller gives
 * the first few chunks of an answer, one at a time.
 */
#pragma once

#include <stddef.h>

#define RESPONSE_MODEL_MAX 128 /* room for a model name and its NUL */

/* The top-level "model" of the JSON object that starts P (after
 * whitespace), if it lies within LEN bytes: copied into OUT (CAP bytes,
 * NUL-terminated), its length returned; 0 when not found. */
size_t response_model_object(const char *p, size_t len, char *out, size_t cap);

/* The same for server-sent events: the first event in P (LEN bytes, from an
 * event's start) whose data line holds a JSON object naming a model. */
size_t response_model_events(const char *p, size_t len, char *out, size_t cap);
