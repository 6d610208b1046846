/*
 * config: loads LiteLLM's proxy config format plus llmgate's `llmgate:`
 * section into struct config (see config.h). Runs in the supervisor (start,
 * reload), in `llmgated --check` and in `llmgatectl probe`; never logs: every
 * problem becomes a located diagnostic.
 *
 * Order of work, as LiteLLM does it where it matters: parse the main file;
 * export environment_variables (setenv) so later references see them; load
 * includes (their model_list entries are appended in order); build the
 * deployments; then groups and ids; then the settings, whose fallbacks name
 * groups; last, one error per unset environment variable. A key left unset
 * is read as its default from the key table (config_keys.h), by the same
 * code as a written value: there are no default literals here.
 *
 * Invariants: no diagnostic shows a secret (api_key, azure_ad_token,
 * master_key, header values: only keys, locations and references are
 * quoted); every resource an input controls is bounded (file size, include
 * depth and count, YAML nesting and nodes, diagnostics); on any error the
 * half-built config is freed and nothing escapes.
 */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_keys.h"
#include "config_entra.h"
#include "config_passthrough.h"
#include "config_otel.h"
#include "config_tls.h"
#include "config_keys.h"
#include "config_lint.h"
#include "config_ref.h"
#include "config_yaml.h"
#include "duration.h"
#include "http_header.h"
#include "provider_request.h"
#include "response_affinity.h"
#include "secret.h"

#define CONFIG_MAX_FILE_SIZE     (4 * 1024 * 1024)
#define CONFIG_MAX_INCLUDE_DEPTH 8
#define CONFIG_MAX_FILES         64
#define CONFIG_MAX_DURATION_MS   ((long)INT_MAX)
#define CONFIG_MAX_REQUEST_MB    1024
#define CONFIG_MAX_WORKERS       1024
/* Limits on lists whose checks are quadratic or whose use is per request. */
#define CONFIG_MAX_HEADERS     64
#define CONFIG_MAX_ENVIRONMENT 1024
#define CONFIG_MAX_FALLBACKS   64
#define CONFIG_MAX_DROP_PARAMS 64
/* Did-you-mean over model_names only while it stays cheap, and never more
 * than this many edit-distance cells per load. */
#define SUGGEST_MAX_GROUPS 1024
#define SUGGEST_BUDGET     (16 * 1024 * 1024)
#define SHOWN_MAX          80  /* bytes of user text quoted back in a message */
#define SLOT_MAX           128 /* keys of the largest section */
#define ELLIPSIS           "\xe2\x80\xa6"
#define MIB                (1024 * 1024)

/* ---- the key table ---------------------------------------------------- */

enum section {
#define X(id, name) SECTION_##id,
	CONFIG_SECTIONS(X)
#undef X
	        SECTION__COUNT,
};

#define X(id, name) static const char section_doc_##id[] = name;
CONFIG_SECTIONS(X)
#undef X

/* How a section is named inside messages. */
static const char *const section_text[SECTION__COUNT] = {
        [SECTION_top] = "the top level",
        [SECTION_entry] = "model_list entries",
        [SECTION_litellm_params] = "litellm_params",
        [SECTION_model_info] = "model_info",
        [SECTION_litellm_settings] = "litellm_settings",
        [SECTION_router_settings] = "router_settings",
        [SECTION_general_settings] = "general_settings",
        [SECTION_llmgate] = "llmgate",
        [SECTION_fallback] = "llmgate.fallback",
        [SECTION_otel] = "llmgate.otel",
        [SECTION_tls] = "llmgate.tls",
};

enum key_type {
	TYPE_STRING,
	TYPE_SECRET,
	TYPE_URL,
	TYPE_ADDRESS,
	TYPE_BOOL,
	TYPE_INT,
	TYPE_NUMBER,
	TYPE_DURATION,
	TYPE_LIST,
	TYPE_MAPPING,
	TYPE_FALLBACKS,
	TYPE_HEADERS,
	TYPE_PARAM,
	TYPE_ADVISORY,
	TYPE_IGNORED,
	TYPE__COUNT,
};

static const char *const type_names[TYPE__COUNT] = {
        [TYPE_STRING] = "string",
        [TYPE_SECRET] = "secret",
        [TYPE_URL] = "url",
        [TYPE_ADDRESS] = "address",
        [TYPE_BOOL] = "boolean",
        [TYPE_INT] = "integer",
        [TYPE_NUMBER] = "number",
        [TYPE_DURATION] = "duration",
        [TYPE_LIST] = "list",
        [TYPE_MAPPING] = "mapping",
        [TYPE_FALLBACKS] = "fallbacks",
        [TYPE_HEADERS] = "headers",
        [TYPE_PARAM] = "request parameter",
        [TYPE_ADVISORY] = "accepted, ignored",
        [TYPE_IGNORED] = "ignored",
};

enum key {
#define X(sec, key, type, def, desc) K_##sec##_##key,
	CONFIG_KEYS(X)
#undef X
	        K__COUNT,
};

struct key_row {
	enum section section;
	const char *name;
	enum key_type type;
};

static const struct key_row key_rows[K__COUNT] = {
#define X(sec, key, type, def, desc) {SECTION_##sec, #key, TYPE_##type},
        CONFIG_KEYS(X)
#undef X
};

static const struct config_key_doc key_docs[K__COUNT] = {
#define X(sec, key, type, def, desc) \
	{section_doc_##sec,          \
	 #key,                       \
	 NULL,                       \
	 def,                        \
	 NULL,                       \
	 desc,                       \
	 TYPE_##type != TYPE_IGNORED && TYPE_##type != TYPE_ADVISORY},
        CONFIG_KEYS(X)
#undef X
};

/* The code that computes each default that is no fixed value. */
static const char *const computed_by[K__COUNT] = {
#define X(sec, key, by) [K_##sec##_##key] = by,
        CONFIG_COMPUTED_DEFAULTS(X)
#undef X
};

/* A fixed default as if it were written in the file, quoted (its text as
 * is): the loader reads it with the key's own code (at_slot()). Never
 * written to. */
static const struct config_yaml_node default_nodes[K__COUNT] = {
#define X(sec, key, type, def, desc) {.kind = CONFIG_YAML_SCALAR, .value = (char *)(def)},
        CONFIG_KEYS(X)
#undef X
};

const struct config_key_doc *config_keys(size_t *ret_n)
{
	static struct config_key_doc docs[K__COUNT];
	static bool ready;

	if (!ready) {
		for (size_t i = 0; i < K__COUNT; i++) {
			docs[i] = key_docs[i];
			docs[i].type = type_names[key_rows[i].type];
			docs[i].computed_by = computed_by[i];
		}
		ready = true;
	}
	if (ret_n)
		*ret_n = K__COUNT;
	return docs;
}

static const char *const fallback_setting_names[FALLBACK_SETTING__COUNT] = {
        [FALLBACK_SETTING_AUTO] = "auto",
        [FALLBACK_SETTING_ON] = "on",
        [FALLBACK_SETTING_OFF] = "off",
};

const char *fallback_setting_name(enum fallback_setting setting)
{
	if ((unsigned)setting >= FALLBACK_SETTING__COUNT)
		return "unknown";
	return fallback_setting_names[setting];
}

/* ---- loader state ------------------------------------------------------ */

struct source {
	char *path;
	struct config_yaml_node *root;
	dev_t dev;
	ino_t ino;
};

/* One model_list entry awaiting its deployment. */
struct entry {
	size_t src;
	size_t index; /* within its file's model_list */
	const struct config_yaml_node *node;
};

/* Where each deployment came from, for messages about ids. */
struct dep_site {
	size_t src;
	size_t index;
	const struct config_yaml_node *entry;
	const struct config_yaml_node *id;         /* model_info.id value, or NULL */
	const struct config_yaml_node *model_name; /* its value, or NULL */
	size_t position;                           /* 1-based within its group */
	/* The Entra ID keys as written, resolved once the settings are read
	 * (resolve_credentials(), config_entra.c); owned, secrets wiped. */
	struct {
		char *tenant_id, *client_id, *client_secret, *scope, *credential;
		bool scope_written;
		const struct config_yaml_node *params;  /* litellm_params, for messages */
		const struct config_yaml_node *keys[5]; /* the keys above, where written */
		/* azure without api_key or azure_ad_token: its model, warned at unless
		 * an Entra ID credential is found */
		const struct config_yaml_node *no_key;
	} entra;
};

struct fallback_rule {
	size_t src;
	const struct config_yaml_node *key; /* the group name, as a key */
	char *group;
	char **targets;
	const struct config_yaml_node **target_nodes;
	size_t n_targets;
};

struct strmap {
	const char **keys;
	size_t *values;
	size_t cap, n;
};

/* The keys found in one mapping, by their row in the table. */
struct slots {
	enum section section;
	size_t src;
	size_t first, count;
	char prefix[96]; /* path of the mapping, e.g. "model_list[0].litellm_params" */
	const struct config_yaml_node *map;
	const struct config_yaml_node *key[SLOT_MAX];
	const struct config_yaml_node *value[SLOT_MAX];
};

/* One value being read: where it is and how it may be shown. */
struct at {
	size_t src;
	const struct config_yaml_node *key;
	const struct config_yaml_node *node;
	char path[160];
	bool secret;
	bool litellm_reads;
	bool by_default; /* NODE is the key's default, not written in the file */
	const char *env_key;
};

struct loader {
	struct config *config;
	struct diag_list *diags;
	struct config_refs refs;
	struct source *sources;
	size_t n_sources, cap_sources;
	size_t loading[CONFIG_MAX_INCLUDE_DEPTH + 1]; /* sources being loaded */
	size_t n_loading;
	struct entry *entries;
	size_t n_entries, cap_entries;
	struct dep_site *sites;
	size_t cap_deployments, cap_sites;
	struct strmap groups; /* name -> index in config->groups */
	struct fallback_rule *rules;
	size_t n_rules, cap_rules;
	size_t cap_aliases;
	/* litellm_params of an entry of a provider llmgate does not serve are
	 * being read: its provider's own keys (aws_region_name...) are not
	 * worth a line each, the entry has its own */
	bool unserved_entry;
	struct slots top; /* the main file's sections */
	size_t suggest_budget;
	/* llmgate.strict as written, read before the entries it governs
	 * (load_llmgate() reads it again, with its diagnostics) */
	bool strict;
	bool otel_callback; /* "otel" in a litellm_settings callback list (load_otel()) */
	bool oom;
};

enum got {
	GOT_BAD = -1, /* reported */
	GOT = 0,
	GOT_NOTHING = 1, /* absent or null */
};

/* ---- small helpers ----------------------------------------------------- */

static int grow(void *ptr, size_t *cap, size_t n, size_t size)
{
	void **p = ptr;
	size_t new_cap;
	void *q;

	if (n < *cap)
		return 0;
	new_cap = *cap ? *cap * 2 : 8;
	if (new_cap > SIZE_MAX / size)
		return -ENOMEM;
	q = realloc(*p, new_cap * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = new_cap;
	return 0;
}

static char *dup_or_oom(struct loader *ld, const char *s)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		ld->oom = true;
	return d;
}

/* Replaces *DST (freeing the old value) with S; S is taken over. */
static void take(char **dst, char *s)
{
	free(*dst);
	*dst = s;
}

__attribute__((format(printf, 5, 6))) static void report(struct loader *ld,
                                                         enum diag_severity severity, size_t src,
                                                         const struct config_yaml_node *node,
                                                         const char *fmt, ...)
{
	const char *file = src < ld->n_sources ? ld->sources[src].path : ld->config->path;
	char *message = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&message, fmt, ap);
	va_end(ap);
	if (r < 0) {
		ld->oom = true;
		diag_add(ld->diags, severity, file, node ? node->line : 0, node ? node->col : 0,
		         "(out of memory formatting a message)");
		return;
	}
	diag_add(ld->diags, severity, file, node ? node->line : 0, node ? node->col : 0, "%s",
	         message);
	free(message);
}

/* Defence in depth for values quoted back: text shaped like a credential
 * (an sk- key, a bearer token, a long run of key characters such as an Azure
 * key or a JWT) is masked even when it sits in a field that is no secret. */
static bool looks_secret(const char *s)
{
	size_t run = 0;
	bool digit = false, alpha = false;

	if (strncmp(s, "sk-", 3) == 0 || strncmp(s, "sk_", 3) == 0 ||
	    strncasecmp(s, "bearer ", 7) == 0)
		return true;
	for (; *s; s++) {
		if ((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= 'A' && *s <= 'Z') || strchr("+/=_", *s)) {
			run++;
			digit |= *s >= '0' && *s <= '9';
			alpha |= (*s | 0x20) >= 'a' && (*s | 0x20) <= 'z';
			if (run >= 32 && digit && alpha)
				return true;
		} else {
			run = 0;
			digit = alpha = false;
		}
	}
	return false;
}

/* User text as it may appear in a message: bounded, one line, never cut
 * inside a UTF-8 sequence, and masked when it looks like a credential.
 * Secret fields are never passed here at all. */
static const char *shown(const char *text, char *buf, size_t len)
{
	size_t n = 0, i;

	if (looks_secret(text))
		return secret_mask(text, buf, len);

	for (i = 0; text[i] && n + 4 < len && i < SHOWN_MAX; i++)
		buf[n++] = (unsigned char)text[i] < 0x20 || text[i] == 0x7f ? '?' : text[i];
	if (text[i]) {
		while (n > 0 && ((unsigned char)buf[n - 1] & 0xc0) == 0x80)
			n--;
		if (n > 0 && (unsigned char)buf[n - 1] >= 0xc0)
			n--;
		memcpy(buf + n, ELLIPSIS, 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/* A URL as it may appear in a message: user:password@ is hidden. */
static const char *shown_url(const char *url, char *buf, size_t len)
{
	char tmp[SHOWN_MAX * 2];
	const char *auth = strstr(url, "://"), *at, *end;

	if (!auth)
		return shown(url, buf, len);
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	at = memchr(auth, '@', (size_t)(end - auth));
	if (!at)
		return shown(url, buf, len);
	snprintf(tmp, sizeof(tmp), "%.*s***%.*s", (int)(auth - url), url, SHOWN_MAX, at);
	return shown(tmp, buf, len);
}

/* A value as it may appear in a message: what was written when it holds a
 * reference (the resolved text came from the environment and may be
 * anything), else the text itself. */
static const char *shown_value(const struct config_yaml_node *node, const char *resolved, char *buf,
                               size_t len)
{
	if (node && node->kind == CONFIG_YAML_SCALAR && strcmp(node->value, resolved) != 0)
		return shown(node->value, buf, len);
	return shown(resolved, buf, len);
}

static bool ends_with_ci(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static void strip_trailing_slashes(char *s, size_t keep)
{
	size_t n = strlen(s);

	while (n > keep && s[n - 1] == '/')
		s[--n] = '\0';
}

/* ---- string map (groups, ids) ------------------------------------------ */

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static bool strmap_get(const struct strmap *m, const char *key, size_t *ret)
{
	if (!m->cap)
		return false;
	for (size_t i = hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (!m->keys[i])
			return false;
		if (strcmp(m->keys[i], key) == 0) {
			if (ret)
				*ret = m->values[i];
			return true;
		}
	}
}

/* KEY is borrowed and must outlive the map. */
static int strmap_put(struct strmap *m, const char *key, size_t value)
{
	if ((m->n + 1) * 2 > m->cap) {
		struct strmap bigger = {.cap = m->cap ? m->cap * 2 : 16};

		bigger.keys = calloc(bigger.cap, sizeof(*bigger.keys));
		bigger.values = calloc(bigger.cap, sizeof(*bigger.values));
		if (!bigger.keys || !bigger.values) {
			free(bigger.keys);
			free(bigger.values);
			return -ENOMEM;
		}
		for (size_t i = 0; i < m->cap; i++)
			if (m->keys[i])
				strmap_put(&bigger, m->keys[i], m->values[i]);
		free(m->keys);
		free(m->values);
		*m = bigger;
	}
	for (size_t i = hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (!m->keys[i]) {
			m->keys[i] = key;
			m->values[i] = value;
			m->n++;
			return 0;
		}
		if (strcmp(m->keys[i], key) == 0) {
			m->values[i] = value;
			return 0;
		}
	}
}

static void strmap_free(struct strmap *m)
{
	free(m->keys);
	free(m->values);
	memset(m, 0, sizeof(*m));
}

/* ---- did you mean ------------------------------------------------------ */

#define SUGGEST_MAX_LEN 64

/* Optimal string alignment distance (Levenshtein plus transpositions),
 * case-insensitive. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t rows[3][SUGGEST_MAX_LEN + 1];
	size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];

	if (la > SUGGEST_MAX_LEN || lb > SUGGEST_MAX_LEN)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			char ca = (char)(a[i - 1] | 0x20), cb = (char)(b[j - 1] | 0x20);
			size_t cost = ca != cb;
			size_t best = prev[j] + 1;

			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			if (prev[j - 1] + cost < best)
				best = prev[j - 1] + cost;
			if (i > 1 && j > 1 && ca == (char)(b[j - 2] | 0x20) &&
			    (char)(a[i - 2] | 0x20) == cb && prev2[j - 2] + 1 < best)
				best = prev2[j - 2] + 1;
			cur[j] = best;
		}
		size_t *t = prev2;

		prev2 = prev;
		prev = cur;
		cur = t;
	}
	return prev[lb];
}

/* The closest of NAMES to WORD, when close enough to be a typo. */
static const char *closest(const char *word, const char *const *names, size_t n, size_t *budget)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX, lw = strlen(word);

	for (size_t i = 0; i < n; i++) {
		size_t ln = strlen(names[i]), d;
		size_t longest = lw > ln ? lw : ln, shortest = lw < ln ? lw : ln;
		size_t limit = longest >= 8 ? 2 : 1;

		/* The distance is at least the difference in length. */
		if (longest - shortest > limit)
			continue;
		if (*budget < lw * ln)
			break;
		*budget -= lw * ln;
		d = edit_distance(word, names[i]);
		if (d == SIZE_MAX || (d > 0 && (d > limit || d >= shortest)))
			continue;
		if (d < best_d) {
			best = names[i];
			best_d = d;
		}
	}
	return best;
}

static size_t section_first(enum section section, size_t *ret_count)
{
	size_t first = K__COUNT, count = 0;

	for (size_t i = 0; i < K__COUNT; i++) {
		if (key_rows[i].section != section)
			continue;
		if (first == K__COUNT)
			first = i;
		count++;
	}
	/* The table's rows of one section are contiguous and fit the slots. */
	assert(count <= SLOT_MAX);
	*ret_count = count;
	return first;
}

static const char *suggest_key(struct loader *ld, enum section section, const char *word)
{
	const char *names[SLOT_MAX];
	size_t count, first = section_first(section, &count);

	for (size_t i = 0; i < count && i < SLOT_MAX; i++)
		names[i] = key_rows[first + i].name;
	return closest(word, names, count < SLOT_MAX ? count : SLOT_MAX, &ld->suggest_budget);
}

/* Sections other than SECTION where WORD is a key ("" if none). */
static void sections_with_key(enum section section, const char *word, bool ignored, char *buf,
                              size_t len)
{
	size_t found = 0, n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < K__COUNT && found < 2 && n < len; i++) {
		const struct key_row *row = &key_rows[i];

		bool own = row->section == SECTION_llmgate || row->section == SECTION_fallback ||
		           row->section == SECTION_otel || row->section == SECTION_tls;

		/* llmgate's own keys are no home for a LiteLLM key ('mode') */
		if (row->section == section || (row->type == TYPE_IGNORED) != ignored ||
		    strcmp(row->name, word) != 0 ||
		    (own && section != SECTION_llmgate && section != SECTION_fallback &&
		     section != SECTION_otel && section != SECTION_tls))
			continue;
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s", found ? " or " : "",
		                      section_text[row->section]);
		found++;
	}
}

/* ---- reading values ---------------------------------------------------- */

/* The value of KEY in S; for an unset (or null) key with a fixed default,
 * that default, read like a written value. */
static struct at at_slot(const struct slots *s, enum key key)
{
	size_t i = (size_t)key - s->first;
	bool by_default =
	        config_yaml_is_null(s->value[i]) && default_nodes[key].value && !computed_by[key];
	struct at at;

	assert(i < s->count);
	at = (struct at){
	        .src = s->src,
	        .key = s->key[i],
	        .node = by_default ? &default_nodes[key] : s->value[i],
	        .by_default = by_default,
	        .secret = key_rows[key].type == TYPE_SECRET,
	        .litellm_reads = s->section != SECTION_llmgate && s->section != SECTION_fallback &&
	                         s->section != SECTION_otel && s->section != SECTION_tls,
	};
	snprintf(at.path, sizeof(at.path), "%s%s%s", s->prefix, s->prefix[0] ? "." : "",
	         key_rows[key].name);
	return at;
}

/* Paths only label messages: a long one is cut, never a problem. */
__attribute__((format(printf, 2, 3))) static void set_path(struct at *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(at->path, sizeof(at->path), fmt, ap);
	va_end(ap);
}

/* Scalar text of AT with references resolved. */
static enum got get_text(struct loader *ld, const struct at *at, const char *expect, char **ret)
{
	struct config_ref_site site;
	int r;

	*ret = NULL;
	if (config_yaml_is_null(at->node))
		return GOT_NOTHING;
	if (at->node->kind != CONFIG_YAML_SCALAR) {
		report(ld, DIAG_ERROR, at->src, at->node, "%s must be %s, not %s", at->path, expect,
		       config_yaml_kind_name(at->node->kind));
		return GOT_BAD;
	}
	site = (struct config_ref_site){
	        .file = ld->sources[at->src].path,
	        .line = at->node->line,
	        .col = at->node->col,
	        .file_index = at->src,
	        .path = at->path,
	        .env_key = at->env_key,
	        .litellm_reads = at->litellm_reads,
	};
	r = config_ref_expand(&ld->refs, at->node->value, &site, ret);
	if (r < 0) {
		ld->oom = true;
		return GOT_BAD;
	}
	return r == 0 ? GOT : GOT_BAD;
}

static enum got get_string(struct loader *ld, const struct at *at, char **dst)
{
	char *text;
	enum got r = get_text(ld, at, "a string", &text);

	if (r == GOT)
		take(dst, text);
	return r;
}

static bool parse_yaml_bool(const char *s, bool *ret)
{
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
	                                  "YES",  "on",   "On",   "ON"};
	static const char *const no[] = {"false", "False", "FALSE", "no", "No",
	                                 "NO",    "off",   "Off",   "OFF"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*ret = true;
			return true;
		}
		if (strcmp(s, no[i]) == 0) {
			*ret = false;
			return true;
		}
	}
	return false;
}

static enum got get_bool(struct loader *ld, const struct at *at, bool *dst)
{
	char buf[SHOWN_MAX + 8], *text;
	enum got r = get_text(ld, at, "true or false", &text);

	if (r != GOT)
		return r;
	if (!parse_yaml_bool(text, dst)) {
		report(ld, DIAG_ERROR, at->src, at->node, "%s must be true or false, not '%s'",
		       at->path, shown_value(at->node, text, buf, sizeof(buf)));
		r = GOT_BAD;
	}
	free(text);
	return r;
}

static bool parse_long(const char *s, long *ret)
{
	char *end;
	long v;

	if (!*s || strchr(" \t\n", *s))
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end)
		return false;
	*ret = v;
	return true;
}

/*
 * YAML 1.1 (PyYAML, so LiteLLM) reads a plain 20_000 as the integer 20000:
 * a decimal integer may have underscores after its first digit. TEXT of a
 * plain scalar in that form is copied to BUF without them.
 */
static bool yaml11_int(const struct config_yaml_node *node, const char *text, char *buf, size_t len)
{
	const char *p = text + (*text == '-' || *text == '+');
	size_t n = 0;

	if (!node || !node->plain || !strchr(text, '_') || *p < '1' || *p > '9')
		return false;
	for (const char *q = text; *q; q++) {
		if (*q == '_')
			continue;
		if (q >= p && (*q < '0' || *q > '9'))
			return false;
		if (n + 1 >= len)
			return false;
		buf[n++] = *q;
	}
	buf[n] = '\0';
	return true;
}

static enum got get_long(struct loader *ld, const struct at *at, long min, long max, long *dst)
{
	char buf[SHOWN_MAX + 8], digits[32], *text;
	enum got r = get_text(ld, at, "an integer", &text);
	long v;

	if (r != GOT)
		return r;
	if (!parse_long(text, &v) &&
	    !(yaml11_int(at->node, text, digits, sizeof(digits)) && parse_long(digits, &v))) {
		report(ld, DIAG_ERROR, at->src, at->node, "%s must be an integer, not '%s'",
		       at->path, shown_value(at->node, text, buf, sizeof(buf)));
		r = GOT_BAD;
	} else if (v < min || v > max) {
		report(ld, DIAG_ERROR, at->src, at->node, "%s must be between %ld and %ld, not %ld",
		       at->path, min, max, v);
		r = GOT_BAD;
	} else {
		*dst = v;
	}
	free(text);
	return r;
}

static bool parse_double(const char *s, double *ret)
{
	char *end;
	double v;

	/* Only decimal notation: strtod's "inf", "nan" and hex forms are not
	 * YAML numbers. */
	if (!*s || strspn(s, "0123456789+-.eE") != strlen(s))
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v))
		return false;
	*ret = v;
	return true;
}

static enum got get_double(struct loader *ld, const struct at *at, double min_exclusive, double max,
                           double *dst)
{
	char buf[SHOWN_MAX + 8], *text;
	enum got r = get_text(ld, at, "a number", &text);
	double v;

	if (r != GOT)
		return r;
	if (!parse_double(text, &v)) {
		report(ld, DIAG_ERROR, at->src, at->node, "%s must be a number, not '%s'", at->path,
		       shown_value(at->node, text, buf, sizeof(buf)));
		r = GOT_BAD;
	} else if (!(v > min_exclusive) || v > max) {
		report(ld, DIAG_ERROR, at->src, at->node,
		       "%s must be greater than %g and at most %g, not %g", at->path, min_exclusive,
		       max, v);
		r = GOT_BAD;
	} else {
		*dst = v;
	}
	free(text);
	return r;
}

static enum got get_duration(struct loader *ld, const struct at *at, bool allow_zero, long *dst)
{
	char buf[SHOWN_MAX + 8], *text;
	enum got r = get_text(ld, at, "a duration", &text);
	long ms;

	if (r != GOT)
		return r;
	if (duration_parse(text, &ms) < 0) {
		report(ld, DIAG_ERROR, at->src, at->node,
		       "%s must be a duration such as 500ms, 30s, 5m or 1h (a bare number is "
		       "seconds), not '%s'",
		       at->path, shown_value(at->node, text, buf, sizeof(buf)));
		r = GOT_BAD;
	} else if (ms > CONFIG_MAX_DURATION_MS) {
		report(ld, DIAG_ERROR, at->src, at->node, "%s is too long (at most %ldh)", at->path,
		       CONFIG_MAX_DURATION_MS / 3600000);
		r = GOT_BAD;
	} else if (ms == 0 && !allow_zero) {
		report(ld, DIAG_ERROR, at->src, at->node, "%s must be longer than 0", at->path);
		r = GOT_BAD;
	} else {
		*dst = ms;
	}
	free(text);
	return r;
}

/* ---- request defaults (litellm_params passed upstream) ----------------- */

static bool yaml_int(const char *s, json_int_t *ret)
{
	char *end;
	long long v;

	if (!*s || strspn(s, "0123456789+-") != strlen(s))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*ret = v;
	return true;
}

/* The key of K.again stands earlier in its mapping (at K.first) too: the
 * main config's rule (config_yaml.h), LiteLLM's, reads the later value. */
static void report_duplicate(struct loader *ld, size_t src, const struct config_yaml_key *k,
                             const char *where)
{
	char buf[SHOWN_MAX + 8];

	report(ld, DIAG_WARNING, src, k->again->key,
	       "duplicate key '%s' %s; the later value is used (first at %d:%d)",
	       shown(k->again->key->value, buf, sizeof(buf)), where, k->first->key->line,
	       k->first->key->col);
}

static json_t *to_json(struct loader *ld, size_t src, const struct config_yaml_node *node,
                       const char *path, bool *bad)
{
	json_t *j = NULL;

	switch (node->kind) {
	case CONFIG_YAML_SCALAR: {
		struct at at = {.src = src, .node = node, .litellm_reads = true};
		json_int_t i;
		double d;
		bool b;
		char *text;

		if (node->plain) {
			if (config_yaml_is_null(node))
				return json_null();
			if (parse_yaml_bool(node->value, &b))
				return json_boolean(b);
			if (yaml_int(node->value, &i))
				return json_integer(i);
			if (parse_double(node->value, &d))
				return json_real(d);
		}
		set_path(&at, "%s", path);
		if (get_text(ld, &at, "a value", &text) != GOT) {
			*bad = true;
			return NULL;
		}
		j = json_string(text);
		free(text);
		if (!j) {
			report(ld, DIAG_ERROR, src, node, "%s is not valid UTF-8", path);
			*bad = true;
		}
		return j;
	}
	case CONFIG_YAML_MAPPING:
		j = json_object();
		if (!j)
			break;
		struct config_yaml_key k;
		for (size_t pos = 0;
		     !*bad && config_yaml_next_key(node, CONFIG_YAML_LATER_WINS, &pos, &k);) {
			char where[SHOWN_MAX * 4];
			json_t *v;

			if (k.again) {
				snprintf(where, sizeof(where), "in %s", path);
				report_duplicate(ld, src, &k, where);
			}
			if (!k.pair)
				continue;
			v = to_json(ld, src, k.pair->value, path, bad);
			if (v && json_object_set_new(j, k.pair->key->value, v) < 0)
				*bad = ld->oom = true;
		}
		break;
	case CONFIG_YAML_SEQUENCE:
		j = json_array();
		if (!j)
			break;
		for (size_t i = 0; i < node->n_items && !*bad; i++) {
			json_t *v = to_json(ld, src, node->items[i], path, bad);

			if (v && json_array_append_new(j, v) < 0)
				*bad = ld->oom = true;
		}
		break;
	default:
		break;
	}
	if (!j) {
		*bad = ld->oom = true;
		return NULL;
	}
	if (*bad) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static void add_param(struct loader *ld, const struct slots *s, const struct config_yaml_pair *p,
                      json_t *params)
{
	char path[160];
	bool bad = false;
	json_t *v;

	snprintf(path, sizeof(path), "%s.%s", s->prefix, p->key->value);
	v = to_json(ld, s->src, p->value, path, &bad);
	if (v && json_object_set_new(params, p->key->value, v) < 0)
		ld->oom = true;
}

/* ---- scanning a section ------------------------------------------------ */

static void qualified(enum section section, const char *key, char *buf, size_t len)
{
	if (section == SECTION_top || section == SECTION_entry)
		snprintf(buf, len, "%s", key);
	else
		snprintf(buf, len, "%s.%s", section_text[section], key);
}

/* Once the list is full, further diagnostics are only counted: skip the
 * work of composing suggestions nobody will read. */
static bool diags_full(const struct loader *ld)
{
	return ld->diags && ld->diags->n >= DIAG_LIST_MAX;
}

static void unknown_key(struct loader *ld, struct slots *s, const struct config_yaml_pair *p,
                        const char *where, json_t *params)
{
	const char *key = p->key->value;
	const char *suggestion = diags_full(ld) ? NULL : suggest_key(ld, s->section, key);
	char buf[SHOWN_MAX + 8], elsewhere[96] = "";

	shown(key, buf, sizeof(buf));
	/* A key of another section first: 'mode' in litellm_params is
	 * model_info's, not a typo of 'model'. */
	if (!diags_full(ld))
		sections_with_key(s->section, key, false, elsewhere, sizeof(elsewhere));
	if (elsewhere[0]) {
		report(ld, DIAG_WARNING, s->src, p->key, "unknown key '%s' %s; it belongs in %s",
		       buf, where, elsewhere);
		return;
	}
	if (suggestion) {
		report(ld, DIAG_WARNING, s->src, p->key, "unknown key '%s' %s; did you mean '%s'?",
		       buf, where, suggestion);
		return;
	}
	if (!diags_full(ld))
		sections_with_key(s->section, key, true, elsewhere, sizeof(elsewhere));
	if (elsewhere[0]) {
		report(ld, DIAG_WARNING, s->src, p->key,
		       "unknown key '%s' %s; LiteLLM reads it in %s, and llmgate does not implement "
		       "it; ignored",
		       buf, where, elsewhere);
		return;
	}
	if (params) {
		report(ld, DIAG_WARNING, s->src, p->key,
		       "unknown key '%s' %s; sent upstream as a request parameter", buf, where);
		add_param(ld, s, p, params);
		return;
	}
	report(ld, DIAG_WARNING, s->src, p->key, "unknown key '%s' %s; ignored", buf, where);
}

/*
 * Sorts the pairs of MAP into S by key; warns about unknown, ignored and
 * duplicate keys (a key's later pair is the one read). Request parameters
 * go into PARAMS (litellm_params only). Returns false when MAP is not a
 * mapping (reported).
 */
static bool scan(struct loader *ld, size_t src, const struct config_yaml_node *map,
                 enum section section, const char *prefix, const char *where, struct slots *s,
                 json_t *params)
{
	memset(s, 0, sizeof(*s));
	s->section = section;
	s->src = src;
	s->map = map;
	s->first = section_first(section, &s->count);
	snprintf(s->prefix, sizeof(s->prefix), "%s", prefix);
	if (config_yaml_is_null(map))
		return true;
	if (map->kind != CONFIG_YAML_MAPPING) {
		report(ld, DIAG_ERROR, src, map, "%s must be a mapping, not %s",
		       prefix[0] ? prefix : "the config", config_yaml_kind_name(map->kind));
		return false;
	}
	struct config_yaml_key dk;
	for (size_t pos = 0; config_yaml_next_key(map, CONFIG_YAML_LATER_WINS, &pos, &dk);) {
		const struct config_yaml_pair *p = dk.pair;
		const char *key;
		size_t k = s->count;
		char q[SHOWN_MAX * 2];

		if (dk.again)
			report_duplicate(ld, src, &dk, where);
		if (!p)
			continue;
		key = p->key->value;
		for (size_t j = 0; j < s->count; j++) {
			if (strcmp(key_rows[s->first + j].name, key) == 0) {
				k = j;
				break;
			}
		}
		if (k == s->count) {
			/* x-... at the top level: a home for YAML anchors, as in
			 * docker-compose; deliberately not a typo. */
			if (section == SECTION_top && strncmp(key, "x-", 2) == 0)
				continue;
			unknown_key(ld, s, p, where, params);
			continue;
		}
		qualified(section, key, q, sizeof(q));
		switch (key_rows[s->first + k].type) {
		case TYPE_IGNORED:
			if (!ld->unserved_entry)
				report(ld, DIAG_WARNING, src, p->key, "ignored: %s is %s", q,
				       CONFIG_IGNORED_DESC);
			continue;
		case TYPE_ADVISORY:
			report(ld, DIAG_WARNING, src, p->key, "ignored: %s is %s", q,
			       key_docs[s->first + k].description);
			continue;
		case TYPE_PARAM:
			if (params)
				add_param(ld, s, p, params);
			continue;
		default:
			break;
		}
		s->key[k] = p->key;
		s->value[k] = p->value;
	}
	return true;
}

/* ---- files and includes ------------------------------------------------ */

static int read_all(const char *path, char **ret_data, size_t *ret_len, struct stat *ret_st)
{
	size_t len = 0, cap;
	char *data;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, ret_st) < 0) {
		r = -errno;
		goto out;
	}
	if (S_ISDIR(ret_st->st_mode)) {
		r = -EISDIR;
		goto out;
	}
	/* A FIFO or device could block or never end: only regular files. */
	if (!S_ISREG(ret_st->st_mode)) {
		r = -EINVAL;
		goto out;
	}
	if (ret_st->st_size > CONFIG_MAX_FILE_SIZE) {
		r = -EFBIG;
		goto out;
	}
	cap = (size_t)ret_st->st_size + 1;
	data = malloc(cap);
	if (!data) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *bigger;

			if (cap > CONFIG_MAX_FILE_SIZE) {
				free(data);
				r = -EFBIG;
				goto out;
			}
			bigger = realloc(data, cap * 2);
			if (!bigger) {
				free(data);
				r = -ENOMEM;
				goto out;
			}
			data = bigger;
			cap *= 2;
		}
		n = read(fd, data + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			free(data);
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CONFIG_MAX_FILE_SIZE) {
		free(data);
		r = -EFBIG;
		goto out;
	}
	*ret_data = data;
	*ret_len = len;
out:
	close(fd);
	return r;
}

static const char *read_error(int r, char *buf, size_t len)
{
	if (r == -EFBIG)
		snprintf(buf, len, "the file is larger than %d MiB", CONFIG_MAX_FILE_SIZE / MIB);
	else if (r == -EINVAL)
		snprintf(buf, len, "not a regular file");
	else
		snprintf(buf, len, "%s", strerror(-r));
	return buf;
}

/*
 * Reads and parses PATH as a new source. FROM/ITEM locate the include that
 * names it (FROM == SIZE_MAX for the main file). Returns the source index,
 * or a negative errno (reported). -EEXIST: already loaded, skipped.
 */
static long add_source(struct loader *ld, const char *path, size_t from,
                       const struct config_yaml_node *item)
{
	struct source *s;
	struct stat st;
	char *data = NULL, why[96], buf[SHOWN_MAX + 8];
	size_t len = 0;
	int r;

	r = read_all(path, &data, &len, &st);
	if (r < 0) {
		if (from == SIZE_MAX)
			diag_add(ld->diags, DIAG_ERROR, path, 0, 0, "cannot read the config: %s",
			         read_error(r, why, sizeof(why)));
		else
			report(ld, DIAG_ERROR, from, item, "cannot read include '%s': %s",
			       shown(path, buf, sizeof(buf)), read_error(r, why, sizeof(why)));
		return r;
	}
	for (size_t i = 0; i < ld->n_loading; i++) {
		const struct source *l = &ld->sources[ld->loading[i]];

		if (l->dev == st.st_dev && l->ino == st.st_ino) {
			report(ld, DIAG_ERROR, from, item,
			       "include cycle: '%s' is already being loaded (it includes itself "
			       "through this file)",
			       shown(path, buf, sizeof(buf)));
			free(data);
			return -ELOOP;
		}
	}
	for (size_t i = 0; i < ld->n_sources; i++) {
		if (ld->sources[i].dev == st.st_dev && ld->sources[i].ino == st.st_ino) {
			report(ld, DIAG_WARNING, from, item, "'%s' is already included; skipped",
			       shown(path, buf, sizeof(buf)));
			free(data);
			return -EEXIST;
		}
	}
	if (ld->n_sources >= CONFIG_MAX_FILES) {
		report(ld, DIAG_ERROR, from, item, "too many included files (the limit is %d)",
		       CONFIG_MAX_FILES);
		free(data);
		return -E2BIG;
	}
	if (grow(&ld->sources, &ld->cap_sources, ld->n_sources, sizeof(*ld->sources)) < 0) {
		free(data);
		ld->oom = true;
		return -ENOMEM;
	}
	s = &ld->sources[ld->n_sources];
	*s = (struct source){.dev = st.st_dev, .ino = st.st_ino};
	s->path = strdup(path);
	if (!s->path) {
		free(data);
		ld->oom = true;
		return -ENOMEM;
	}
	ld->n_sources++;
	r = config_yaml_parse(s->path, data, len, &s->root, ld->diags);
	free(data);
	if (r == -ENOMEM)
		ld->oom = true;
	return r < 0 ? r : (long)(ld->n_sources - 1);
}

static void add_entries(struct loader *ld, size_t src, const struct config_yaml_node *list)
{
	if (config_yaml_is_null(list))
		return;
	if (list->kind != CONFIG_YAML_SEQUENCE) {
		report(ld, DIAG_ERROR, src, list, "model_list must be a list, not %s",
		       config_yaml_kind_name(list->kind));
		return;
	}
	for (size_t i = 0; i < list->n_items; i++) {
		if (grow(&ld->entries, &ld->cap_entries, ld->n_entries, sizeof(*ld->entries)) < 0) {
			ld->oom = true;
			return;
		}
		ld->entries[ld->n_entries++] =
		        (struct entry){.src = src, .index = i, .node = list->items[i]};
	}
}

static char *include_path(const char *including, const char *name)
{
	const char *slash = strrchr(including, '/');
	char *path = NULL;

	if (name[0] == '/' || !slash)
		return strdup(name);
	if (asprintf(&path, "%.*s/%s", (int)(slash - including), including, name) < 0)
		return NULL;
	return path;
}

static void load_file_sections(struct loader *ld, size_t src, struct slots *top);

static void load_includes(struct loader *ld, size_t src, const struct slots *top)
{
	struct at at = at_slot(top, K_top_include);
	const struct config_yaml_node *list = at.node;

	if (config_yaml_is_null(list))
		return;
	if (list->kind != CONFIG_YAML_SEQUENCE) {
		report(ld, DIAG_ERROR, src, list, "include must be a list of files, not %s",
		       config_yaml_kind_name(list->kind));
		return;
	}
	for (size_t i = 0; i < list->n_items && !ld->oom; i++) {
		struct slots sub;
		char *name = NULL, *path;
		long r;

		at.node = list->items[i];
		set_path(&at, "include[%zu]", i);
		if (get_text(ld, &at, "a file name", &name) != GOT) {
			if (config_yaml_is_null(at.node))
				report(ld, DIAG_ERROR, src, at.node, "include[%zu] is empty", i);
			free(name);
			continue;
		}
		if (ld->n_loading > CONFIG_MAX_INCLUDE_DEPTH) {
			report(ld, DIAG_ERROR, src, at.node, "includes nest deeper than %d levels",
			       CONFIG_MAX_INCLUDE_DEPTH);
			free(name);
			return;
		}
		path = include_path(ld->sources[src].path, name);
		free(name);
		if (!path) {
			ld->oom = true;
			return;
		}
		r = add_source(ld, path, src, at.node);
		free(path);
		if (r < 0)
			continue;
		ld->loading[ld->n_loading++] = (size_t)r;
		load_file_sections(ld, (size_t)r, &sub);
		ld->n_loading--;
	}
}

/* The top level of one file. The main file's settings are read later;
 * an included file contributes model_list entries and its own includes. */
static void load_file_sections(struct loader *ld, size_t src, struct slots *top)
{
	const struct config_yaml_node *root = ld->sources[src].root;

	if (!scan(ld, src, root, SECTION_top, "", "at the top level", top, NULL))
		return;
	if (src != 0) {
		for (size_t k = 0; k < top->count; k++) {
			enum key key = (enum key)(top->first + k);

			if (!top->key[k] || key == K_top_model_list || key == K_top_include)
				continue;
			report(ld, DIAG_WARNING, src, top->key[k],
			       "ignored: '%s' in an included file; llmgate reads only model_list and "
			       "include from included files",
			       key_rows[key].name);
		}
	}
	add_entries(ld, src, top->value[K_top_model_list - top->first]);
	load_includes(ld, src, top);
}

/* ---- environment_variables --------------------------------------------- */

static void export_environment(struct loader *ld, const struct slots *top)
{
	struct at at = at_slot(top, K_top_environment_variables);
	const struct config_yaml_node *map = at.node;
	char buf[SHOWN_MAX + 8];

	if (config_yaml_is_null(map))
		return;
	if (map->kind != CONFIG_YAML_MAPPING) {
		report(ld, DIAG_ERROR, 0, map, "environment_variables must be a mapping, not %s",
		       config_yaml_kind_name(map->kind));
		return;
	}
	if (map->n_pairs > CONFIG_MAX_ENVIRONMENT) {
		report(ld, DIAG_ERROR, 0, map, "environment_variables has more than %d entries",
		       CONFIG_MAX_ENVIRONMENT);
		return;
	}
	struct config_yaml_key k;
	for (size_t pos = 0; config_yaml_next_key(map, CONFIG_YAML_LATER_WINS, &pos, &k);) {
		const char *name;
		char *value = NULL;
		enum got r;

		if (k.again)
			report_duplicate(ld, 0, &k, "in environment_variables");
		if (!k.pair)
			continue;
		name = k.pair->key->value;
		if (!name[0] || strchr(name, '=')) {
			report(ld, DIAG_ERROR, 0, k.pair->key,
			       "'%s' is not a valid environment variable name",
			       shown(name, buf, sizeof(buf)));
			continue;
		}
		at.key = k.pair->key;
		at.node = k.pair->value;
		at.env_key = name;
		at.secret = true; /* the values are often keys */
		set_path(&at, "environment_variables.%s", shown(name, buf, sizeof(buf)));
		r = get_text(ld, &at, "a string", &value);
		if (r == GOT_NOTHING)
			report(ld, DIAG_WARNING, 0, at.key,
			       "environment_variables.%s has no value; not set (LiteLLM would set "
			       "it to the text 'None')",
			       buf);
		if (r != GOT)
			continue;
		if (setenv(name, value, 1) < 0)
			report(ld, DIAG_ERROR, 0, at.key,
			       "cannot set environment variable '%s': %s", buf, strerror(errno));
		free(value);
	}
}

/* ---- model_list entries ------------------------------------------------ */

static void load_headers(struct loader *ld, const struct at *at, struct deployment *d)
{
	const struct config_yaml_node *map = at->node;
	char buf[SHOWN_MAX + 8];

	if (config_yaml_is_null(map))
		return;
	if (map->kind != CONFIG_YAML_MAPPING) {
		report(ld, DIAG_ERROR, at->src, map,
		       "%s must be a mapping of header names to values, not %s", at->path,
		       config_yaml_kind_name(map->kind));
		return;
	}
	if (map->n_pairs > CONFIG_MAX_HEADERS) {
		report(ld, DIAG_ERROR, at->src, map, "%s has more than %d headers", at->path,
		       CONFIG_MAX_HEADERS);
		return;
	}
	d->extra_headers = calloc(map->n_pairs ? map->n_pairs : 1, sizeof(*d->extra_headers));
	if (!d->extra_headers) {
		ld->oom = true;
		return;
	}
	struct config_yaml_key k;
	for (size_t pos = 0; config_yaml_next_key(map, CONFIG_YAML_LATER_WINS, &pos, &k);) {
		const char *name;
		struct at v = *at;
		char *value = NULL, where[sizeof(at->path) + 8];
		size_t j;

		if (k.again) {
			snprintf(where, sizeof(where), "in %s", at->path);
			report_duplicate(ld, at->src, &k, where);
		}
		if (!k.pair)
			continue;
		name = k.pair->key->value;
		shown(name, buf, sizeof(buf));
		if (!http_header_name_valid(name)) {
			report(ld, DIAG_ERROR, at->src, k.pair->key,
			       "%s: '%s' is not a valid header name", at->path, buf);
			continue;
		}
		v.key = k.pair->key;
		v.node = k.pair->value;
		v.secret = true; /* Authorization and friends */
		set_path(&v, "%s.%s", at->path, buf);
		if (get_text(ld, &v, "a string", &value) != GOT)
			continue;
		if (!http_header_value_valid(value)) {
			report(ld, DIAG_ERROR, at->src, v.node,
			       "%s: the value of '%s' contains a line break or control character",
			       at->path, buf);
			free(value);
			continue;
		}
		if (http_header_is_own(name, HTTP_OWN_EXTRA)) {
			report(ld, DIAG_WARNING, at->src, v.key,
			       "%s: '%s' is set by llmgate itself; ignored", at->path, buf);
			free(value);
			continue;
		}
		/* the same header in another case: one header too */
		for (j = 0; j < d->n_extra_headers; j++)
			if (strcasecmp(d->extra_headers[j].name, name) == 0)
				break;
		if (j < d->n_extra_headers) {
			report(ld, DIAG_WARNING, at->src, v.key,
			       "%s: '%s' is given twice; the later value is used", at->path, buf);
			take(&d->extra_headers[j].value, value);
			continue;
		}
		d->extra_headers[j].name = dup_or_oom(ld, name);
		d->extra_headers[j].value = value;
		if (!d->extra_headers[j].name) {
			free(value);
			return;
		}
		d->n_extra_headers++;
	}
}

static char *normalize_api_base(struct loader *ld, const struct at *at, const char *text)
{
	char buf[SHOWN_MAX * 2], *s, *cut;
	size_t scheme;

	if (strncasecmp(text, "https://", 8) == 0)
		scheme = 8;
	else if (strncasecmp(text, "http://", 7) == 0)
		scheme = 7;
	else {
		report(ld, DIAG_ERROR, at->src, at->node,
		       "%s must start with http:// or https://, not '%s'", at->path,
		       shown_url(text, buf, sizeof(buf)));
		return NULL;
	}
	if (!text[scheme] || strchr("/?#", text[scheme])) {
		report(ld, DIAG_ERROR, at->src, at->node, "%s has no host name", at->path);
		return NULL;
	}
	for (const char *p = text; *p; p++) {
		if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
			report(ld, DIAG_ERROR, at->src, at->node,
			       "%s contains a space or control character", at->path);
			return NULL;
		}
	}
	s = dup_or_oom(ld, text);
	if (!s)
		return NULL;
	strip_trailing_slashes(s, scheme + 1);
	cut = strcasestr(s + scheme, "/openai/deployments");
	if (cut) {
		*cut = '\0';
		strip_trailing_slashes(s, scheme + 1);
		report(ld, DIAG_WARNING, at->src, at->node,
		       "%s contains '/openai/deployments/...', a path llmgate builds itself; "
		       "normalized to '%s'",
		       at->path, shown_url(s, buf, sizeof(buf)));
	} else if (ends_with_ci(s, "/chat/completions")) {
		s[strlen(s) - strlen("/chat/completions")] = '\0';
		strip_trailing_slashes(s, scheme + 1);
		report(ld, DIAG_WARNING, at->src, at->node,
		       "%s ends in '/chat/completions', a path llmgate adds itself; normalized to "
		       "'%s'",
		       at->path, shown_url(s, buf, sizeof(buf)));
	}
	if (strpbrk(s + scheme, "?#")) {
		/* The request path is appended to api_base: a query here would end
		 * up in the middle of the URL. */
		report(ld, DIAG_ERROR, at->src, at->node,
		       "%s must not contain a query string or fragment ('?' or '#'): llmgate "
		       "appends the request path to it and sets the query itself (Azure: write "
		       "api_version)",
		       at->path);
		free(s);
		return NULL;
	}
	return s;
}

static bool azure_version_ok(const char *v)
{
	static const char *const named[] = {"v1", "latest", "preview"};
	const char *p = v;

	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (strcmp(v, named[i]) == 0)
			return true;
	/* YYYY-MM-DD, optionally followed by -preview or another suffix. */
	for (int i = 0; i < 10; i++, p++) {
		bool dash = i == 4 || i == 7;

		if (dash ? *p != '-' : !(*p >= '0' && *p <= '9'))
			return false;
	}
	return *p == '\0' || *p == '-';
}

static char *normalize_api_version(struct loader *ld, const struct at *at, char *text)
{
	char buf[SHOWN_MAX + 8], buf2[SHOWN_MAX + 8];
	const char *v = text;

	if (*v == '?')
		v++;
	if (strncasecmp(v, "api-version=", 12) != 0)
		return text;
	v += 12;
	if (!*v) {
		report(ld, DIAG_ERROR, at->src, at->node,
		       "%s is written 'api-version=' with no value", at->path);
		free(text);
		return NULL;
	}
	report(ld, DIAG_WARNING, at->src, at->node, "%s is written '%s'; normalized to '%s'",
	       at->path, shown(text, buf, sizeof(buf)), shown(v, buf2, sizeof(buf2)));
	memmove(text, v, strlen(v) + 1);
	return text;
}

static const char *const known_modes[] = {"chat", "completion", "embedding", "responses"};
static const char *const litellm_modes[] = {
        "image_generation", "audio_transcription", "audio_speech", "moderation", "rerank", "batch",
        "realtime"};

/* A group used for the Responses API on Azure's dated API needs a version
 * that serves it (provider_request.h says which). */
static void check_responses_version(struct loader *ld, const struct entry *e,
                                    const struct config_yaml_node *node, const char *path,
                                    const struct deployment *d)
{
	char buf[SHOWN_MAX + 8];

	if (d->provider != PROVIDER_AZURE || !d->api_version ||
	    provider_request_responses_version_ok(d->api_version))
		return;
	report(ld, DIAG_ERROR, e->src, node,
	       "%s is responses but api_version '%s' is older than the first Azure OpenAI API "
	       "version with the Responses API (%s): use %s or later, or v1",
	       path, shown(d->api_version, buf, sizeof(buf)),
	       PROVIDER_REQUEST_AZURE_RESPONSES_SINCE, PROVIDER_REQUEST_AZURE_RESPONSES_SINCE);
}

/* The four prices of a deployment in one section's slots S (KEYS: its
 * input, output, cache read and reasoning rows), each into P unless P has
 * it already (litellm_params is read first and wins over model_info). */
static void load_prices(struct loader *ld, const struct slots *s, const enum key keys[4],
                        struct usage_price *p)
{
	double *dst[4] = {&p->input, &p->output, &p->cache_read, &p->reasoning};
	bool *has[4] = {&p->has_input, &p->has_output, &p->has_cache_read, &p->has_reasoning};

	for (int i = 0; i < 4; i++) {
		char buf[SHOWN_MAX + 8], *text;
		struct at at = at_slot(s, keys[i]);
		double v;

		if (get_text(ld, &at, "a price per token", &text) != GOT)
			continue;
		if (!usage_price_parse(text, &v))
			report(ld, DIAG_ERROR, at.src, at.node,
			       "%s must be a price per token (a number, 0 or more), not '%s'",
			       at.path, shown_value(at.node, text, buf, sizeof(buf)));
		else if (!*has[i])
			*dst[i] = v, *has[i] = p->set = true;
		free(text);
	}
}

static void load_model_info(struct loader *ld, const struct entry *e, const char *prefix,
                            const struct config_yaml_node *map, struct deployment *d,
                            struct dep_site *site)
{
	char pfx[96], buf[SHOWN_MAX + 8];
	struct slots mi;
	struct at at;
	bool known = false;

	snprintf(pfx, sizeof(pfx), "%s.model_info", prefix);
	if (!scan(ld, e->src, map, SECTION_model_info, pfx, "in model_info", &mi, NULL))
		return;

	at = at_slot(&mi, K_model_info_id);
	if (get_string(ld, &at, &d->id) == GOT) {
		if (!d->id[0]) {
			report(ld, DIAG_ERROR, e->src, at.node, "%s is empty", at.path);
			take(&d->id, NULL);
		} else if (!http_header_value_valid(d->id)) {
			/* it is written into answer headers (the rule of extra_headers'
			 * values), log lines and metric labels */
			report(ld, DIAG_ERROR, e->src, at.node,
			       "%s contains a line break or control character", at.path);
			take(&d->id, NULL);
		} else {
			site->id = at.node;
		}
	}

	load_prices(ld, &mi,
	            (const enum key[4]){K_model_info_input_cost_per_token,
	                                K_model_info_output_cost_per_token,
	                                K_model_info_cache_read_input_token_cost,
	                                K_model_info_output_cost_per_reasoning_token},
	            &d->price);

	at = at_slot(&mi, K_model_info_mode);
	if (get_string(ld, &at, &d->mode) != GOT)
		return;
	for (size_t i = 0; i < sizeof(known_modes) / sizeof(known_modes[0]); i++)
		known |= strcmp(d->mode, known_modes[i]) == 0;
	if (strcmp(d->mode, "responses") == 0)
		check_responses_version(ld, e, at.node, at.path, d);
	/* LiteLLM's batch models: the files API's deployment (config_passthrough.c) */
	if (known || strcmp(d->mode, "batch") == 0)
		return;
	for (size_t i = 0; i < sizeof(litellm_modes) / sizeof(litellm_modes[0]); i++)
		known |= strcmp(d->mode, litellm_modes[i]) == 0;
	report(ld, DIAG_WARNING, e->src, at.node,
	       known ? "%s '%s' is not served by llmgate (it serves chat, completion, embedding "
	               "and responses)"
	             : "%s '%s' is not a known mode (chat, completion, embedding or responses)",
	       at.path, shown(d->mode, buf, sizeof(buf)));
}

/* What load_litellm_params found, for the provider checks. */
struct params_state {
	const char *custom;        /* custom_llm_provider, or NULL */
	const char *deployment_id; /* or NULL */
	enum got api_base, api_version;
	bool has_key; /* api_key or azure_ad_token */
	bool key_bad; /* one was given but could not be read */
	struct dep_site *site;
};

/* What an entry or fallback llmgate cannot serve is: a warning, or with
 * llmgate.strict an error. */
static enum diag_severity unserved_severity(const struct loader *ld)
{
	return ld->strict ? DIAG_ERROR : DIAG_WARNING;
}

/* A section written with nothing under it ("litellm_settings:") is a YAML
 * null: nothing is set there, which is rarely what the author meant. */
static void lint_null_sections(struct loader *ld)
{
	static const enum key sections[] = {K_top_litellm_settings, K_top_router_settings,
	                                    K_top_general_settings, K_top_environment_variables,
	                                    K_top_llmgate};
	const struct slots *top = &ld->top;

	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		size_t k = sections[i] - top->first;

		if (top->key[k] && config_yaml_is_null(top->value[k]))
			report(ld, DIAG_WARNING, 0, top->key[k],
			       "%s is empty (null): nothing is set there; its keys must be indented "
			       "under it",
			       top->key[k]->value);
	}
}

static void read_strict_early(struct loader *ld)
{
	const struct config_yaml_node *lg = ld->top.value[K_top_llmgate - ld->top.first];
	bool b;

	if (config_yaml_is_null(lg) || lg->kind != CONFIG_YAML_MAPPING)
		return;
	/* a duplicate is reported when llmgate is read */
	struct config_yaml_key k;
	for (size_t pos = 0; config_yaml_next_key(lg, CONFIG_YAML_LATER_WINS, &pos, &k);) {
		const struct config_yaml_node *v = k.pair ? k.pair->value : NULL;

		if (v && strcmp(k.pair->key->value, "strict") == 0 && !config_yaml_is_null(v) &&
		    v->kind == CONFIG_YAML_SCALAR && parse_yaml_bool(v->value, &b))
			ld->strict = b;
	}
}

/* The first of PV's variables (VAR: its key or base list) set and not
 * empty in the environment: its value, its name in BUF; NULL if none. */
static const char *first_env(enum provider pv, bool (*var)(enum provider, size_t, char *, size_t),
                             char *buf, size_t len)
{
	for (size_t i = 0; var(pv, i, buf, len); i++) {
		const char *v = getenv(buf);

		if (v && *v)
			return v;
	}
	return NULL;
}

/*
 * api_base and api_key as LiteLLM finds them when the entry does not say:
 * the provider's base variables, its default base URL, its key variables
 * (providers.h), each use said at the model's line so that nothing is
 * implicit to the reader.
 */
static void resolve_implicit(struct loader *ld, const struct slots *lp, struct deployment *d,
                             const struct params_state *st, const char *shown_model)
{
	const struct provider_info *p = provider_info(d->provider);
	struct at model = at_slot(lp, K_litellm_params_model);
	bool azure = d->provider == PROVIDER_AZURE;
	char var[64], var2[64];
	const char *v = first_env(d->provider, provider_base_var, var, sizeof(var));

	if (st->api_base == GOT_NOTHING && v) {
		struct at from = model;

		set_path(&from, "%s (read from the environment for '%s')", var, shown_model);
		d->api_base = normalize_api_base(ld, &from, v);
		if (d->api_base)
			report(ld, DIAG_WARNING, lp->src, model.node,
			       "%s model '%s' has no api_base: it goes to %s from the environment, "
			       "as LiteLLM does",
			       p->prefix, shown_model, var);
	} else if (st->api_base == GOT_NOTHING && p->default_base) {
		d->api_base = dup_or_oom(ld, p->default_base);
	} else if (st->api_base == GOT_NOTHING) {
		char unset[96] = "";

		if (provider_base_var(d->provider, 0, var, sizeof(var)))
			snprintf(unset, sizeof(unset), " and %s is not set", var);
		report(ld, DIAG_ERROR, lp->src, model.node,
		       "%s model '%s' has no api_base (%s)%s; write api_base", p->prefix,
		       shown_model,
		       azure ? "the resource endpoint, e.g. https://NAME.openai.azure.com"
		             : "the server's URL: this provider has no default one",
		       unset);
	}
	if (st->has_key || st->key_bad)
		return;
	v = first_env(d->provider, provider_key_var, var, sizeof(var));
	if (v) {
		d->api_key = dup_or_oom(ld, v);
		report(ld, DIAG_WARNING, lp->src, model.node,
		       "%s model '%s' has no api_key: it takes %s from the environment, as LiteLLM "
		       "does",
		       p->prefix, shown_model, var);
	} else if (azure) {
		/* an Entra ID credential may stand in: resolve_credentials() says */
	} else if (st->api_base == GOT_NOTHING && p->default_base &&
	           strncmp(p->default_base, "https://", 8) == 0 && p->key_vars) {
		report(ld, DIAG_WARNING, lp->src, model.node,
		       "%s model '%s' has no api_key and %s is not set; %s will refuse requests "
		       "(write api_key: os.environ/%s)",
		       p->prefix, shown_model, p->key_vars, p->default_base,
		       provider_key_var(d->provider, 0, var2, sizeof(var2)) ? var2 : "KEY");
	}
}

/* An azure/ entry without api_version: AZURE_API_VERSION, as LiteLLM reads
 * it, else Azure's v1 API, which needs no dated version. */
static void resolve_azure_version(struct loader *ld, const struct slots *lp, struct deployment *d,
                                  const char *shown_model)
{
	struct at model = at_slot(lp, K_litellm_params_model);
	const char *v = getenv(PROVIDER_AZURE_VERSION_VAR);
	char buf[SHOWN_MAX + 8];

	if (v && *v) {
		d->api_version = dup_or_oom(ld, v);
		report(ld, DIAG_WARNING, lp->src, model.node,
		       "azure model '%s' has no api_version: it takes %s ('%s') from the "
		       "environment, as LiteLLM does",
		       shown_model, PROVIDER_AZURE_VERSION_VAR, shown(v, buf, sizeof(buf)));
		if (d->api_version && !azure_version_ok(d->api_version))
			report(ld, DIAG_WARNING, lp->src, model.node,
			       "%s '%s' does not look like an Azure API version (YYYY-MM-DD, "
			       "YYYY-MM-DD-preview, v1, latest or preview)",
			       PROVIDER_AZURE_VERSION_VAR, buf);
		return;
	}
	d->api_version = dup_or_oom(ld, "v1");
	report(ld, DIAG_WARNING, lp->src, model.node,
	       "azure model '%s' has no api_version and %s is not set: it uses Azure's v1 API "
	       "(.../openai/v1/, no dated version needed); write api_version to pin one",
	       shown_model, PROVIDER_AZURE_VERSION_VAR);
}

/* Fills provider, upstream_model and the provider-specific checks. */
static void resolve_provider(struct loader *ld, const struct slots *lp, struct deployment *d,
                             const struct params_state *st)
{
	static const enum key azure_only[] = {K_litellm_params_api_version,
	                                      K_litellm_params_deployment_id,
	                                      K_litellm_params_azure_ad_token};
	const char *custom = st->custom, *deployment_id = st->deployment_id;
	struct at model = at_slot(lp, K_litellm_params_model);
	const char *slash = strchr(d->model, '/'), *rest, *hint;
	char prefix[32], buf[SHOWN_MAX + 8], buf2[SHOWN_MAX + 8];
	enum provider pv;
	size_t n;

	if (custom) {
		n = strlen(custom);
		rest = slash && (size_t)(slash - d->model) == n && strncmp(d->model, custom, n) == 0
		               ? slash + 1
		               : d->model;
	} else if (slash) {
		n = (size_t)(slash - d->model);
		rest = slash + 1;
	} else {
		custom = "openai";
		n = strlen(custom);
		rest = d->model;
	}
	snprintf(prefix, sizeof(prefix), "%.*s", (int)(n < sizeof(prefix) - 1 ? n : 31),
	         custom ? custom : d->model);
	if (!provider_find(custom ? custom : d->model, n, &pv)) {
		hint = provider_suggest(prefix);
		if (asprintf(&d->not_served, "unknown provider '%s'", prefix) < 0) {
			d->not_served = NULL;
			ld->oom = true;
			return;
		}
		report(ld, unserved_severity(ld), lp->src, model.node,
		       "unknown provider '%s' in model '%s'; this deployment is not served (%s%s%s)",
		       shown(prefix, buf2, sizeof(buf2)), shown(d->model, buf, sizeof(buf)),
		       hint ? "did you mean '" : "",
		       hint ? hint
		            : "llmgate.yaml(5) lists the providers; openai/<model> with api_base "
		              "reaches any OpenAI-compatible server",
		       hint ? "/'?" : "");
		d->upstream_model = dup_or_oom(ld, rest);
		return;
	}
	d->provider = pv;
	shown(d->model, buf, sizeof(buf));
	if (!provider_served(pv)) {
		const char *why = provider_info(pv)->note;

		/* The note is a sentence of the man page; here it follows a colon. */
		if (asprintf(&d->not_served, "%s/: %c%s", provider_name(pv),
		             tolower((unsigned char)why[0]), why + 1) < 0) {
			d->not_served = NULL;
			ld->oom = true;
			return;
		}
		report(ld, unserved_severity(ld), lp->src, model.node,
		       "llmgate does not serve %s/ models such as '%s' (%c%s); this deployment is "
		       "not served",
		       provider_name(pv), buf, tolower((unsigned char)why[0]), why + 1);
		d->upstream_model = dup_or_oom(ld, rest);
		return;
	}

	if (*rest == '/')
		report(ld, DIAG_WARNING, lp->src, model.node,
		       "model '%s' has an empty part after '%s/': '%s' is what goes upstream", buf,
		       provider_name(pv), shown(rest, buf2, sizeof(buf2)));
	else if (pv != PROVIDER_OPENROUTER && strncmp(rest, provider_name(pv), n) == 0 &&
	         rest[n] == '/')
		report(ld, DIAG_WARNING, lp->src, model.node,
		       "model '%s' names the provider twice: '%s' is what goes upstream (LiteLLM "
		       "strips only the first '%s/' too)",
		       buf, shown(rest, buf2, sizeof(buf2)), provider_name(pv));
	if (d->provider == PROVIDER_AZURE) {
		if (!*rest && !deployment_id)
			report(ld, DIAG_ERROR, lp->src, model.node,
			       "model '%s' names no deployment; write azure/<deployment>", buf);
		d->upstream_model = dup_or_oom(ld, deployment_id ? deployment_id : rest);
		if (deployment_id && *rest && strcmp(deployment_id, rest) != 0) {
			struct at dep = at_slot(lp, K_litellm_params_deployment_id);
			char b1[SHOWN_MAX + 8], b2[SHOWN_MAX + 8];

			report(ld, DIAG_WARNING, lp->src, dep.node,
			       "deployment_id '%s' overrides the deployment '%s' named in model: %s; "
			       "requests go to .../deployments/%s",
			       shown(deployment_id, b1, sizeof(b1)), shown(rest, b2, sizeof(b2)),
			       buf, b1);
		}
		resolve_implicit(ld, lp, d, st, buf);
		if (st->api_version == GOT_NOTHING)
			resolve_azure_version(ld, lp, d, buf);
		if (!d->api_key && !d->azure_ad_token && !st->key_bad)
			st->site->entra.no_key = model.node; /* resolve_credentials() */
		return;
	}

	if (!*rest)
		report(ld, DIAG_ERROR, lp->src, model.node,
		       "model '%s' names no model; write %s/<model>", buf, provider_name(pv));
	d->upstream_model = dup_or_oom(ld, rest);
	resolve_implicit(ld, lp, d, st, buf);
	for (size_t i = 0; i < sizeof(azure_only) / sizeof(azure_only[0]); i++) {
		struct at a = at_slot(lp, azure_only[i]);

		if (a.key &&
		    !(pv == PROVIDER_AZURE_AI && azure_only[i] == K_litellm_params_api_version))
			report(ld, DIAG_WARNING, lp->src, a.key,
			       "%s is only used by azure/ models; ignored for '%s'", a.path, buf);
	}
}

/* The Entra ID keys, kept as written until the settings are read. */
static void load_entra_keys(struct loader *ld, const struct slots *lp, struct dep_site *site)
{
	static const enum key keys[] = {K_litellm_params_tenant_id, K_litellm_params_client_id,
	                                K_litellm_params_client_secret,
	                                K_litellm_params_azure_scope,
	                                K_litellm_params_azure_credential};
	char **dst[] = {&site->entra.tenant_id, &site->entra.client_id, &site->entra.client_secret,
	                &site->entra.scope, &site->entra.credential};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		struct at at = at_slot(lp, keys[i]);

		site->entra.keys[i] = at.key;
		if (get_string(ld, &at, dst[i]) == GOT && !(*dst[i])[0]) {
			report(ld, DIAG_ERROR, lp->src, at.node, "%s is empty", at.path);
			take(dst[i], NULL);
		}
	}
	site->entra.scope_written = site->entra.keys[3] != NULL;
}

static void free_entra_keys(struct dep_site *site)
{
	if (site->entra.client_secret)
		explicit_bzero(site->entra.client_secret, strlen(site->entra.client_secret));
	free(site->entra.tenant_id);
	free(site->entra.client_id);
	free(site->entra.client_secret);
	free(site->entra.scope);
	free(site->entra.credential);
	memset(&site->entra, 0, sizeof(site->entra));
}

/* additional_drop_params, or drop_params written as a list (which LiteLLM
 * accepts): request parameters removed before a request goes upstream. */
static void load_drop_list(struct loader *ld, const struct at *at, struct deployment *d)
{
	const struct config_yaml_node *list = at->node;
	char buf[SHOWN_MAX + 8], **keys;

	if (config_yaml_is_null(list))
		return;
	if (list->kind != CONFIG_YAML_SEQUENCE) {
		report(ld, DIAG_ERROR, at->src, list,
		       "%s must be a list of request parameter names, not %s", at->path,
		       config_yaml_kind_name(list->kind));
		return;
	}
	if (list->n_items > CONFIG_MAX_DROP_PARAMS) {
		report(ld, DIAG_ERROR, at->src, list, "%s names more than %d parameters", at->path,
		       CONFIG_MAX_DROP_PARAMS);
		return;
	}
	keys = realloc(d->drop_keys, (d->n_drop_keys + list->n_items + 1) * sizeof(*keys));
	if (!keys) {
		ld->oom = true;
		return;
	}
	d->drop_keys = keys;
	for (size_t k = 0; k < list->n_items; k++) {
		struct at t = *at;
		char *name = NULL;
		bool dup = false;

		t.key = NULL;
		t.node = list->items[k];
		set_path(&t, "%s[%zu]", at->path, k);
		if (get_text(ld, &t, "a parameter name", &name) != GOT)
			continue;
		if (!name[0] || strcmp(name, "model") == 0 || strcmp(name, "stream") == 0) {
			report(ld, DIAG_WARNING, t.src, t.node,
			       "%s: '%s' cannot be dropped (it is what the request is); ignored",
			       t.path, shown(name, buf, sizeof(buf)));
			free(name);
			continue;
		}
		for (size_t m = 0; m < d->n_drop_keys; m++)
			dup |= strcmp(d->drop_keys[m], name) == 0;
		if (dup) {
			free(name);
			continue;
		}
		d->drop_keys[d->n_drop_keys++] = name;
	}
}

/*
 * Values of LP written in shapes that load but do not do what they seem
 * to: os.environ/ in the middle (as written), a placeholder nobody filled
 * in (as resolved; a secret is not shown).
 */
static void lint_params(struct loader *ld, const struct slots *lp, const struct deployment *d,
                        const char *deployment_id)
{
	static const enum key keys[] = {K_litellm_params_model, K_litellm_params_api_base,
	                                K_litellm_params_api_key, K_litellm_params_api_version,
	                                K_litellm_params_deployment_id};
	const char *resolved[] = {d->model, d->api_base, d->api_key, d->api_version, deployment_id};
	char buf[SHOWN_MAX + 8];

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		struct at at = at_slot(lp, keys[i]);

		if (!at.key || at.by_default || at.node->kind != CONFIG_YAML_SCALAR)
			continue;
		if (config_lint_environ_inside(at.node->value)) {
			report(ld, DIAG_WARNING, lp->src, at.node,
			       "%s%s%s%s has os.environ/ after its start: LiteLLM expands os.environ/NAME "
			       "only as the whole value, and neither does llmgate, so it is sent as "
			       "written",
			       at.path, at.secret ? "" : " '",
			       at.secret ? "" : shown(at.node->value, buf, sizeof(buf)),
			       at.secret ? "" : "'");
			continue;
		}
		if (resolved[i] && config_lint_placeholder(resolved[i]))
			report(ld, DIAG_WARNING, lp->src, at.node,
			       "%s looks like a placeholder nobody filled in%s%s%s", at.path,
			       at.secret ? "" : " ('",
			       at.secret ? "" : shown(resolved[i], buf, sizeof(buf)),
			       at.secret ? "" : "')");
	}
}

/* Whether MAP's model names a provider of the table llmgate does not serve
 * (read before the keys are, so their warnings can be left out). */
static bool unserved_model(const struct config_yaml_node *map)
{
	enum provider pv;

	if (config_yaml_is_null(map) || map->kind != CONFIG_YAML_MAPPING)
		return false;
	/* the model the loader reads: a duplicate's later one (reported there) */
	struct config_yaml_key k;
	for (size_t pos = 0; config_yaml_next_key(map, CONFIG_YAML_LATER_WINS, &pos, &k);) {
		const struct config_yaml_node *v = k.pair ? k.pair->value : NULL;
		const char *slash;

		if (!v || strcmp(k.pair->key->value, "model") != 0 || config_yaml_is_null(v) ||
		    v->kind != CONFIG_YAML_SCALAR)
			continue;
		slash = strchr(v->value, '/');
		return slash && provider_find(v->value, (size_t)(slash - v->value), &pv) &&
		       !provider_served(pv);
	}
	return false;
}

static void load_litellm_params(struct loader *ld, const struct entry *e, const char *prefix,
                                const struct config_yaml_node *key,
                                const struct config_yaml_node *map, struct deployment *d,
                                struct dep_site *site)
{
	static const enum key secrets[] = {K_litellm_params_api_key,
	                                   K_litellm_params_azure_ad_token};
	char pfx[96], *custom = NULL, *deployment_id = NULL, *text = NULL;
	struct params_state st = {0};
	struct slots lp;
	struct at at;
	json_t *params;
	enum got r;
	bool model_ok = false, b;
	long v;

	snprintf(pfx, sizeof(pfx), "%s.litellm_params", prefix);
	ld->unserved_entry = unserved_model(map);
	params = json_object();
	if (!params) {
		ld->oom = true;
		return;
	}
	if (!scan(ld, e->src, map, SECTION_litellm_params, pfx, "in litellm_params", &lp, params)) {
		ld->unserved_entry = false;
		goto out;
	}
	ld->unserved_entry = false;

	at = at_slot(&lp, K_litellm_params_model);
	r = get_string(ld, &at, &d->model);
	if (r == GOT_NOTHING)
		report(ld, DIAG_ERROR, e->src, key, "%s has no model", pfx);
	else if (r == GOT && !d->model[0])
		report(ld, DIAG_ERROR, e->src, at.node, "%s is empty", at.path);
	else if (r == GOT)
		model_ok = true;

	at = at_slot(&lp, K_litellm_params_custom_llm_provider);
	get_string(ld, &at, &custom);

	at = at_slot(&lp, K_litellm_params_api_base);
	st.api_base = get_text(ld, &at, "a URL", &text);
	if (st.api_base == GOT) {
		d->api_base = normalize_api_base(ld, &at, text);
		free(text);
	}

	at = at_slot(&lp, K_litellm_params_api_version);
	st.api_version = get_text(ld, &at, "a string", &text);
	if (st.api_version == GOT) {
		d->api_version = normalize_api_version(ld, &at, text);
		if (d->api_version && !d->api_version[0]) {
			report(ld, DIAG_ERROR, e->src, at.node, "%s is empty", at.path);
			take(&d->api_version, NULL);
		}
	}

	at = at_slot(&lp, K_litellm_params_deployment_id);
	if (get_string(ld, &at, &deployment_id) == GOT && !deployment_id[0]) {
		report(ld, DIAG_ERROR, e->src, at.node, "%s is empty", at.path);
		take(&deployment_id, NULL);
	}

	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
		char **dst =
		        secrets[i] == K_litellm_params_api_key ? &d->api_key : &d->azure_ad_token;

		at = at_slot(&lp, secrets[i]);
		r = get_string(ld, &at, dst);
		st.key_bad |= r == GOT_BAD;
		if (r == GOT && !(*dst)[0]) {
			report(ld, DIAG_ERROR, e->src, at.node, "%s is empty", at.path);
			st.key_bad = true;
		} else if (r == GOT) {
			st.has_key = true;
		}
	}

	at = at_slot(&lp, K_litellm_params_organization);
	get_string(ld, &at, &d->organization);
	load_entra_keys(ld, &lp, site);
	site->entra.params = key;

	at = at_slot(&lp, K_litellm_params_timeout);
	get_duration(ld, &at, false, &d->timeout_ms);
	at = at_slot(&lp, K_litellm_params_stream_timeout);
	get_duration(ld, &at, false, &d->stream_timeout_ms);

	at = at_slot(&lp, K_litellm_params_max_retries);
	if (get_long(ld, &at, 0, 100, &v) == GOT)
		d->max_retries = (int)v;
	at = at_slot(&lp, K_litellm_params_rpm);
	get_long(ld, &at, 0, 1000000000000L, &d->rpm);
	at = at_slot(&lp, K_litellm_params_tpm);
	get_long(ld, &at, 0, 1000000000000L, &d->tpm);
	at = at_slot(&lp, K_litellm_params_order);
	get_long(ld, &at, 1, 1000000, &d->order);
	load_prices(ld, &lp,
	            (const enum key[4]){K_litellm_params_input_cost_per_token,
	                                K_litellm_params_output_cost_per_token,
	                                K_litellm_params_cache_read_input_token_cost,
	                                K_litellm_params_output_cost_per_reasoning_token},
	            &d->price);

	at = at_slot(&lp, K_litellm_params_drop_params);
	if (!config_yaml_is_null(at.node) && at.node->kind == CONFIG_YAML_SEQUENCE) {
		report(ld, DIAG_WARNING, e->src, at.key,
		       "%s is a list: read as additional_drop_params (parameters removed from "
		       "requests before they go upstream), as LiteLLM does",
		       at.path);
		load_drop_list(ld, &at, d);
	} else if (get_bool(ld, &at, &b) == GOT) {
		d->drop_params = b;
	}
	at = at_slot(&lp, K_litellm_params_additional_drop_params);
	load_drop_list(ld, &at, d);

	at = at_slot(&lp, K_litellm_params_extra_headers);
	load_headers(ld, &at, d);

	st.custom = custom;
	st.deployment_id = deployment_id;
	st.site = site;
	if (model_ok)
		resolve_provider(ld, &lp, d, &st);
	if (model_ok)
		lint_params(ld, &lp, d, deployment_id);
	if (d->provider == PROVIDER_AZURE && d->api_version && d->upstream_model) {
		const char *first =
		        provider_azure_version_too_old(d->upstream_model, d->api_version);
		struct at vat = at_slot(&lp, st.api_version == GOT ? K_litellm_params_api_version
		                                                   : K_litellm_params_model);
		char b1[SHOWN_MAX + 8], b2[SHOWN_MAX + 8];

		if (first)
			report(ld, DIAG_WARNING, e->src, vat.node,
			       "api_version '%s' is older than the deployment '%s' needs: Azure serves "
			       "it from api_version %s",
			       shown(d->api_version, b1, sizeof(b1)),
			       shown(d->upstream_model, b2, sizeof(b2)), first);
	}
	if (d->provider == PROVIDER_AZURE) {
		if (st.api_version == GOT && d->api_version && !azure_version_ok(d->api_version)) {
			char buf[SHOWN_MAX + 8];

			at = at_slot(&lp, K_litellm_params_api_version);
			report(ld, DIAG_WARNING, e->src, at.node,
			       "%s '%s' does not look like an Azure API version (YYYY-MM-DD, "
			       "YYYY-MM-DD-preview, v1, latest or preview)",
			       at.path, shown(d->api_version, buf, sizeof(buf)));
		}
	} else {
		if (d->provider != PROVIDER_AZURE_AI)
			take(&d->api_version, NULL);
		take(&d->azure_ad_token, NULL);
	}

	if (json_object_size(params) > 0) {
		/* 15 digits print what was written (0.2, not 0.20000000000000001). */
		d->request_defaults_json =
		        json_dumps(params, JSON_COMPACT | JSON_REAL_PRECISION(15));
		if (!d->request_defaults_json)
			ld->oom = true;
	}
out:
	json_decref(params);
	free(custom);
	free(deployment_id);
}

static void free_deployment(struct deployment *d)
{
	free(d->id);
	free(d->model_name);
	free(d->model);
	free(d->upstream_model);
	free(d->api_base);
	free(d->api_version);
	free(d->api_key);
	free(d->azure_ad_token);
	free(d->organization);
	for (size_t i = 0; i < d->n_extra_headers; i++) {
		free(d->extra_headers[i].name);
		free(d->extra_headers[i].value);
	}
	free(d->extra_headers);
	free(d->request_defaults_json);
	free(d->mode);
	free(d->not_served);
	for (size_t i = 0; i < d->n_drop_keys; i++)
		free(d->drop_keys[i]);
	free(d->drop_keys);
	free(d->file);
}

static void load_entry(struct loader *ld, const struct entry *e)
{
	struct deployment d = {.max_retries = -1, .drop_params = -1};
	struct dep_site site = {.src = e->src, .index = e->index, .entry = e->node};
	struct config *c = ld->config;
	char prefix[48], where[64];
	struct slots es;
	struct at at;
	enum got r;

	snprintf(prefix, sizeof(prefix), "model_list[%zu]", e->index);
	snprintf(where, sizeof(where), "in %s", prefix);
	if (config_yaml_is_null(e->node) || e->node->kind != CONFIG_YAML_MAPPING) {
		report(ld, DIAG_ERROR, e->src, e->node,
		       "%s must be a mapping with model_name and litellm_params, not %s", prefix,
		       config_yaml_is_null(e->node) ? "empty"
		                                    : config_yaml_kind_name(e->node->kind));
		return;
	}
	scan(ld, e->src, e->node, SECTION_entry, prefix, where, &es, NULL);

	at = at_slot(&es, K_entry_model_name);
	site.model_name = at.node;
	r = get_string(ld, &at, &d.model_name);
	if (r == GOT_NOTHING)
		report(ld, DIAG_ERROR, e->src, e->node, "%s has no model_name", prefix);
	else if (r == GOT && !d.model_name[0]) {
		report(ld, DIAG_ERROR, e->src, at.node, "%s is empty", at.path);
		take(&d.model_name, NULL);
	}

	at = at_slot(&es, K_entry_litellm_params);
	if (config_yaml_is_null(at.node))
		report(ld, DIAG_ERROR, e->src, at.key ? at.key : e->node,
		       "%s has no litellm_params", prefix);
	else
		load_litellm_params(ld, e, prefix, at.key, at.node, &d, &site);

	at = at_slot(&es, K_entry_model_info);
	load_model_info(ld, e, prefix, at.node, &d, &site);

	if (!d.model_name) {
		free_entra_keys(&site);
		free_deployment(&d);
		return;
	}
	d.file = dup_or_oom(ld, ld->sources[e->src].path);
	d.line = e->node->line;
	d.col = e->node->col;
	if (grow(&c->deployments, &ld->cap_deployments, c->n_deployments, sizeof(*c->deployments)) <
	            0 ||
	    grow(&ld->sites, &ld->cap_sites, c->n_deployments, sizeof(*ld->sites)) < 0) {
		ld->oom = true;
		free_entra_keys(&site);
		free_deployment(&d);
		return;
	}
	ld->sites[c->n_deployments] = site;
	c->deployments[c->n_deployments++] = d;
}

/* ---- groups and ids ---------------------------------------------------- */

/* A model_name that starts with a provider prefix ("openai/gpt-4o") is a
 * fine name, but clients must send all of it; once per group. */
static void lint_model_name(struct loader *ld, const struct dep_site *site, const char *name)
{
	const char *slash = strchr(name, '/');
	char buf[SHOWN_MAX + 8];
	enum provider pv;

	if (!slash || !site->model_name || !provider_find(name, (size_t)(slash - name), &pv))
		return;
	report(ld, DIAG_WARNING, site->src, site->model_name,
	       "model_name '%s' starts with the provider prefix '%s/': it is only a name here, so "
	       "clients must send all of it as their model",
	       shown(name, buf, sizeof(buf)), provider_name(pv));
}

static void build_groups(struct loader *ld)
{
	struct config *c = ld->config;
	struct strmap ids = {0};
	size_t cap_groups = 0;

	for (size_t i = 0; i < c->n_deployments && !ld->oom; i++) {
		struct deployment *d = &c->deployments[i];
		struct group *g;
		size_t gi, *list;

		if (!strmap_get(&ld->groups, d->model_name, &gi)) {
			if (grow(&c->groups, &cap_groups, c->n_groups, sizeof(*c->groups)) < 0) {
				ld->oom = true;
				break;
			}
			gi = c->n_groups;
			c->groups[gi] = (struct group){.name = dup_or_oom(ld, d->model_name)};
			if (!c->groups[gi].name)
				break;
			lint_model_name(ld, &ld->sites[i], d->model_name);
			c->n_groups++;
			if (strmap_put(&ld->groups, c->groups[gi].name, gi) < 0) {
				ld->oom = true;
				break;
			}
		}
		g = &c->groups[gi];
		ld->sites[i].position = ++g->n_written;
		if (d->not_served) {
			if (g->n_deployments == 0 && !g->not_served)
				g->not_served = d->not_served;
			continue;
		}
		g->not_served = NULL;
		/* Grow in powers of two: capacity is implied by the count. */
		if ((g->n_deployments & (g->n_deployments - 1)) == 0) {
			list = realloc(g->deployments,
			               (g->n_deployments ? g->n_deployments * 2 : 1) *
			                       sizeof(*list));
			if (!list) {
				ld->oom = true;
				break;
			}
			g->deployments = list;
		}
		g->deployments[g->n_deployments++] = i;
	}

	/* Ids: the explicit ones first, so a generated id never takes an id
	 * the file chose. */
	for (size_t i = 0; i < c->n_deployments && !ld->oom; i++) {
		const struct dep_site *s = &ld->sites[i];
		char buf[SHOWN_MAX + 8];
		size_t other;

		if (!c->deployments[i].id)
			continue;
		if (strmap_get(&ids, c->deployments[i].id, &other)) {
			const struct dep_site *o = &ld->sites[other];

			report(ld, DIAG_ERROR, s->src, s->id,
			       "duplicate model_info.id '%s' (also used by model_list[%zu] at %s:%d:%d)",
			       shown(c->deployments[i].id, buf, sizeof(buf)), o->index,
			       ld->sources[o->src].path, o->id->line, o->id->col);
			continue;
		}
		if (strmap_put(&ids, c->deployments[i].id, i) < 0)
			ld->oom = true;
	}
	for (size_t i = 0; i < c->n_deployments && !ld->oom; i++) {
		struct deployment *d = &c->deployments[i];
		const struct dep_site *s = &ld->sites[i];
		char buf[SHOWN_MAX + 8];

		if (d->id)
			continue;
		if (asprintf(&d->id, "%s#%zu", d->model_name, s->position) < 0) {
			d->id = NULL;
			ld->oom = true;
			break;
		}
		if (strmap_get(&ids, d->id, NULL)) {
			report(ld, DIAG_ERROR, s->src, s->entry,
			       "the generated id '%s' of model_list[%zu] is already a model_info.id; "
			       "give this entry a model_info.id",
			       shown(d->id, buf, sizeof(buf)), s->index);
			continue;
		}
		if (strmap_put(&ids, d->id, i) < 0)
			ld->oom = true;
	}
	strmap_free(&ids);
}

/* ---- fallbacks --------------------------------------------------------- */

static void free_rules(struct loader *ld)
{
	for (size_t i = 0; i < ld->n_rules; i++) {
		free(ld->rules[i].group);
		for (size_t j = 0; j < ld->rules[i].n_targets; j++)
			free(ld->rules[i].targets[j]);
		free(ld->rules[i].targets);
		free(ld->rules[i].target_nodes);
	}
	free(ld->rules);
	ld->rules = NULL;
	ld->n_rules = ld->cap_rules = 0;
}

static void parse_fallbacks(struct loader *ld, const struct at *at)
{
	const struct config_yaml_node *list = at->node;

	if (config_yaml_is_null(list))
		return;
	if (list->kind != CONFIG_YAML_SEQUENCE) {
		report(ld, DIAG_ERROR, at->src, list,
		       "%s must be a list like [{\"gpt-4o\": [\"gpt-4o-backup\"]}], not %s",
		       at->path, config_yaml_kind_name(list->kind));
		return;
	}
	for (size_t i = 0; i < list->n_items; i++) {
		const struct config_yaml_node *item = list->items[i];

		if (item->kind != CONFIG_YAML_MAPPING) {
			report(ld, DIAG_ERROR, at->src, item,
			       "%s[%zu] must be a mapping like {\"gpt-4o\": [\"gpt-4o-backup\"]}, not "
			       "%s",
			       at->path, i, config_yaml_kind_name(item->kind));
			continue;
		}
		struct config_yaml_key dk;
		for (size_t pos = 0;
		     config_yaml_next_key(item, CONFIG_YAML_LATER_WINS, &pos, &dk);) {
			const struct config_yaml_pair *p = dk.pair;
			const struct config_yaml_node *targets;
			struct fallback_rule *rule;
			char buf[SHOWN_MAX + 8], where[sizeof(at->path) + 32];

			if (dk.again) {
				snprintf(where, sizeof(where), "in %s[%zu]", at->path, i);
				report_duplicate(ld, at->src, &dk, where);
			}
			if (!p)
				continue;
			targets = p->value;
			shown(p->key->value, buf, sizeof(buf));
			if (config_yaml_is_null(targets) || targets->kind != CONFIG_YAML_SEQUENCE) {
				report(ld, DIAG_ERROR, at->src,
				       config_yaml_is_null(targets) ? p->key : targets,
				       "%s: the fallbacks of '%s' must be a list of model_name groups",
				       at->path, buf);
				continue;
			}
			if (targets->n_items > CONFIG_MAX_FALLBACKS) {
				report(ld, DIAG_ERROR, at->src, targets,
				       "%s: the fallbacks of '%s' name more than %d groups",
				       at->path, buf, CONFIG_MAX_FALLBACKS);
				continue;
			}
			if (grow(&ld->rules, &ld->cap_rules, ld->n_rules, sizeof(*ld->rules)) < 0) {
				ld->oom = true;
				return;
			}
			rule = &ld->rules[ld->n_rules++];
			*rule = (struct fallback_rule){.src = at->src, .key = p->key};
			rule->group = dup_or_oom(ld, p->key->value);
			rule->targets = calloc(targets->n_items + 1, sizeof(*rule->targets));
			rule->target_nodes =
			        calloc(targets->n_items + 1, sizeof(*rule->target_nodes));
			if (!rule->group || !rule->targets || !rule->target_nodes) {
				ld->oom = true;
				return;
			}
			for (size_t k = 0; k < targets->n_items; k++) {
				struct at t = *at;
				char *name = NULL;

				t.key = NULL;
				t.node = targets->items[k];
				set_path(&t, "%s[%zu].%s[%zu]", at->path, i, buf, k);
				if (get_text(ld, &t, "a model_name", &name) != GOT)
					continue;
				rule->target_nodes[rule->n_targets] = t.node;
				rule->targets[rule->n_targets++] = name;
			}
		}
	}
}

static void unknown_group(struct loader *ld, size_t src, const struct config_yaml_node *node,
                          const char *name)
{
	const struct config *c = ld->config;
	const char **names = calloc(c->n_groups + 1, sizeof(*names));
	const char *suggestion;
	char buf[SHOWN_MAX + 8], known[256];
	size_t n = 0;

	shown(name, buf, sizeof(buf));
	if (!names) {
		ld->oom = true;
		return;
	}
	for (size_t i = 0; i < c->n_groups; i++)
		names[i] = c->groups[i].name;
	suggestion = diags_full(ld) || c->n_groups > SUGGEST_MAX_GROUPS
	                     ? NULL
	                     : closest(name, names, c->n_groups, &ld->suggest_budget);
	if (suggestion) {
		report(ld, DIAG_ERROR, src, node,
		       "fallbacks name unknown model_name '%s'; did you mean '%s'?", buf,
		       suggestion);
		free(names);
		return;
	}
	known[0] = '\0';
	for (size_t i = 0; i < c->n_groups && i < 5 && n < sizeof(known); i++)
		n += (size_t)snprintf(known + n, sizeof(known) - n, "%s%s", i ? ", " : "",
		                      c->groups[i].name);
	if (c->n_groups > 5 && n < sizeof(known))
		snprintf(known + n, sizeof(known) - n, ", " ELLIPSIS);
	report(ld, DIAG_ERROR, src, node, "fallbacks name unknown model_name '%s' (known: %s)", buf,
	       c->n_groups ? known : "none");
	free(names);
}

/* The parsed rules into each group's fallbacks of KIND (< 0: the plain
 * fallbacks, else an enum error_fallback). */
static void apply_fallbacks(struct loader *ld, int kind)
{
	struct config *c = ld->config;

	for (size_t i = 0; i < ld->n_rules && !ld->oom; i++) {
		struct fallback_rule *rule = &ld->rules[i];
		struct group *g;
		char buf[SHOWN_MAX + 8], buf2[SHOWN_MAX + 8];
		size_t gi, ti;
		char ***fb = NULL;
		size_t *n_fb = NULL;

		if (!strmap_get(&ld->groups, rule->group, &gi)) {
			unknown_group(ld, rule->src, rule->key, rule->group);
			g = NULL;
		} else {
			g = &c->groups[gi];
			fb = kind < 0 ? &g->fallbacks : &g->error_fallbacks[kind];
			n_fb = kind < 0 ? &g->n_fallbacks : &g->n_error_fallbacks[kind];
			if (*fb) {
				report(ld, DIAG_WARNING, rule->src, rule->key,
				       "the fallbacks of '%s' are given twice; the first list is used",
				       shown(rule->group, buf, sizeof(buf)));
				g = NULL;
			}
		}
		if (g) {
			*fb = calloc(rule->n_targets + 1, sizeof(**fb));
			if (!*fb) {
				ld->oom = true;
				return;
			}
		}
		for (size_t k = 0; k < rule->n_targets; k++) {
			const char *t = rule->targets[k];
			bool dup = false;

			if (!strmap_get(&ld->groups, t, NULL)) {
				unknown_group(ld, rule->src, rule->target_nodes[k], t);
				continue;
			}
			if (strmap_get(&ld->groups, t, &ti) && c->groups[ti].n_deployments == 0) {
				report(ld, unserved_severity(ld), rule->src, rule->target_nodes[k],
				       "the fallback of '%s' to '%s' is skipped: llmgate serves none of "
				       "its deployments (%s)",
				       shown(rule->group, buf, sizeof(buf)),
				       shown(t, buf2, sizeof(buf2)), c->groups[ti].not_served);
				continue;
			}
			if (strcmp(t, rule->group) == 0) {
				report(ld, DIAG_WARNING, rule->src, rule->target_nodes[k],
				       "the fallbacks of '%s' name the group itself; ignored",
				       shown(t, buf, sizeof(buf)));
				continue;
			}
			if (!g)
				continue;
			for (size_t m = 0; m < *n_fb; m++)
				dup |= strcmp((*fb)[m], t) == 0;
			if (dup)
				continue;
			(*fb)[*n_fb] = dup_or_oom(ld, t);
			if (!(*fb)[*n_fb])
				return;
			(*n_fb)++;
		}
	}
}

/* context_window_fallbacks and content_policy_fallbacks, in the shape of
 * fallbacks (router_settings wins over litellm_settings). */
static void load_error_fallbacks(struct loader *ld, const struct slots *ls, const struct slots *rs)
{
	static const struct {
		enum key ls, rs;
	} keys[ERROR_FALLBACK__COUNT] = {
	        [ERROR_FALLBACK_CONTEXT_WINDOW] = {K_litellm_settings_context_window_fallbacks,
	                                           K_router_settings_context_window_fallbacks},
	        [ERROR_FALLBACK_CONTENT_POLICY] = {K_litellm_settings_content_policy_fallbacks,
	                                           K_router_settings_content_policy_fallbacks},
	};

	for (int kind = 0; kind < ERROR_FALLBACK__COUNT && !ld->oom; kind++) {
		struct at l = at_slot(ls, keys[kind].ls), r = at_slot(rs, keys[kind].rs);

		free_rules(ld);
		parse_fallbacks(ld, config_yaml_is_null(r.node) ? &l : &r);
		apply_fallbacks(ld, kind);
	}
}

/* default_fallbacks: a list of groups that every group without fallbacks
 * of its own falls back to, as in LiteLLM (never to itself). */
static void apply_default_fallbacks(struct loader *ld, const struct at *at)
{
	struct config *c = ld->config;
	const struct config_yaml_node *list = at->node;
	char *names[CONFIG_MAX_FALLBACKS];
	size_t n = 0;
	char buf[SHOWN_MAX + 8];

	if (config_yaml_is_null(list))
		return;
	if (list->kind != CONFIG_YAML_SEQUENCE || list->n_items > CONFIG_MAX_FALLBACKS) {
		report(ld, DIAG_ERROR, at->src, list, "%s must be a list of at most %d model_names",
		       at->path, CONFIG_MAX_FALLBACKS);
		return;
	}
	for (size_t k = 0; k < list->n_items; k++) {
		struct at t = *at;
		char *name = NULL;
		size_t gi;

		t.key = NULL;
		t.node = list->items[k];
		set_path(&t, "%s[%zu]", at->path, k);
		if (get_text(ld, &t, "a model_name", &name) != GOT)
			continue;
		if (!strmap_get(&ld->groups, name, &gi)) {
			unknown_group(ld, t.src, t.node, name);
			free(name);
			continue;
		}
		if (c->groups[gi].n_deployments == 0) {
			report(ld, unserved_severity(ld), t.src, t.node,
			       "the default fallback to '%s' is skipped: llmgate serves none of its "
			       "deployments (%s)",
			       shown(name, buf, sizeof(buf)), c->groups[gi].not_served);
			free(name);
			continue;
		}
		names[n++] = name;
	}
	for (size_t g = 0; g < c->n_groups && !ld->oom; g++) {
		struct group *grp = &c->groups[g];

		if (grp->fallbacks || grp->n_deployments == 0)
			continue;
		grp->fallbacks = calloc(n + 1, sizeof(*grp->fallbacks));
		if (!grp->fallbacks) {
			ld->oom = true;
			break;
		}
		for (size_t k = 0; k < n; k++) {
			if (strcmp(names[k], grp->name) == 0)
				continue;
			grp->fallbacks[grp->n_fallbacks] = dup_or_oom(ld, names[k]);
			if (!grp->fallbacks[grp->n_fallbacks])
				break;
			grp->n_fallbacks++;
		}
	}
	for (size_t k = 0; k < n; k++)
		free(names[k]);
}

/* ---- settings ---------------------------------------------------------- */

/* One alias NAME -> TARGET, reported at NODE. */
static void add_alias(struct loader *ld, size_t src, const struct config_yaml_node *node,
                      const char *name, const char *target, bool hidden)
{
	struct config *c = ld->config;
	char b1[SHOWN_MAX + 8], b2[SHOWN_MAX + 8];
	size_t gi;

	shown(name, b1, sizeof(b1));
	shown(target, b2, sizeof(b2));
	if (strmap_get(&ld->groups, name, NULL)) {
		report(ld, DIAG_WARNING, src, node,
		       "model_group_alias '%s' is also a model_name; the model_name is served and "
		       "the alias ignored",
		       b1);
		return;
	}
	if (!strmap_get(&ld->groups, target, &gi)) {
		report(ld, DIAG_ERROR, src, node,
		       "model_group_alias '%s' names unknown model_name '%s'", b1, b2);
		return;
	}
	for (size_t i = 0; i < c->n_aliases; i++)
		if (strcmp(c->aliases[i].name, name) == 0)
			return;
	if (grow(&c->aliases, &ld->cap_aliases, c->n_aliases, sizeof(*c->aliases)) < 0) {
		ld->oom = true;
		return;
	}
	c->aliases[c->n_aliases] =
	        (struct group_alias){.name = dup_or_oom(ld, name), .group = gi, .hidden = hidden};
	if (c->aliases[c->n_aliases].name)
		c->n_aliases++;
}

/* router_settings.model_group_alias: a mapping of alias to model_name (or to
 * {model, hidden}); a string holding that mapping as JSON is read with a
 * warning, another string is reported and ignored. */
static void load_aliases(struct loader *ld, const struct at *at)
{
	const struct config_yaml_node *map = at->node;
	char buf[SHOWN_MAX + 8];

	if (config_yaml_is_null(map))
		return;
	if (map->kind == CONFIG_YAML_SCALAR) {
		json_error_t jerr;
		json_t *obj = json_loads(map->value, JSON_REJECT_DUPLICATES, &jerr);
		const char *name;
		json_t *v;

		if (!obj && map->value[strspn(map->value, " \t\r\n")] == '{') {
			/* meant as the mapping: a repeated alias or a typo is an error, not a
			 * mapping silently ignored or half read */
			report(ld, DIAG_ERROR, at->src, map,
			       "%s is a string holding JSON that cannot be read: %s (character %d)",
			       at->path, jerr.text, jerr.position);
			return;
		}
		if (!json_is_object(obj)) {
			report(ld, DIAG_WARNING, at->src, map,
			       "%s is a string ('%s'), not a mapping: LiteLLM expects alias: model_name "
			       "pairs, e.g. {\"gpt-4\": \"gpt-4o\"}; ignored",
			       at->path, shown(map->value, buf, sizeof(buf)));
			json_decref(obj);
			return;
		}
		report(ld, DIAG_WARNING, at->src, map,
		       "%s is a string holding JSON; read as the mapping it holds (write it as a "
		       "YAML mapping)",
		       at->path);
		json_object_foreach(obj, name, v)
		{
			json_t *m = json_is_object(v) ? json_object_get(v, "model") : v;

			if (json_is_string(m))
				add_alias(ld, at->src, map, name, json_string_value(m),
				          json_is_true(json_object_get(v, "hidden")));
			else
				report(ld, DIAG_ERROR, at->src, map,
				       "%s: the alias '%s' must name a model_name", at->path,
				       shown(name, buf, sizeof(buf)));
		}
		json_decref(obj);
		return;
	}
	if (map->kind != CONFIG_YAML_MAPPING) {
		report(ld, DIAG_ERROR, at->src, map,
		       "%s must be a mapping of alias: model_name, not %s", at->path,
		       config_yaml_kind_name(map->kind));
		return;
	}
	struct config_yaml_key dk;
	for (size_t pos = 0; config_yaml_next_key(map, CONFIG_YAML_LATER_WINS, &pos, &dk);) {
		const struct config_yaml_pair *p = dk.pair;
		const struct config_yaml_node *v, *model = NULL;
		char where[sizeof(at->path) + SHOWN_MAX + 16];
		bool hidden = false;

		if (dk.again) {
			snprintf(where, sizeof(where), "in %s", at->path);
			report_duplicate(ld, at->src, &dk, where);
		}
		if (!p)
			continue;
		v = p->value;
		if (!config_yaml_is_null(v) && v->kind == CONFIG_YAML_MAPPING) {
			struct config_yaml_key ik;

			snprintf(where, sizeof(where), "in %s.%s", at->path,
			         shown(p->key->value, buf, sizeof(buf)));
			for (size_t ipos = 0;
			     config_yaml_next_key(v, CONFIG_YAML_LATER_WINS, &ipos, &ik);) {
				const struct config_yaml_pair *f = ik.pair;

				if (ik.again)
					report_duplicate(ld, at->src, &ik, where);
				if (!f)
					continue;
				if (strcmp(f->key->value, "model") == 0)
					model = f->value;
				else if (strcmp(f->key->value, "hidden") == 0 &&
				         f->value->kind == CONFIG_YAML_SCALAR)
					parse_yaml_bool(f->value->value, &hidden);
			}
		} else {
			model = v;
		}
		if (config_yaml_is_null(model) || model->kind != CONFIG_YAML_SCALAR) {
			report(ld, DIAG_ERROR, at->src, config_yaml_is_null(v) ? p->key : v,
			       "%s: the alias '%s' must name a model_name", at->path,
			       shown(p->key->value, buf, sizeof(buf)));
			continue;
		}
		add_alias(ld, at->src, p->key, p->key->value, model->value, hidden);
	}
}

/* LiteLLM's callback lists: "otel" turns traces on (load_otel()); any other
 * callback is LiteLLM's own, ignored with a warning. */
static void load_callbacks(struct loader *ld, const struct slots *ls)
{
	static const enum key keys[] = {K_litellm_settings_callbacks,
	                                K_litellm_settings_success_callback,
	                                K_litellm_settings_failure_callback};
	char buf[SHOWN_MAX + 8];

	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		struct at at = at_slot(ls, keys[k]);
		const struct config_yaml_node *list = at.node;

		if (config_yaml_is_null(list))
			continue;
		if (list->kind != CONFIG_YAML_SEQUENCE) {
			report(ld, DIAG_ERROR, at.src, list, "%s must be a list, not %s", at.path,
			       config_yaml_kind_name(list->kind));
			continue;
		}
		for (size_t i = 0; i < list->n_items; i++) {
			struct at item = at;
			char *text;

			item.node = list->items[i];
			set_path(&item, "%s[%zu]", at.path, i);
			if (get_text(ld, &item, "a callback name", &text) != GOT)
				continue;
			if (strcmp(text, "otel") == 0)
				ld->otel_callback = true;
			else
				report(ld, DIAG_WARNING, at.src, item.node,
				       "ignored: %s '%s' is a LiteLLM callback llmgate does not "
				       "implement (only 'otel')",
				       item.path, shown(text, buf, sizeof(buf)));
			free(text);
		}
	}
}

static void load_settings(struct loader *ld)
{
	struct config *c = ld->config;
	const struct slots *top = &ld->top;
	struct slots ls, rs;
	struct at at, ls_at, ls_fb, rs_fb;
	char buf[SHOWN_MAX + 8], *text;
	long ls_retries = 0, rs_retries = 0;
	enum got got_ls;

	scan(ld, 0, top->value[K_top_litellm_settings - top->first], SECTION_litellm_settings,
	     "litellm_settings", "in litellm_settings", &ls, NULL);
	scan(ld, 0, top->value[K_top_router_settings - top->first], SECTION_router_settings,
	     "router_settings", "in router_settings", &rs, NULL);

	at = at_slot(&ls, K_litellm_settings_drop_params);
	get_bool(ld, &at, &c->drop_params);
	at = at_slot(&ls, K_litellm_settings_set_verbose);
	get_bool(ld, &at, &c->verbose);
	at = at_slot(&ls, K_litellm_settings_enable_azure_ad_token_refresh);
	get_bool(ld, &at, &c->azure_ad_token_refresh);
	at = at_slot(&ls, K_litellm_settings_request_timeout);
	get_duration(ld, &at, false, &c->request_timeout_ms);
	at = at_slot(&rs, K_router_settings_timeout);
	get_duration(ld, &at, false, &c->router_timeout_ms);
	at = at_slot(&rs, K_router_settings_enable_pre_call_checks);
	get_bool(ld, &at, &c->deployment_ceilings);
	at = at_slot(&rs, K_router_settings_routing_strategy);
	if (get_text(ld, &at, "a strategy name", &text) == GOT) {
		/* LiteLLM's strategy that counts rpm/tpm per deployment: ceilings */
		if (strcmp(text, "usage-based-routing-v2") == 0 ||
		    strcmp(text, "usage-based-routing") == 0)
			c->deployment_ceilings = true;
		else
			report(ld, DIAG_WARNING, 0, at.key,
			       "ignored: %s '%s' is accepted for LiteLLM compatibility; llmgate "
			       "spreads requests round-robin weighted by rpm/tpm, and its own failure "
			       "policy is under llmgate.fallback",
			       at.path, shown(text, buf, sizeof(buf)));
		free(text);
	}

	ls_at = at_slot(&ls, K_litellm_settings_num_retries);
	got_ls = get_long(ld, &ls_at, 0, 100, &ls_retries);
	if (got_ls == GOT)
		c->num_retries = ls_retries;
	at = at_slot(&rs, K_router_settings_num_retries);
	if (get_long(ld, &at, 0, 100, &rs_retries) == GOT) {
		c->num_retries = rs_retries;
		if (got_ls == GOT && !ls_at.by_default && ls_retries != rs_retries)
			report(ld, DIAG_WARNING, 0, ls_at.node,
			       "litellm_settings.num_retries (%ld) is overridden by "
			       "router_settings.num_retries (%ld)",
			       ls_retries, rs_retries);
	}

	ls_fb = at_slot(&ls, K_litellm_settings_fallbacks);
	at = at_slot(&rs, K_router_settings_model_group_alias);
	load_aliases(ld, &at);
	rs_fb = at_slot(&rs, K_router_settings_fallbacks);
	if (!config_yaml_is_null(rs_fb.node)) {
		parse_fallbacks(ld, &rs_fb);
		if (ls_fb.key)
			report(ld, DIAG_WARNING, 0, ls_fb.key,
			       "litellm_settings.fallbacks is ignored: router_settings.fallbacks takes "
			       "precedence");
	} else {
		parse_fallbacks(ld, &ls_fb);
	}
	apply_fallbacks(ld, -1);
	load_error_fallbacks(ld, &ls, &rs);
	load_callbacks(ld, &ls);
	ls_fb = at_slot(&ls, K_litellm_settings_default_fallbacks);
	rs_fb = at_slot(&rs, K_router_settings_default_fallbacks);
	apply_default_fallbacks(ld, config_yaml_is_null(rs_fb.node) ? &ls_fb : &rs_fb);
}

/* ---- Entra ID credentials ---------------------------------------------- */

struct entra_report_ctx {
	struct loader *ld;
	const struct dep_site *site;
	size_t index;
};

static void entra_report(void *arg, bool error, const char *key, const char *msg)
{
	static const char *const names[] = {"tenant_id", "client_id", "client_secret",
	                                    "azure_scope", "azure_credential"};
	struct entra_report_ctx *ctx = arg;
	const struct config_yaml_node *node = ctx->site->entra.params;

	for (size_t i = 0; key && i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(key, names[i]) == 0 && ctx->site->entra.keys[i])
			node = ctx->site->entra.keys[i];
	report(ctx->ld, error ? DIAG_ERROR : DIAG_WARNING, ctx->site->src, node,
	       "model_list[%zu].litellm_params: %s", ctx->site->index, msg);
}

/* Every azure deployment's credential (config_entra.c); the distinct ones
 * are config->credentials, which a deployment names by index. */
static void resolve_credentials(struct loader *ld)
{
	struct config *c = ld->config;
	size_t cap = 0;

	for (size_t i = 0; i < c->n_deployments && !ld->oom; i++) {
		struct deployment *d = &c->deployments[i];
		const struct dep_site *site = &ld->sites[i];
		struct entra_report_ctx ctx = {ld, site, i};
		struct config_entra_input in = {
		        .tenant_id = site->entra.tenant_id,
		        .client_id = site->entra.client_id,
		        .client_secret = site->entra.client_secret,
		        .scope = site->entra.scope,
		        .credential = site->entra.credential,
		        .scope_written = site->entra.scope_written,
		        .refresh_enabled = c->azure_ad_token_refresh,
		        .has_key = d->api_key || d->azure_ad_token,
		        .key_name = d->api_key ? "api_key" : "azure_ad_token",
		};
		struct entra_credential cred;
		size_t k;

		if (d->provider != PROVIDER_AZURE) {
			for (size_t j = 0; j < 5; j++)
				if (site->entra.keys[j])
					report(ld, DIAG_WARNING, site->src, site->entra.keys[j],
					       "model_list[%zu].litellm_params: Entra ID keys are only "
					       "used by azure/ models; ignored",
					       i);
			continue;
		}
		int r = config_entra_resolve(&in, &cred, entra_report, &ctx);

		if (r == -ENOMEM) {
			ld->oom = true;
			break;
		}
		if (r == 0 && cred.source == ENTRA_NONE && site->entra.no_key) {
			char buf[SHOWN_MAX + 8];

			report(ld, DIAG_WARNING, site->src, site->entra.no_key,
			       "azure model '%s' has no api_key, azure_ad_token or Entra ID credential "
			       "and neither %s is set; requests go out without credentials (write "
			       "api_key, or tenant_id, client_id and client_secret)",
			       shown(d->model, buf, sizeof(buf)),
			       provider_info(PROVIDER_AZURE)->key_vars);
		}
		if (cred.source == ENTRA_NONE)
			continue;
		for (k = 0; k < c->n_credentials; k++)
			if (entra_credential_equal(&c->credentials[k], &cred))
				break;
		if (k < c->n_credentials) {
			entra_credential_clear(&cred);
		} else if (grow(&c->credentials, &cap, c->n_credentials, sizeof(*c->credentials)) <
		           0) {
			entra_credential_clear(&cred);
			ld->oom = true;
			break;
		} else {
			c->credentials[c->n_credentials++] = cred;
		}
		d->entra = true;
		d->credential = k;
	}
}

static void load_general(struct loader *ld)
{
	struct config *c = ld->config;
	const struct slots *top = &ld->top;
	struct slots gs;
	struct at at;
	double mb;

	scan(ld, 0, top->value[K_top_general_settings - top->first], SECTION_general_settings,
	     "general_settings", "in general_settings", &gs, NULL);
	at = at_slot(&gs, K_general_settings_master_key);
	if (get_string(ld, &at, &c->master_key) == GOT && !c->master_key[0]) {
		report(ld, DIAG_ERROR, 0, at.node,
		       "%s is empty; remove it to run without client authentication", at.path);
		take(&c->master_key, NULL);
	}
	at = at_slot(&gs, K_general_settings_max_request_size_mb);
	if (get_double(ld, &at, 0, CONFIG_MAX_REQUEST_MB, &mb) == GOT) {
		c->max_request_size = (size_t)(mb * MIB);
		if (c->max_request_size < 1024)
			c->max_request_size = 1024;
	}
}

static bool valid_address(const char *s)
{
	const char *port;
	char *end;
	long v;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close == s + 1 || close[1] != ':')
			return false;
		port = close + 2;
	} else {
		const char *colon = strrchr(s, ':');

		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return false;
		port = colon + 1;
	}
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == '/')
			return false;
	if (!*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5)
		return false;
	v = strtol(port, &end, 10);
	return v >= 1 && v <= 65535;
}

static void get_address(struct loader *ld, const struct at *at, char **dst)
{
	char buf[SHOWN_MAX + 8], *text;

	if (get_text(ld, at, "HOST:PORT", &text) != GOT)
		return;
	if (!valid_address(text)) {
		report(ld, DIAG_ERROR, at->src, at->node,
		       "%s must be HOST:PORT ([IPv6]:PORT for IPv6), e.g. 127.0.0.1:4000, not '%s'",
		       at->path, shown_value(at->node, text, buf, sizeof(buf)));
		free(text);
		return;
	}
	take(dst, text);
}

static void load_fallback_policy(struct loader *ld, const struct slots *lg)
{
	struct fallback_policy *f = &ld->config->fallback;
	char buf[SHOWN_MAX + 8], *text;
	struct slots fs;
	struct at at;
	bool b;

	at = at_slot(lg, K_llmgate_fallback);
	if (!scan(ld, 0, at.node, SECTION_fallback, "llmgate.fallback", "in llmgate.fallback", &fs,
	          NULL))
		return;

	at = at_slot(&fs, K_fallback_mode);
	if (get_text(ld, &at, "auto, on or off", &text) == GOT) {
		if (strcasecmp(text, "auto") == 0)
			f->mode = FALLBACK_SETTING_AUTO;
		else if (parse_yaml_bool(text, &b))
			f->mode = b ? FALLBACK_SETTING_ON : FALLBACK_SETTING_OFF;
		else
			report(ld, DIAG_ERROR, 0, at.node, "%s must be auto, on or off, not '%s'",
			       at.path, shown_value(at.node, text, buf, sizeof(buf)));
		free(text);
	}
	at = at_slot(&fs, K_fallback_window);
	get_duration(ld, &at, false, &f->window_ms);
	at = at_slot(&fs, K_fallback_min_requests);
	get_long(ld, &at, 1, 1000000000L, &f->min_requests);
	at = at_slot(&fs, K_fallback_failure_ratio);
	get_double(ld, &at, 0, 1, &f->failure_ratio);
	at = at_slot(&fs, K_fallback_consecutive_failures);
	get_long(ld, &at, 1, 1000000000L, &f->consecutive_failures);
	at = at_slot(&fs, K_fallback_cooldown);
	get_duration(ld, &at, false, &f->cooldown_ms);
	at = at_slot(&fs, K_fallback_probe_interval);
	get_duration(ld, &at, false, &f->probe_interval_ms);
	at = at_slot(&fs, K_fallback_recover_successes);
	get_long(ld, &at, 1, 1000000000L, &f->recover_successes);
	at = at_slot(&fs, K_fallback_report_interval);
	if (get_duration(ld, &at, false, &f->report_interval_ms) == GOT && !at.by_default &&
	    f->report_interval_ms >= f->window_ms)
		report(ld, DIAG_WARNING, 0, at.node,
		       "%s (%ldms) is not shorter than window (%ldms); the window sees at most one "
		       "report",
		       at.path, f->report_interval_ms, f->window_ms);
}

/* ---- pass-through (config_passthrough.c) ------------------------------- */

static int pt_text(void *ctx, const struct config_yaml_node *node, const char *path, bool secret,
                   char **ret)
{
	struct at at = {.node = node, .secret = secret, .litellm_reads = true};
	enum got r;

	set_path(&at, "%s", path);
	r = get_text(ctx, &at, "a string", ret);
	return r == GOT ? 0 : r == GOT_NOTHING ? 1 : -1;
}

static int pt_bool(void *ctx, const struct config_yaml_node *node, const char *path, bool *ret)
{
	struct at at = {.node = node, .litellm_reads = true};
	enum got r;

	set_path(&at, "%s", path);
	r = get_bool(ctx, &at, ret);
	return r == GOT ? 0 : r == GOT_NOTHING ? 1 : -1;
}

__attribute__((format(printf, 4, 5))) static void pt_report(void *ctx, bool error,
                                                            const struct config_yaml_node *node,
                                                            const char *fmt, ...)
{
	struct loader *ld = ctx;
	char *message = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&message, fmt, ap);
	va_end(ap);
	if (r < 0) {
		ld->oom = true;
		return;
	}
	report(ld, error ? DIAG_ERROR : DIAG_WARNING, 0, node, "%s", message);
	free(message);
}

static void pt_oom(void *ctx)
{
	((struct loader *)ctx)->oom = true;
}

/* llmgate.files_deployment first (the endpoints' paths are checked
 * against it), then general_settings.pass_through_endpoints. */
static void load_passthrough(struct loader *ld, const struct slots *lg)
{
	const struct config_passthrough_reader rd = {ld, pt_text, pt_bool, pt_report, pt_oom};
	const struct config_yaml_node *gs = ld->top.value[K_top_general_settings - ld->top.first];
	struct at at = at_slot(lg, K_llmgate_passthrough_max_request_size_mb);
	char *name = NULL;
	double mb;

	if (get_double(ld, &at, 0, CONFIG_MAX_REQUEST_MB, &mb) == GOT) {
		ld->config->passthrough_max_request_size = (size_t)(mb * MIB);
		if (ld->config->passthrough_max_request_size < 1024)
			ld->config->passthrough_max_request_size = 1024;
	}
	at = at_slot(lg, K_llmgate_files_deployment);
	if (get_string(ld, &at, &name) == GOT)
		config_passthrough_files(ld->config, name, at.node, &rd);
	else
		config_passthrough_batch_mode(ld->config, &rd);
	free(name);
	/* the list read is the later one of a duplicate (reported by load_general) */
	struct config_yaml_key k;
	for (size_t pos = 0; config_yaml_next_key(gs, CONFIG_YAML_LATER_WINS, &pos, &k);)
		if (k.pair && strcmp(k.pair->key->value, "pass_through_endpoints") == 0)
			config_passthrough_load(ld->config, k.pair->value, &rd);
}

static void otel_report(void *ctx, bool error, const char *key, const char *msg)
{
	struct loader *ld = ctx;

	(void)key;
	report(ld, error ? DIAG_ERROR : DIAG_WARNING, 0, NULL, "%s", msg);
}

/* llmgate.otel and the callbacks: config_otel_resolve() decides. */
static void load_otel(struct loader *ld, const struct slots *lg)
{
	struct config_otel_input in = {.callback = ld->otel_callback};
	struct otel_header *headers = NULL;
	char *endpoint = NULL, *service = NULL, *protocol = NULL, *ratio_text;
	struct deployment hd = {0}; /* load_headers() fills a deployment's */
	struct slots os;
	struct at at;
	int r;

	at = at_slot(lg, K_llmgate_otel);
	in.section = !config_yaml_is_null(at.node);
	if (!scan(ld, 0, at.node, SECTION_otel, "llmgate.otel", "in llmgate.otel", &os, NULL))
		return;
	at = at_slot(&os, K_otel_endpoint);
	if (get_string(ld, &at, &endpoint) == GOT)
		in.endpoint = endpoint;
	at = at_slot(&os, K_otel_headers);
	load_headers(ld, &at, &hd);
	if (hd.n_extra_headers) {
		headers = calloc(hd.n_extra_headers, sizeof(*headers));
		if (!headers)
			ld->oom = true;
		for (size_t i = 0; headers && i < hd.n_extra_headers; i++)
			headers[i] = (struct otel_header){.name = hd.extra_headers[i].name,
			                                  .value = hd.extra_headers[i].value};
		in.headers = headers;
		in.n_headers = headers ? hd.n_extra_headers : 0;
	}
	at = at_slot(&os, K_otel_service_name);
	if (get_string(ld, &at, &service) == GOT)
		in.service_name = service;
	at = at_slot(&os, K_otel_protocol);
	if (get_string(ld, &at, &protocol) == GOT) {
		enum otel_protocol p;

		if (config_otel_protocol(protocol, &p) == 0 || strcmp(protocol, "grpc") == 0)
			in.protocol = protocol; /* grpc: config_otel_resolve() says why not */
		else
			report(ld, DIAG_ERROR, at.src, at.node,
			       "%s must be http/protobuf or http/json", at.path);
	}
	at = at_slot(&os, K_otel_sample_ratio);
	if (get_text(ld, &at, "a number from 0 to 1", &ratio_text) == GOT) {
		char buf[SHOWN_MAX + 8];

		if (!parse_double(ratio_text, &in.sample_ratio) || in.sample_ratio < 0 ||
		    in.sample_ratio > 1)
			report(ld, DIAG_ERROR, at.src, at.node,
			       "%s must be a number from 0 to 1, not '%s'", at.path,
			       shown_value(at.node, ratio_text, buf, sizeof(buf)));
		if (in.sample_ratio < 0 || in.sample_ratio > 1)
			in.sample_ratio = 1; /* reported here, not again */
		free(ratio_text);
	}
	at = at_slot(&os, K_otel_queue_size);
	get_long(ld, &at, 1, 1000000, &in.queue_size);
	at = at_slot(&os, K_otel_batch_size);
	get_long(ld, &at, 1, 100000, &in.batch_size);
	at = at_slot(&os, K_otel_flush_interval);
	get_duration(ld, &at, false, &in.flush_interval_ms);
	at = at_slot(&os, K_otel_export_timeout);
	get_duration(ld, &at, false, &in.export_timeout_ms);

	r = config_otel_resolve(&in, &ld->config->otel, otel_report, ld);
	if (r == -ENOMEM)
		ld->oom = true;
	for (size_t i = 0; i < hd.n_extra_headers; i++) {
		free(hd.extra_headers[i].name);
		explicit_bzero(hd.extra_headers[i].value, strlen(hd.extra_headers[i].value));
		free(hd.extra_headers[i].value);
	}
	free(hd.extra_headers);
	free(headers);
	free(endpoint);
	free(service);
	free(protocol);
}

/* llmgate.tls (config_tls.c checks the values), or LiteLLM's
 * SSL_CERTFILE_PATH and SSL_KEYFILE_PATH from the environment. */
static void load_tls(struct loader *ld, const struct slots *lg)
{
	static const enum key keys[CONFIG_TLS__COUNT] = {
	        [CONFIG_TLS_CERT] = K_tls_cert_file,
	        [CONFIG_TLS_KEY] = K_tls_key_file,
	        [CONFIG_TLS_CLIENT_CA] = K_tls_client_ca_file,
	        [CONFIG_TLS_MIN_PROTOCOL] = K_tls_min_protocol,
	        [CONFIG_TLS_CIPHERS] = K_tls_ciphers,
	        [CONFIG_TLS_CIPHERSUITES] = K_tls_ciphersuites,
	};
	struct config_tls *t = &ld->config->tls;
	struct at section = at_slot(lg, K_llmgate_tls), at;
	struct slots ts;

	if (config_yaml_is_null(section.node)) {
		config_tls_from_env(t, ld->sources[0].path, default_nodes[K_tls_ciphers].value,
		                    default_nodes[K_tls_ciphersuites].value, ld->diags);
		return;
	}
	if (!scan(ld, 0, section.node, SECTION_tls, "llmgate.tls", "in llmgate.tls", &ts, NULL))
		return;
	t->on = true;
	for (int i = 0; i < CONFIG_TLS__COUNT; i++) {
		at = at_slot(&ts, keys[i]);
		if (get_string(ld, &at, &t->value[i]) != GOT || at.by_default)
			continue;
		t->where[i] = (struct config_tls_where){.file = strdup(ld->sources[at.src].path),
		                                        .line = at.node->line,
		                                        .col = at.node->col};
	}
	config_tls_check(t, ld->sources[0].path, section.key ? section.key->line : 0,
	                 section.key ? section.key->col : 0, ld->diags);
}

/* llmgate.keys_file (client_keys.c), relative to the file that names it,
 * and llmgate.state_dir, where the supervisor keeps the keys' spend. */
static void load_keys_file(struct loader *ld, const struct slots *lg)
{
	struct config *c = ld->config;
	struct at at = at_slot(lg, K_llmgate_state_dir);
	char *text;
	int r;

	if (get_string(ld, &at, &c->state_dir) == GOT && c->state_dir[0] != '/')
		report(ld, DIAG_ERROR, 0, at.node, "%s must be an absolute path", at.path);
	at = at_slot(lg, K_llmgate_keys_file);
	if (get_text(ld, &at, "a path", &text) != GOT)
		return;
	if (!text[0]) {
		report(ld, DIAG_ERROR, 0, at.node, "%s is empty", at.path);
		free(text);
		return;
	}
	if (text[0] != '/') {
		const char *base = ld->sources[at.src].path;
		const char *slash = strrchr(base, '/');
		char *joined = NULL;

		if (slash && asprintf(&joined, "%.*s/%s", (int)(slash - base), base, text) < 0)
			joined = NULL;
		if (slash) {
			free(text);
			text = joined;
			if (!text) {
				ld->oom = true;
				return;
			}
		}
	}
	take(&c->keys_file, text);
	r = client_keys_load(c, c->keys_file, ld->diags);
	if (r == -ENOMEM)
		ld->oom = true;
}

static void load_llmgate(struct loader *ld)
{
	struct config *c = ld->config;
	const struct slots *top = &ld->top;
	char buf[SHOWN_MAX + 8], *text;
	double mb;
	struct slots lg;
	struct at at;

	if (!scan(ld, 0, top->value[K_top_llmgate - top->first], SECTION_llmgate, "llmgate",
	          "in llmgate", &lg, NULL))
		return;

	at = at_slot(&lg, K_llmgate_listen);
	get_address(ld, &at, &c->listen);
	at = at_slot(&lg, K_llmgate_admin_listen);
	get_address(ld, &at, &c->admin_listen);

	at = at_slot(&lg, K_llmgate_workers);
	if (get_text(ld, &at, "a number of processes", &text) == GOT) {
		long v;

		if (strcmp(text, "auto") == 0)
			c->workers = 0;
		else if (parse_long(text, &v) && v >= 0 && v <= CONFIG_MAX_WORKERS)
			c->workers = v;
		else
			report(ld, DIAG_ERROR, 0, at.node,
			       "%s must be a number of processes from 0 to %d (0 or auto: one per "
			       "CPU), not '%s'",
			       at.path, CONFIG_MAX_WORKERS,
			       shown_value(at.node, text, buf, sizeof(buf)));
		free(text);
	}

	at = at_slot(&lg, K_llmgate_cpu_scheduling_policy);
	if (get_text(ld, &at, "batch or inherit", &text) == GOT) {
		if (strcmp(text, "batch") == 0)
			c->sched_batch = true;
		else if (strcmp(text, "inherit") != 0)
			report(ld, DIAG_ERROR, 0, at.node, "%s must be batch or inherit, not '%s'",
			       at.path, shown_value(at.node, text, buf, sizeof(buf)));
		free(text);
	}

	at = at_slot(&lg, K_llmgate_control_socket);
	if (get_text(ld, &at, "a path", &text) == GOT) {
		/* sockaddr_un.sun_path holds 108 bytes with the NUL. */
		if (!text[0] || strlen(text) > 107) {
			report(ld, DIAG_ERROR, 0, at.node,
			       "%s must be a socket path of 1 to 107 bytes", at.path);
			free(text);
		} else {
			take(&c->control_socket, text);
		}
	}

	at = at_slot(&lg, K_llmgate_user);
	if (get_string(ld, &at, &c->user) == GOT && !c->user[0])
		report(ld, DIAG_ERROR, 0, at.node, "%s is empty", at.path);

	at = at_slot(&lg, K_llmgate_drain_timeout);
	get_duration(ld, &at, true, &c->drain_timeout_ms);

	at = at_slot(&lg, K_llmgate_core_dumps);
	get_bool(ld, &at, &c->core_dumps);

	at = at_slot(&lg, K_llmgate_header_timeout);
	get_duration(ld, &at, false, &c->header_timeout_ms);

	at = at_slot(&lg, K_llmgate_body_timeout);
	get_duration(ld, &at, false, &c->body_timeout_ms);

	at = at_slot(&lg, K_llmgate_idle_timeout);
	get_duration(ld, &at, false, &c->idle_timeout_ms);

	at = at_slot(&lg, K_llmgate_access_log);
	if (get_text(ld, &at, "off, stderr or a path", &text) == GOT) {
		bool on;

		if (!text[0] || (parse_yaml_bool(text, &on) && !on))
			take(&text, NULL);
		take(&c->access_log, text);
	}

	at = at_slot(&lg, K_llmgate_ca_file);
	if (get_string(ld, &at, &c->ca_file) == GOT && c->ca_file[0] != '/')
		report(ld, DIAG_ERROR, 0, at.node, "%s must be an absolute path", at.path);

	at = at_slot(&lg, K_llmgate_upstream_http2);
	get_bool(ld, &at, &c->upstream_http2);

	at = at_slot(&lg, K_llmgate_response_affinity_entries);
	get_long(ld, &at, 0, RESPONSE_AFFINITY_MAX_ENTRIES, &c->response_affinity_entries);
	at = at_slot(&lg, K_llmgate_strict);
	get_bool(ld, &at, &c->strict);
	at = at_slot(&lg, K_llmgate_usage);
	get_bool(ld, &at, &c->usage);
	at = at_slot(&lg, K_llmgate_stream_usage);
	if (get_text(ld, &at, "off or inject", &text) == GOT) {
		bool on;

		if (strcmp(text, "inject") == 0)
			c->stream_usage_inject = true;
		else if (!(parse_yaml_bool(text, &on) && !on))
			report(ld, DIAG_ERROR, 0, at.node, "%s must be off or inject, not '%s'",
			       at.path, shown_value(at.node, text, buf, sizeof(buf)));
		free(text);
	}
	at = at_slot(&lg, K_llmgate_max_upload_size_mb);
	if (get_double(ld, &at, 0, CONFIG_MAX_REQUEST_MB, &mb) == GOT)
		c->max_upload_size = mb * MIB < 1024 ? 1024 : (size_t)(mb * MIB);
	at = at_slot(&lg, K_llmgate_moderation_model);
	if (get_string(ld, &at, &c->moderation_model) == GOT && !c->moderation_model[0])
		take(&c->moderation_model, NULL);
	else if (c->moderation_model && !config_find_group(c, c->moderation_model))
		report(ld, DIAG_ERROR, 0, at.node, "%s names no model_name of model_list ('%s')",
		       at.path, c->moderation_model);
	load_keys_file(ld, &lg);

	load_fallback_policy(ld, &lg);
	load_passthrough(ld, &lg);
	load_otel(ld, &lg);
	load_tls(ld, &lg);
}

/* ---- the whole load ---------------------------------------------------- */

static void loader_free(struct loader *ld)
{
	for (size_t i = 0; i < ld->n_sources; i++) {
		free(ld->sources[i].path);
		config_yaml_free(ld->sources[i].root);
	}
	free(ld->sources);
	free(ld->entries);
	for (size_t i = 0; ld->config && i < ld->config->n_deployments; i++)
		free_entra_keys(&ld->sites[i]);
	free(ld->sites);
	strmap_free(&ld->groups);
	free_rules(ld);
	config_ref_free(&ld->refs);
}

int config_load(const char *path, struct config **ret_config, struct diag_list *diags)
{
	struct loader ld = {.diags = diags, .suggest_budget = SUGGEST_BUDGET};
	size_t errors_before = diag_count(diags, DIAG_ERROR);
	long src;
	int r = 0;

	*ret_config = NULL;
	if (!path)
		return -EINVAL;
	ld.refs.diags = diags;
	/* Every other field starts zero: its default comes from the key table
	 * when its section is loaded. */
	ld.config = calloc(1, sizeof(*ld.config));
	if (ld.config)
		ld.config->path = strdup(path);
	if (!ld.config || !ld.config->path) {
		config_free(ld.config);
		diag_add(diags, DIAG_ERROR, path, 0, 0, "out of memory loading the config");
		return -ENOMEM;
	}

	src = add_source(&ld, path, SIZE_MAX, NULL);
	if (src < 0) {
		/* An I/O problem keeps its errno; a syntax error is a config error. */
		r = src == -ENOMEM || ld.n_sources == 0 ? (int)src : -EINVAL;
		goto out;
	}
	ld.loading[ld.n_loading++] = 0;
	if (ld.sources[0].root && ld.sources[0].root->kind != CONFIG_YAML_MAPPING) {
		report(&ld, DIAG_ERROR, 0, ld.sources[0].root,
		       "the config must be a mapping of sections (model_list, litellm_settings, "
		       "...), not %s",
		       config_yaml_kind_name(ld.sources[0].root->kind));
		r = -EINVAL;
		goto out;
	}
	/* The main file's top level is scanned once, before anything else, so
	 * environment_variables are exported before any reference is read. */
	scan(&ld, 0, ld.sources[0].root, SECTION_top, "", "at the top level", &ld.top, NULL);
	read_strict_early(&ld);
	lint_null_sections(&ld);
	export_environment(&ld, &ld.top);
	add_entries(&ld, 0, ld.top.value[K_top_model_list - ld.top.first]);
	load_includes(&ld, 0, &ld.top);
	ld.n_loading--;

	for (size_t i = 0; i < ld.n_entries && !ld.oom; i++)
		load_entry(&ld, &ld.entries[i]);
	/* Entries that failed have their own errors; this is for a config
	 * without any. */
	if (ld.n_entries == 0 && !ld.oom) {
		const struct config_yaml_node *key = ld.top.key[K_top_model_list - ld.top.first];

		report(&ld, DIAG_ERROR, 0, key,
		       "no models: model_list is %s, so llmgate has nothing to route to",
		       key ? "empty" : "missing");
	}
	if (!ld.oom)
		build_groups(&ld);
	if (!ld.oom)
		load_settings(&ld);
	if (!ld.oom)
		resolve_credentials(&ld);
	if (!ld.oom)
		load_general(&ld);
	if (!ld.oom)
		load_llmgate(&ld);
	config_ref_report(&ld.refs);

	if (ld.oom || ld.refs.oom) {
		diag_add(diags, DIAG_ERROR, path, 0, 0, "out of memory loading the config");
		r = -ENOMEM;
	} else if (diag_count(diags, DIAG_ERROR) > errors_before) {
		r = -EINVAL;
	}
out:
	loader_free(&ld);
	if (r == 0 && diag_count(diags, DIAG_ERROR) > errors_before)
		r = -EINVAL;
	if (r < 0) {
		config_free(ld.config);
		return r;
	}
	*ret_config = ld.config;
	return 0;
}

void config_free(struct config *config)
{
	if (!config)
		return;
	config_otel_clear(&config->otel);
	for (size_t i = 0; i < config->n_deployments; i++)
		free_deployment(&config->deployments[i]);
	free(config->deployments);
	for (size_t i = 0; i < config->n_groups; i++) {
		free(config->groups[i].name);
		free(config->groups[i].deployments);
		for (size_t j = 0; j < config->groups[i].n_fallbacks; j++)
			free(config->groups[i].fallbacks[j]);
		free(config->groups[i].fallbacks);
		for (int k = 0; k < ERROR_FALLBACK__COUNT; k++) {
			for (size_t j = 0; j < config->groups[i].n_error_fallbacks[k]; j++)
				free(config->groups[i].error_fallbacks[k][j]);
			free(config->groups[i].error_fallbacks[k]);
		}
	}
	free(config->groups);
	for (size_t i = 0; i < config->n_aliases; i++)
		free(config->aliases[i].name);
	free(config->aliases);
	for (size_t i = 0; i < config->n_credentials; i++)
		entra_credential_clear(&config->credentials[i]);
	free(config->credentials);
	free(config->path);
	free(config->master_key);
	config_passthrough_free(config);
	free(config->listen);
	free(config->control_socket);
	free(config->admin_listen);
	free(config->user);
	free(config->access_log);
	free(config->ca_file);
	free(config->moderation_model);
	config_tls_free(&config->tls);
	free(config->keys_file);
	free(config->state_dir);
	client_keys_free(config->client_keys);
	free(config);
}

const struct group *config_find_group(const struct config *config, const char *name)
{
	if (!config || !name)
		return NULL;
	for (size_t i = 0; i < config->n_groups; i++)
		if (strcmp(config->groups[i].name, name) == 0)
			return &config->groups[i];
	for (size_t i = 0; i < config->n_aliases; i++)
		if (strcmp(config->aliases[i].name, name) == 0)
			return &config->groups[config->aliases[i].group];
	return NULL;
}
