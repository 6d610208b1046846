/*
 * token_store: the worker's copy of its config's Entra ID tokens (see
 * token_store.h). Runs in each worker, on its loop. A token past its
 * expiry is never handed out, whatever the supervisor sent last: the attempt
 * then fails as auth_token instead of carrying a token Azure refuses.
 * Tokens are wiped when replaced and at exit.
 */
#include "token_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ipc.h"

struct stored_token {
	char token[IPC_TOKEN_MAX + 1];
	int64_t expires_at;
};

static struct stored_token *tokens;
static size_t n_tokens;

int token_store_init(const struct config *config)
{
	n_tokens = config->n_credentials;
	if (n_tokens == 0)
		return 0;
	tokens = calloc(n_tokens, sizeof(*tokens));
	return tokens ? 0 : -ENOMEM;
}

void token_store_free(void)
{
	if (tokens)
		explicit_bzero(tokens, n_tokens * sizeof(*tokens));
	free(tokens);
	tokens = NULL;
	n_tokens = 0;
}

int token_store_apply(const struct ipc_token *msg)
{
	struct stored_token *t;

	if (!tokens || msg->credential >= n_tokens || msg->length > IPC_TOKEN_MAX ||
	    memchr(msg->token, '\0', msg->length))
		return -EINVAL;
	t = &tokens[msg->credential];
	explicit_bzero(t->token, sizeof(t->token));
	memcpy(t->token, msg->token, msg->length);
	t->expires_at = msg->length ? msg->expires_at : 0;
	return 0;
}

const char *token_store_get(size_t index, int64_t now)
{
	if (index >= n_tokens || !tokens[index].token[0] || tokens[index].expires_at <= now)
		return NULL;
	return tokens[index].token;
}
