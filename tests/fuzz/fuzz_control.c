/*
 * fuzz_control: request lines on the control socket. The input is what a
 * client writes; it is split into lines at '\n' as control.c does, and each
 * line goes through control_parse() and the checks of the arguments of
 * `fallback` and `log-level`.
 *
 * fuzz-args: -max_len=4096
 */
#include <string.h>

#include "supervisor/control_parse.h"
#include "fuzz.h"
#include "log.h"

static void check_args(const struct control_request *req)
{
	const char *arg = json_string_value(json_array_get(req->args, 0));

	if (req->command >= CONTROL_CMD__COUNT || !req->name || !req->root)
		abort();
	if (req->args && !json_is_array(req->args))
		abort();
	if (req->command == CONTROL_CMD_log_level && arg)
		(void)log_level_from_name(arg);
	if (req->command == CONTROL_CMD_fallback && arg)
		for (int i = 0; i < FALLBACK_SETTING__COUNT; i++)
			(void)strcmp(arg, fallback_setting_name((enum fallback_setting)i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		struct control_request req;
		char why[512];
		char *line = malloc(len ? len : 1); /* as evbuffer_readln() gives it */

		if (!line)
			abort();
		memcpy(line, p, len);
		if (control_parse(line, len, &req, why, sizeof(why)) == 0) {
			check_args(&req);
			control_request_clear(&req);
		} else if (!memchr(why, '\0', sizeof(why)) || why[0] == '\0') {
			abort();
		}
		free(line);
		p += len + 1;
	}
	return 0;
}
