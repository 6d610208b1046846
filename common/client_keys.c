/*
 * client_keys: the keys file (llmgate.keys_file) into struct client_keys
 * (see client_keys.h), the lookup of a presented key by its SHA-256, and
 * the pure budget-period arithmetic. Runs in the config loader (supervisor,
 * --check, the fuzz target) and, for client_keys_find(), in workers on the
 * request path. Never logs; every problem goes to the caller's diag list
 * with its line and column, and never quotes a key.
 */
#include "client_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "config_yaml.h"
#include "hex.h"

#define KEYS_FILE_MAX (16 * 1024 * 1024)

struct parse {
	const struct config *config;
	const char *file;
	struct diag_list *diags;
	bool bad;
};

__attribute__((format(printf, 3, 4))) static void err(struct parse *p,
                                                      const struct config_yaml_node *n,
                                                      const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(p->diags, DIAG_ERROR, p->file, n ? n->line : 0, n ? n->col : 0, "%s", msg);
	p->bad = true;
}

static bool scalar(struct parse *p, const struct config_yaml_node *n, const char *what,
                   const char *key)
{
	if (n->kind == CONFIG_YAML_SCALAR)
		return true;
	err(p, n, "keys[].%s must be %s, not %s", key, what, config_yaml_kind_name(n->kind));
	return false;
}

static bool id_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CLIENT_KEY_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

static bool get_count(struct parse *p, const struct config_yaml_node *n, const char *key, long *ret)
{
	char *end;
	long v;

	if (!scalar(p, n, "a whole number", key))
		return false;
	errno = 0;
	v = strtol(n->value, &end, 10);
	if (errno || end == n->value || *end || v < 0 || v > 1000000000L) {
		err(p, n, "keys[].%s must be a whole number from 0 to 1000000000", key);
		return false;
	}
	*ret = v;
	return true;
}

/* "2027-06-30T00:00:00Z", "2027-06-30T00:00:00+02:00" or "2027-06-30". */
static int parse_time(const char *s, int64_t *ret)
{
	struct tm tm = {0};
	const char *end;
	long off = 0;

	end = strptime(s, "%Y-%m-%d", &tm);
	if (!end)
		return -EINVAL;
	if (*end == 'T' || *end == ' ') {
		end = strptime(end + 1, "%H:%M:%S", &tm);
		if (!end)
			return -EINVAL;
		if (*end == '.')
			for (end++; *end >= '0' && *end <= '9'; end++)
				;
		if (*end == 'Z' || *end == 'z') {
			end++;
		} else if ((*end == '+' || *end == '-') && strlen(end) == 6 && end[3] == ':' &&
		           strspn(end + 1, "0123456789") == 2 &&
		           strspn(end + 4, "0123456789") == 2) {
			int h = (end[1] - '0') * 10 + (end[2] - '0');
			int m = (end[4] - '0') * 10 + (end[5] - '0');

			if (h > 23 || m > 59)
				return -EINVAL;
			off = (h * 60L + m) * 60L * (*end == '-' ? -1 : 1);
			end += 6;
		} else {
			return -EINVAL;
		}
	}
	if (*end)
		return -EINVAL;
	*ret = (int64_t)timegm(&tm) - off;
	return 0;
}

static void key_models(struct parse *p, const struct config_yaml_node *n, struct client_key *k)
{
	if (n->kind != CONFIG_YAML_SEQUENCE) {
		err(p, n, "keys[].models must be a list of model names, not %s",
		    config_yaml_kind_name(n->kind));
		return;
	}
	if (n->n_items > CLIENT_KEY_MODELS) {
		err(p, n, "keys[].models has %zu entries; at most %d", n->n_items,
		    CLIENT_KEY_MODELS);
		return;
	}
	if (n->n_items == 0)
		return; /* [] is every model, as in LiteLLM */
	k->groups = calloc(n->n_items, sizeof(*k->groups));
	if (!k->groups) {
		err(p, n, "out of memory");
		return;
	}
	for (size_t i = 0; i < n->n_items; i++) {
		const struct config_yaml_node *m = n->items[i];
		const struct group *g;

		if (!scalar(p, m, "a model name", "models[]"))
			continue;
		g = config_find_group(p->config, m->value);
		if (!g) {
			err(p, m,
			    "keys[].models: '%s' is neither a model_name nor an alias of the "
			    "config",
			    m->value);
			continue;
		}
		k->groups[k->n_groups++] = (size_t)(g - p->config->groups);
	}
}

static void key_field(struct parse *p, const struct config_yaml_pair *pair, struct client_key *k,
                      bool *seen_hash, bool *seen_id)
{
	const char *name = pair->key->value;
	const struct config_yaml_node *v = pair->value;
	double budget;
	char *end;

	if (strcmp(name, "models") == 0) {
		if (!config_yaml_is_null(v))
			key_models(p, v, k);
		return;
	}
	if (config_yaml_is_null(v))
		return;
	if (strcmp(name, "id") == 0) {
		*seen_id = true;
		if (scalar(p, v, "a string", name)) {
			if (!id_valid(v->value))
				err(p, v,
				    "keys[].id must be 1 to %d letters, digits, '-', '_' or '.'",
				    CLIENT_KEY_ID_MAX);
			else if (!(k->id = strdup(v->value)))
				err(p, v, "out of memory");
		}
	} else if (strcmp(name, "key_sha256") == 0) {
		*seen_hash = true;
		if (!scalar(p, v, "64 hex digits", name))
			return;
		if (v->len != 64) {
			err(p, v,
			    "keys[].key_sha256 must be 64 hex digits (the SHA-256 of the key; "
			    "llmgatectl key create prints it)");
			return;
		}
		for (size_t i = 0; i < 32; i++) {
			int hi = hex_digit_value(v->value[2 * i]),
			    lo = hex_digit_value(v->value[2 * i + 1]);

			if (hi < 0 || lo < 0) {
				err(p, v, "keys[].key_sha256 must be 64 hex digits");
				return;
			}
			k->sha256[i] = (unsigned char)(hi << 4 | lo);
		}
	} else if (strcmp(name, "alias") == 0) {
		if (scalar(p, v, "a string", name) && !(k->alias = strdup(v->value)))
			err(p, v, "out of memory");
	} else if (strcmp(name, "rpm") == 0) {
		get_count(p, v, name, &k->rpm);
	} else if (strcmp(name, "tpm") == 0) {
		get_count(p, v, name, &k->tpm);
	} else if (strcmp(name, "max_parallel_requests") == 0) {
		get_count(p, v, name, &k->max_parallel);
	} else if (strcmp(name, "max_budget") == 0) {
		if (!scalar(p, v, "a number", name))
			return;
		errno = 0;
		budget = strtod(v->value, &end);
		if (errno || end == v->value || *end || !isfinite(budget) || budget < 0 ||
		    budget > CLIENT_KEY_MAX_SPEND) {
			err(p, v, "keys[].max_budget must be a number from 0 to %.0f",
			    CLIENT_KEY_MAX_SPEND);
			return;
		}
		k->max_budget_nano = (int64_t)(budget * CLIENT_KEY_NANO + 0.5);
	} else if (strcmp(name, "budget_duration") == 0) {
		if (scalar(p, v, "a duration", name) &&
		    budget_period_parse(v->value, &k->period) < 0)
			err(p, v,
			    "keys[].budget_duration must be a number and a unit: s, m, h, d, w or mo "
			    "(30d, 7d, 1mo)");
	} else if (strcmp(name, "expires") == 0) {
		if (scalar(p, v, "a time", name) && parse_time(v->value, &k->expires) < 0)
			err(p, v,
			    "keys[].expires must be a UTC time like 2027-06-30T00:00:00Z or a date");
	} else if (strcmp(name, "disabled") == 0) {
		if (!scalar(p, v, "true or false", name))
			return;
		if (strcmp(v->value, "true") == 0)
			k->disabled = true;
		else if (strcmp(v->value, "false") == 0)
			k->disabled = false;
		else
			err(p, v, "keys[].disabled must be true or false");
	} else {
		err(p, pair->key,
		    "unknown key '%s' in a keys entry (id, key_sha256, alias, models, rpm, tpm, "
		    "max_parallel_requests, max_budget, budget_duration, expires, disabled)",
		    name);
	}
}

static void load_key(struct parse *p, const struct config_yaml_node *n, struct client_key *k)
{
	bool seen_hash = false, seen_id = false;

	k->max_budget_nano = -1;
	k->slot = CLIENT_KEY_NO_SLOT;
	if (n->kind != CONFIG_YAML_MAPPING) {
		err(p, n, "each entry of keys must be a mapping (id, key_sha256, ...), not %s",
		    config_yaml_kind_name(n->kind));
		return;
	}
	/* a field given twice is refused, neither value read: a key's id, models
	 * or limits must not change silently (config_yaml.h) */
	struct config_yaml_key f;
	for (size_t pos = 0; config_yaml_next_key(n, CONFIG_YAML_REFUSED, &pos, &f);) {
		if (f.again) {
			const char *name = f.again->key->value;

			err(p, f.again->key, "keys[].%s is given twice (first at %d:%d)", name,
			    f.first->key->line, f.first->key->col);
			/* said once: not also "has no id" */
			seen_id |= strcmp(name, "id") == 0;
			seen_hash |= strcmp(name, "key_sha256") == 0;
		}
		if (f.pair)
			key_field(p, f.pair, k, &seen_hash, &seen_id);
	}
	if (!seen_id)
		err(p, n, "a keys entry has no id");
	if (!seen_hash)
		err(p, n, "keys entry%s%s%s has no key_sha256", k->id ? " '" : "",
		    k->id ? k->id : "", k->id ? "'" : "");
	if (k->period.unit != BUDGET_NONE && k->max_budget_nano < 0)
		err(p, n, "keys entry '%s' has a budget_duration but no max_budget",
		    k->id ? k->id : "?");
	/* at most 1000000000 (get_count): 10 digits */
	k->rpm_text_len = (unsigned char)snprintf(k->rpm_text, sizeof(k->rpm_text), "%ld", k->rpm);
	k->tpm_text_len = (unsigned char)snprintf(k->tpm_text, sizeof(k->tpm_text), "%ld", k->tpm);
}

static struct client_keys *sorted_keys;

static int by_digest(const void *a, const void *b)
{
	return memcmp(sorted_keys->keys[*(const size_t *)a].sha256,
	              sorted_keys->keys[*(const size_t *)b].sha256, 32);
}

static void check_unique(struct parse *p, struct client_keys *keys,
                         const struct config_yaml_node *root)
{
	for (size_t i = 0; i < keys->n; i++)
		keys->by_hash[i] = i;
	sorted_keys = keys;
	qsort(keys->by_hash, keys->n, sizeof(*keys->by_hash), by_digest);
	sorted_keys = NULL;
	for (size_t i = 1; i < keys->n; i++)
		if (memcmp(keys->keys[keys->by_hash[i]].sha256,
		           keys->keys[keys->by_hash[i - 1]].sha256, 32) == 0)
			err(p, root, "keys '%s' and '%s' have the same key_sha256",
			    keys->keys[keys->by_hash[i - 1]].id, keys->keys[keys->by_hash[i]].id);
	for (size_t i = 0; i < keys->n; i++)
		for (size_t j = i + 1; j < keys->n; j++)
			if (strcmp(keys->keys[i].id, keys->keys[j].id) == 0) {
				err(p, root, "two keys have the id '%s'", keys->keys[i].id);
				break;
			}
}

int client_keys_parse(const struct config *config, const char *file, const char *data, size_t len,
                      struct client_keys **ret, struct diag_list *diags)
{
	struct parse p = {.config = config, .file = file, .diags = diags};
	struct config_yaml_node *root = NULL;
	const struct config_yaml_node *list = NULL;
	struct client_keys *keys;
	int r;

	*ret = NULL;
	r = config_yaml_parse(file, data, len, &root, diags);
	if (r < 0)
		return r;
	if (!root || root->kind != CONFIG_YAML_MAPPING) {
		diag_add(diags, DIAG_ERROR, file, root ? root->line : 0, root ? root->col : 0,
		         "a keys file must be a mapping with 'keys:', a list of keys");
		config_yaml_free(root);
		return -EINVAL;
	}
	struct config_yaml_key k;
	for (size_t pos = 0; config_yaml_next_key(root, CONFIG_YAML_REFUSED, &pos, &k);) {
		if (k.again)
			err(&p, k.again->key,
			    "'%s' is given twice in the keys file (first at %d:%d)",
			    k.again->key->value, k.first->key->line, k.first->key->col);
		if (!k.pair)
			continue;
		if (strcmp(k.pair->key->value, "keys") == 0)
			list = k.pair->value;
		else
			err(&p, k.pair->key, "unknown key '%s' in a keys file (only 'keys')",
			    k.pair->key->value);
	}
	keys = calloc(1, sizeof(*keys));
	if (!keys) {
		config_yaml_free(root);
		return -ENOMEM;
	}
	if (list && !config_yaml_is_null(list)) {
		if (list->kind != CONFIG_YAML_SEQUENCE) {
			err(&p, list, "keys must be a list, not %s",
			    config_yaml_kind_name(list->kind));
		} else if (list->n_items > CLIENT_KEYS_MAX) {
			err(&p, list, "%zu keys; at most %d", list->n_items, CLIENT_KEYS_MAX);
		} else {
			keys->keys = calloc(list->n_items + 1, sizeof(*keys->keys));
			keys->by_hash = calloc(list->n_items + 1, sizeof(*keys->by_hash));
			if (!keys->keys || !keys->by_hash) {
				err(&p, list, "out of memory");
			} else {
				for (size_t i = 0; i < list->n_items; i++) {
					load_key(&p, list->items[i], &keys->keys[i]);
					keys->n = i + 1;
				}
				if (!p.bad)
					check_unique(&p, keys, list);
			}
		}
	}
	config_yaml_free(root);
	if (p.bad) {
		client_keys_free(keys);
		return -EINVAL;
	}
	*ret = keys;
	return 0;
}

int client_keys_load(struct config *config, const char *path, struct diag_list *diags)
{
	/* O_NONBLOCK: a FIFO named as the keys file must not hang the loader */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	FILE *f = NULL;
	char *data = NULL;
	size_t len = 0, cap = 0;
	struct stat st;
	int r;

	if (fd < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		diag_add(diags, DIAG_ERROR, path, 0, 0, "cannot read the keys file: %s",
		         strerror(-r));
		if (fd >= 0)
			close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		diag_add(diags, DIAG_ERROR, path, 0, 0, "the keys file is not a regular file");
		close(fd);
		return -EINVAL;
	}
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		diag_add(diags, DIAG_ERROR, path, 0, 0, "out of memory reading the keys file");
		return -ENOMEM;
	}
	for (;;) {
		size_t n;

		if (len + 4096 > cap) {
			char *grown =
			        cap + 65536 > KEYS_FILE_MAX ? NULL : realloc(data, cap + 65536);

			if (!grown) {
				diag_add(diags, DIAG_ERROR, path, 0, 0,
				         "the keys file is over %d bytes or memory is short",
				         KEYS_FILE_MAX);
				free(data);
				fclose(f);
				return -EINVAL;
			}
			data = grown;
			cap += 65536;
		}
		n = fread(data + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	r = ferror(f) ? -EIO : 0;
	fclose(f);
	if (r == 0)
		r = client_keys_parse(config, path, data ? data : "", len, &config->client_keys,
		                      diags);
	else
		diag_add(diags, DIAG_ERROR, path, 0, 0, "cannot read the keys file");
	free(data);
	return r;
}

void client_keys_free(struct client_keys *keys)
{
	if (!keys)
		return;
	for (size_t i = 0; i < keys->n; i++) {
		free(keys->keys[i].id);
		free(keys->keys[i].alias);
		free(keys->keys[i].groups);
	}
	free(keys->keys);
	free(keys->by_hash);
	free(keys);
}

/* SHA-256 of DATA with a digest fetched and a context made once per
 * process: OpenSSL 3's one-shot SHA256() fetches the algorithm on every
 * call, which costs more than the hash of a key. */
static void sha256(const void *data, size_t len, unsigned char digest[32])
{
	static EVP_MD *md;
	static EVP_MD_CTX *ctx;
	unsigned int n = 32;

	if (!md)
		md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!ctx)
		ctx = EVP_MD_CTX_new();
	if (!md || !ctx || !EVP_DigestInit_ex2(ctx, md, NULL) ||
	    !EVP_DigestUpdate(ctx, data, len) || !EVP_DigestFinal_ex(ctx, digest, &n))
		SHA256(data, len, digest);
}

const struct client_key *client_keys_find(const struct client_keys *keys, const char *key,
                                          size_t len)
{
	unsigned char digest[32];
	size_t lo = 0, hi;

	if (!keys || keys->n == 0)
		return NULL;
	sha256(key, len, digest);
	hi = keys->n;
	/* The search order reveals only the digest's position among the
	 * digests; the match itself is compared in constant time. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(keys->keys[keys->by_hash[mid]].sha256, digest, 32) <= 0)
			lo = mid;
		else
			hi = mid;
	}
	if (CRYPTO_memcmp(keys->keys[keys->by_hash[lo]].sha256, digest, 32) == 0)
		return &keys->keys[keys->by_hash[lo]];
	return NULL;
}

bool client_key_allows(const struct client_key *k, size_t group)
{
	if (!k->groups)
		return true;
	for (size_t i = 0; i < k->n_groups; i++)
		if (k->groups[i] == group)
			return true;
	return false;
}

void client_key_sha256_hex(const char *data, size_t len, char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char digest[32];

	sha256(data, len, digest);
	for (size_t i = 0; i < 32; i++) {
		hex[2 * i] = digits[digest[i] >> 4];
		hex[2 * i + 1] = digits[digest[i] & 15];
	}
	hex[64] = '\0';
}

/* ---- budget periods (pure) ---------------------------------------------- */

int budget_period_parse(const char *text, struct budget_period *ret)
{
	static const struct {
		const char *unit;
		long seconds; /* 0: months */
	} units[] = {{"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}, {"w", 7 * 86400}, {"mo", 0}};
	char *end;
	long n;

	errno = 0;
	n = strtol(text, &end, 10);
	if (errno || end == text || n <= 0 || n > 100000)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) != 0)
			continue;
		if (units[i].seconds == 0) {
			if (n > 1200)
				return -EINVAL;
			*ret = (struct budget_period){BUDGET_MONTHS, n};
		} else {
			if (n > 3650L * 86400 / units[i].seconds)
				return -EINVAL;
			*ret = (struct budget_period){BUDGET_SECONDS, n * units[i].seconds};
		}
		return 0;
	}
	return -EINVAL;
}

static int64_t add_months(int64_t t, long months)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	tm.tm_mon += (int)months; /* timegm normalises; the 31st may roll into the next month */
	return (int64_t)timegm(&tm);
}

int64_t budget_period_end(const struct budget_period *p, int64_t start)
{
	switch (p->unit) {
	case BUDGET_SECONDS:
		return start + p->n;
	case BUDGET_MONTHS:
		return add_months(start, p->n);
	default:
		return INT64_MAX;
	}
}

int64_t budget_period_roll(const struct budget_period *p, int64_t start, int64_t now)
{
	if (now < start)
		return start;
	switch (p->unit) {
	case BUDGET_SECONDS:
		return start + (now - start) / p->n * p->n;
	case BUDGET_MONTHS: {
		/* Months differ in length: step, from a first guess that is never
		 * past NOW (a month has at least 28 days). */
		long skip = (long)((now - start) / (31L * 86400)) / p->n * p->n;
		int64_t s = skip ? add_months(start, skip) : start;

		for (int64_t next; (next = add_months(s, p->n)) <= now;)
			s = next;
		return s;
	}
	default:
		return start;
	}
}

int64_t budget_period_first(const struct budget_period *p, int64_t now)
{
	time_t tt = (time_t)now;
	struct tm tm;

	switch (p->unit) {
	case BUDGET_SECONDS:
		return now - now % p->n;
	case BUDGET_MONTHS:
		gmtime_r(&tt, &tm);
		tm.tm_mday = 1;
		tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		return (int64_t)timegm(&tm);
	default:
		return now;
	}
}
