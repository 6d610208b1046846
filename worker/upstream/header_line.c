/*
 * header_line: one upstream response header line split in place (see
 * header_line.h). Runs in a worker, from libcurl's header callback.
 */
#include "header_line.h"

#include <string.h>

bool header_line_split(const char *line, size_t len, size_t *ret_name_len, const char **ret_value,
                       size_t *ret_value_len)
{
	const char *colon = memchr(line, ':', len), *value, *end = line + len;

	if (!colon)
		return false;
	value = colon + 1;
	while (value < end && (*value == ' ' || *value == '\t'))
		value++;
	while (end > value && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	*ret_name_len = (size_t)(colon - line);
	*ret_value = value;
	*ret_value_len = (size_t)(end - value);
	return true;
}
