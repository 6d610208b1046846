/*
 * privdrop: root -> llmgate.user for the supervisor and, through fork, all
 * its workers (see privdrop.h).
 */
#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static const char *user_or_default(const char *user)
{
	return user && user[0] ? user : "llmgate";
}

const struct passwd *privdrop_account(const char *user, bool *ret_fallback)
{
	const struct passwd *pw;

	*ret_fallback = false;
	user = user_or_default(user);
	if (geteuid() != 0 || strcmp(user, "root") == 0)
		return NULL;
	pw = getpwnam(user);
	if (pw)
		return pw;
	*ret_fallback = true;
	return getpwnam("nobody");
}

int privdrop(const char *user, char *note, size_t note_len)
{
	const struct passwd *pw;
	bool fallback;

	note[0] = '\0';
	if (geteuid() != 0)
		return 0;
	user = user_or_default(user);
	if (strcmp(user, "root") == 0) {
		snprintf(note, note_len, "running as root because llmgate.user is 'root'");
		return 0;
	}
	pw = privdrop_account(user, &fallback);
	if (fallback)
		snprintf(note, note_len, "user '%s' does not exist, running as 'nobody'", user);
	if (!pw)
		return -ENOENT;
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0)
		return -errno;
	if (pw->pw_uid != 0 && setuid(0) == 0)
		return -EPERM; /* root could be regained: refuse to run */
	return 0;
}

int privdrop_set_dumpable(bool allow)
{
	if (prctl(PR_SET_DUMPABLE, allow ? 1 : 0, 0, 0, 0) < 0)
		return -errno;
	return 0;
}
