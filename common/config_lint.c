/*
 * config_lint: see config_lint.h. Pure; runs in the loader (supervisor,
 * `--check`).
 */
#include "config_lint.h"

#include <string.h>
#include <strings.h>

/* Case-insensitive: NEEDLE in HAYSTACK at a word start (not after a letter
 * or digit), so "yourself" in a model name does not count. */
static bool has_word(const char *haystack, const char *needle)
{
	size_t n = strlen(needle);

	for (const char *p = haystack; *p; p++) {
		bool start = p == haystack ||
		             !((p[-1] >= 'a' && p[-1] <= 'z') || (p[-1] >= 'A' && p[-1] <= 'Z') ||
		               (p[-1] >= '0' && p[-1] <= '9'));

		if (start && strncasecmp(p, needle, n) == 0)
			return true;
	}
	return false;
}

bool config_lint_placeholder(const char *s)
{
	static const char *const words[] = {"change_me",  "changeme",  "change-me",
	                                    "replace_me", "replaceme", "replace-me",
	                                    "your-",      "your_",     "xxxxxx"};
	const char *lt = strchr(s, '<');

	if (lt && strchr(lt + 1, '>'))
		return true;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (has_word(s, words[i]))
			return true;
	return false;
}

bool config_lint_environ_inside(const char *s)
{
	return *s && strstr(s + 1, "os.environ/") != NULL;
}
