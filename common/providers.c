/*
 * providers: lookups over the provider table of providers.h. Pure, no
 * allocation; runs in the loader (supervisor, `--check`), in workers and in
 * llmgatectl.
 */
#include "providers.h"

#include <ctype.h>
#include <string.h>

static const struct provider_info table[PROVIDER__COUNT] = {
#define PROVIDER_ROW(id, prefix_, base, base_vars_, keys, auth_, path_, ops_, note_) \
	[PROVIDER_##id] = {.prefix = prefix_,                                        \
	                   .default_base = base,                                     \
	                   .base_vars = base_vars_,                                  \
	                   .key_vars = keys,                                         \
	                   .auth = PROVIDER_AUTH_##auth_,                            \
	                   .path = PROVIDER_PATH_##path_,                            \
	                   .ops = ops_,                                              \
	                   .note = note_},
        PROVIDERS(PROVIDER_ROW)
#undef PROVIDER_ROW
};

const struct provider_info *provider_info(enum provider provider)
{
	return (unsigned)provider < PROVIDER__COUNT ? &table[provider] : NULL;
}

const char *provider_name(enum provider provider)
{
	return (unsigned)provider < PROVIDER__COUNT ? table[provider].prefix : "unknown";
}

bool provider_find(const char *prefix, size_t n, enum provider *ret_provider)
{
	for (size_t i = 0; i < PROVIDER__COUNT; i++) {
		if (strlen(table[i].prefix) == n && strncmp(table[i].prefix, prefix, n) == 0) {
			*ret_provider = (enum provider)i;
			return true;
		}
	}
	return false;
}

bool provider_served(enum provider provider)
{
	return (unsigned)provider < PROVIDER__COUNT && table[provider].ops != 0;
}

/* WORD lowercased with everything but letters and digits left out. */
static size_t squeeze(const char *word, char *buf, size_t len)
{
	size_t n = 0;

	for (; *word && n + 1 < len; word++)
		if (isalnum((unsigned char)*word))
			buf[n++] = (char)tolower((unsigned char)*word);
	buf[n] = '\0';
	return n;
}

/*
 * Typos seen in configs are mostly spelling of the separator ("azure-ai",
 * "lmstudio", "TogetherAI") or a shortened name ("together", "fireworks",
 * "vertex"): compare with separators and case left out, and accept a known
 * prefix that starts with the word (at least 4 letters) or the other way
 * round.
 */
const char *provider_suggest(const char *word)
{
	char w[64], p[64];
	size_t lw = squeeze(word, w, sizeof(w));

	if (lw == 0)
		return NULL;
	for (size_t i = 0; i < PROVIDER__COUNT; i++) {
		size_t lp = squeeze(table[i].prefix, p, sizeof(p));
		size_t shorter = lw < lp ? lw : lp;

		if (strcmp(w, p) == 0 || (shorter >= 4 && strncmp(w, p, shorter) == 0))
			return table[i].prefix;
	}
	return NULL;
}

/* The Ith word of LIST (space separated) into BUF. */
static bool nth_word(const char *list, size_t i, char *buf, size_t len)
{
	while (list && *list) {
		size_t n = strcspn(list, " ");

		if (i-- == 0) {
			if (n + 1 > len)
				return false;
			memcpy(buf, list, n);
			buf[n] = '\0';
			return true;
		}
		list += n;
		list += strspn(list, " ");
	}
	return false;
}

bool provider_key_var(enum provider provider, size_t i, char *buf, size_t len)
{
	return (unsigned)provider < PROVIDER__COUNT &&
	       nth_word(table[provider].key_vars, i, buf, len);
}

bool provider_base_var(enum provider provider, size_t i, char *buf, size_t len)
{
	return (unsigned)provider < PROVIDER__COUNT &&
	       nth_word(table[provider].base_vars, i, buf, len);
}

unsigned provider_op_bit(const char *op)
{
	if (strcmp(op, "chat/completions") == 0)
		return PROVIDER_OP_CHAT;
	if (strcmp(op, "completions") == 0)
		return PROVIDER_OP_COMPLETIONS;
	if (strcmp(op, "embeddings") == 0)
		return PROVIDER_OP_EMBEDDINGS;
	if (strcmp(op, "images/generations") == 0 || strcmp(op, "images/edits") == 0)
		return PROVIDER_OP_IMAGES;
	if (strncmp(op, "audio/", 6) == 0)
		return PROVIDER_OP_AUDIO;
	if (strcmp(op, "moderations") == 0)
		return PROVIDER_OP_MODERATIONS;
	return 0;
}

const char *provider_azure_version_too_old(const char *deployment, const char *version)
{
	static const struct {
		const char *model, *first;
	} table_versions[] = {
#define AZURE_MODEL_ROW(model, first) {model, first},
	        AZURE_MODEL_VERSIONS(AZURE_MODEL_ROW)
#undef AZURE_MODEL_ROW
	};

	/* Only YYYY-MM-DD[...] versions compare; they sort as text. */
	if (strlen(version) < 10 || version[4] != '-' || version[7] != '-')
		return NULL;
	for (size_t i = 0; i < sizeof(table_versions) / sizeof(table_versions[0]); i++) {
		size_t n = strlen(table_versions[i].model);

		/* "o1" must not match "o1x"; "o1-2024-12-17" it does. */
		if (strncmp(deployment, table_versions[i].model, n) != 0 ||
		    (deployment[n] && deployment[n] != '-'))
			continue;
		return strncmp(version, table_versions[i].first, 10) < 0 ? table_versions[i].first
		                                                         : NULL;
	}
	return NULL;
}
