/*
 * header_line: splits one raw header line of an upstream's response
 * ("Name: value\r\n", as libcurl hands it over) into its name and trimmed
 * value. Pure, so it is fuzzed alone.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * LINE[0..LEN) need not be NUL-terminated. Returns false when it has no
 * colon (a status line or the blank line); else true with the name at LINE
 * (*RET_NAME_LEN bytes) and the value at *RET_VALUE (*RET_VALUE_LEN bytes,
 * leading blanks and trailing blanks and line ends removed).
 */
bool header_line_split(const char *line, size_t len, size_t *ret_name_len, const char **ret_value,
                       size_t *ret_value_len);
