/*
 * outcome: the columns of OUTCOME_TABLE and the classification of an HTTP
 * answer (see outcome.h). Pure.
 */
#include "outcome.h"

static const struct {
	const char *name;
	bool failure;
	enum outcome_retry retry;
} outcome_rows[OUTCOME__COUNT] = {
#define OUTCOME_ROW(id, name, failure, retry) [OUTCOME_##id] = {name, failure, retry},
        OUTCOME_TABLE(OUTCOME_ROW)
#undef OUTCOME_ROW
};

const char *outcome_name(enum outcome outcome)
{
	return (unsigned)outcome < OUTCOME__COUNT ? outcome_rows[outcome].name : "unknown";
}

bool outcome_is_failure(enum outcome outcome)
{
	return (unsigned)outcome < OUTCOME__COUNT && outcome_rows[outcome].failure;
}

enum outcome_retry outcome_retry_class(enum outcome outcome)
{
	return (unsigned)outcome < OUTCOME__COUNT ? outcome_rows[outcome].retry
	                                          : OUTCOME_RETRY_NONE;
}

enum outcome outcome_from_status(long status, bool is_azure)
{
	if (status >= 200 && status < 400)
		return OUTCOME_SUCCESS;
	if (status == 401 || status == 403)
		return OUTCOME_AUTH;
	if (status == 429)
		return OUTCOME_429;
	if (status == 408)
		return OUTCOME_TIMEOUT;
	if (status == 404 && is_azure)
		return OUTCOME_NOT_FOUND;
	if (status >= 500)
		return OUTCOME_5XX;
	return OUTCOME_CLIENT;
}
