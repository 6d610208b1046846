/*
 * entra: token requests, answers, schedule and error words (see entra.h).
 * Pure but for entra_read_assertion(); runs in the token process, the config
 * loader and `llmgatectl probe`. Never logs and never puts a secret in an
 * error text: descriptions are Entra's own (which quote no secret) or ours.
 *
 * The four request styles, as the Azure identity libraries send them:
 *   client_secret      POST {authority}/{tenant}/oauth2/v2.0/token
 *                      grant_type=client_credentials&client_id&client_secret&scope
 *   workload_identity  the same with client_assertion_type=...jwt-bearer and
 *                      client_assertion={the federated token file}
 *   app_service        GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource
 *                      [&client_id], header X-IDENTITY-HEADER
 *   imds               GET {base}/metadata/identity/oauth2/token
 *                      ?api-version=2018-02-01&resource[&client_id], Metadata: true
 * Managed identity speaks v1 "resource", the scope without "/.default".
 */
#include "entra.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *const source_names[ENTRA__COUNT] = {
#define ENTRA_NAME(id, name) [ENTRA_##id] = name,
        ENTRA_SOURCES(ENTRA_NAME)
#undef ENTRA_NAME
};

const char *entra_source_name(enum entra_source source)
{
	return (unsigned)source < ENTRA__COUNT ? source_names[source] : "unknown";
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

bool entra_credential_equal(const struct entra_credential *a, const struct entra_credential *b)
{
	return a->source == b->source && str_eq(a->authority, b->authority) &&
	       str_eq(a->tenant_id, b->tenant_id) && str_eq(a->client_id, b->client_id) &&
	       str_eq(a->client_secret, b->client_secret) && str_eq(a->token_file, b->token_file) &&
	       str_eq(a->endpoint, b->endpoint) && str_eq(a->identity_header, b->identity_header) &&
	       str_eq(a->scope, b->scope);
}

static int dup_field(const char *src, char **dst)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

int entra_credential_copy(const struct entra_credential *src, struct entra_credential *ret)
{
	int r = 0;

	*ret = (struct entra_credential){.source = src->source};
	r |= dup_field(src->authority, &ret->authority);
	r |= dup_field(src->tenant_id, &ret->tenant_id);
	r |= dup_field(src->client_id, &ret->client_id);
	r |= dup_field(src->client_secret, &ret->client_secret);
	r |= dup_field(src->token_file, &ret->token_file);
	r |= dup_field(src->endpoint, &ret->endpoint);
	r |= dup_field(src->identity_header, &ret->identity_header);
	r |= dup_field(src->scope, &ret->scope);
	if (r) {
		entra_credential_clear(ret);
		return -ENOMEM;
	}
	return 0;
}

static void free_secret(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
	free(s);
}

void entra_credential_clear(struct entra_credential *c)
{
	free(c->authority);
	free(c->tenant_id);
	free(c->client_id);
	free_secret(c->client_secret);
	free(c->token_file);
	free(c->endpoint);
	free_secret(c->identity_header);
	free(c->scope);
	*c = (struct entra_credential){0};
}

void entra_credential_describe(const struct entra_credential *c, char *buf, size_t len)
{
	switch (c->source) {
	case ENTRA_CLIENT_SECRET:
	case ENTRA_WORKLOAD_IDENTITY:
		snprintf(buf, len, "%s tenant %s client %s", entra_source_name(c->source),
		         c->tenant_id ? c->tenant_id : "?", c->client_id ? c->client_id : "?");
		break;
	case ENTRA_APP_SERVICE:
	case ENTRA_IMDS:
		snprintf(buf, len, "%s%s%s", entra_source_name(c->source),
		         c->client_id ? " client " : " (system-assigned)",
		         c->client_id ? c->client_id : "");
		break;
	default:
		snprintf(buf, len, "none");
		break;
	}
}

static bool loopback_host(const char *host, size_t n)
{
	static const char *const names[] = {"127.0.0.1", "localhost", "[::1]"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (n == strlen(names[i]) && strncasecmp(host, names[i], n) == 0)
			return true;
	return n > 4 && strncmp(host, "127.", 4) == 0 && strspn(host, "0123456789.") == n;
}

bool entra_url_allowed(const char *url)
{
	const char *host, *end;

	if (!url)
		return false;
	if (strncasecmp(url, "https://", 8) == 0)
		return url[8] != '\0';
	if (strncasecmp(url, "http://", 7) != 0)
		return false;
	host = url + 7;
	end = host[0] == '[' ? strchr(host, ']') : host + strcspn(host, ":/?#");
	if (!end)
		return false;
	if (host[0] == '[')
		end++;
	return loopback_host(host, (size_t)(end - host));
}

/* Appends S percent-encoded as application/x-www-form-urlencoded (and as a
 * query value). Returns false when it does not fit. */
static bool put_encoded(char *buf, size_t len, size_t *used, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		             (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';

		if (*used + 4 > len)
			return false;
		if (plain) {
			buf[(*used)++] = (char)c;
		} else {
			buf[(*used)++] = '%';
			buf[(*used)++] = hex[c >> 4];
			buf[(*used)++] = hex[c & 15];
		}
	}
	buf[*used] = '\0';
	return true;
}

static bool put_raw(char *buf, size_t len, size_t *used, const char *s)
{
	size_t n = strlen(s);

	if (*used + n + 1 > len)
		return false;
	memcpy(buf + *used, s, n + 1);
	*used += n;
	return true;
}

/* NAME=VALUE, with '&' before all but the first. */
static bool put_param(char *buf, size_t len, size_t *used, const char *name, const char *value)
{
	return (*used == 0 || put_raw(buf, len, used, "&")) && put_raw(buf, len, used, name) &&
	       put_raw(buf, len, used, "=") && put_encoded(buf, len, used, value);
}

/* The v1 resource of a v2 scope: "https://x/.default" -> "https://x". */
static void scope_resource(const char *scope, char *buf, size_t len)
{
	size_t n = strlen(scope);
	const char *tail = "/.default";

	if (n > strlen(tail) && strcmp(scope + n - strlen(tail), tail) == 0)
		n -= strlen(tail);
	snprintf(buf, len, "%.*s", (int)n, scope);
}

static int build_form(const struct entra_credential *c, const char *assertion,
                      struct entra_request *r)
{
	size_t used = 0;
	bool ok;
	int n;

	if (!c->authority || !c->tenant_id || !c->client_id || !c->scope)
		return -EINVAL;
	if (c->source == ENTRA_CLIENT_SECRET && !c->client_secret)
		return -EINVAL;
	if (c->source == ENTRA_WORKLOAD_IDENTITY && (!assertion || !assertion[0]))
		return -EINVAL;
	n = snprintf(r->url, sizeof(r->url), "%s/", c->authority);
	if (n < 0 || (size_t)n >= sizeof(r->url))
		return -ENAMETOOLONG;
	used = (size_t)n;
	if (!put_encoded(r->url, sizeof(r->url), &used, c->tenant_id) ||
	    !put_raw(r->url, sizeof(r->url), &used, "/oauth2/v2.0/token"))
		return -ENAMETOOLONG;

	used = 0;
	r->body[0] = '\0';
	ok = put_param(r->body, sizeof(r->body), &used, "grant_type", "client_credentials") &&
	     put_param(r->body, sizeof(r->body), &used, "client_id", c->client_id) &&
	     put_param(r->body, sizeof(r->body), &used, "scope", c->scope);
	if (ok && c->source == ENTRA_CLIENT_SECRET)
		ok = put_param(r->body, sizeof(r->body), &used, "client_secret", c->client_secret);
	else if (ok)
		ok = put_param(r->body, sizeof(r->body), &used, "client_assertion_type",
		               "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") &&
		     put_param(r->body, sizeof(r->body), &used, "client_assertion", assertion);
	if (!ok)
		return -ENAMETOOLONG;
	r->body_len = used;
	r->header_name = "Content-Type";
	r->header_value = "application/x-www-form-urlencoded";
	return 0;
}

static int build_managed(const struct entra_credential *c, struct entra_request *r)
{
	char resource[ENTRA_URL_MAX];
	size_t used;
	int n;

	if (!c->endpoint || !c->scope || (c->source == ENTRA_APP_SERVICE && !c->identity_header))
		return -EINVAL;
	scope_resource(c->scope, resource, sizeof(resource));
	if (c->source == ENTRA_APP_SERVICE)
		n = snprintf(r->url, sizeof(r->url),
		             "%s%capi-version=2019-08-01&resource=", c->endpoint,
		             strchr(c->endpoint, '?') ? '&' : '?');
	else
		n = snprintf(r->url, sizeof(r->url),
		             "%s/metadata/identity/oauth2/token?api-version=2018-02-01&resource=",
		             c->endpoint);
	if (n < 0 || (size_t)n >= sizeof(r->url))
		return -ENAMETOOLONG;
	used = (size_t)n;
	if (!put_encoded(r->url, sizeof(r->url), &used, resource))
		return -ENAMETOOLONG;
	if (c->client_id && (!put_raw(r->url, sizeof(r->url), &used, "&client_id=") ||
	                     !put_encoded(r->url, sizeof(r->url), &used, c->client_id)))
		return -ENAMETOOLONG;
	r->get = true;
	r->body[0] = '\0';
	r->body_len = 0;
	r->header_name = c->source == ENTRA_APP_SERVICE ? "X-IDENTITY-HEADER" : "Metadata";
	r->header_value = c->source == ENTRA_APP_SERVICE ? c->identity_header : "true";
	return 0;
}

int entra_request_build(const struct entra_credential *c, const char *assertion,
                        struct entra_request *ret)
{
	*ret = (struct entra_request){0};
	switch (c->source) {
	case ENTRA_CLIENT_SECRET:
	case ENTRA_WORKLOAD_IDENTITY:
		return build_form(c, assertion, ret);
	case ENTRA_APP_SERVICE:
	case ENTRA_IMDS:
		return build_managed(c, ret);
	default:
		return -EINVAL;
	}
}

int entra_read_assertion(const char *path, char *buf, size_t len)
{
	size_t used = 0;
	ssize_t n;
	int fd;

	if (len < 2)
		return -ENOBUFS;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf + used, len - 1 - used)) > 0) {
		used += (size_t)n;
		if (used == len - 1) {
			char extra;

			if (read(fd, &extra, 1) > 0) {
				close(fd);
				explicit_bzero(buf, len);
				return -EFBIG;
			}
			n = 0;
			break;
		}
	}
	if (n < 0) {
		int e = errno;

		close(fd);
		explicit_bzero(buf, len);
		return -e;
	}
	close(fd);
	while (used > 0 && strchr(" \t\r\n", buf[used - 1]))
		used--;
	buf[used] = '\0';
	return used > 0 ? 0 : -ENODATA;
}

/* A number that Entra sends as a JSON number or as a string of digits. */
static bool json_seconds(const json_t *v, int64_t *ret)
{
	char *end;
	long long n;

	if (json_is_integer(v)) {
		*ret = (int64_t)json_integer_value(v);
		return true;
	}
	if (!json_is_string(v) || !json_string_value(v)[0])
		return false;
	n = strtoll(json_string_value(v), &end, 10);
	if (*end)
		return false;
	*ret = (int64_t)n;
	return true;
}

int64_t entra_refresh_at(int64_t now, int64_t expires_in, int64_t refresh_in)
{
	int64_t at;

	if (refresh_in > 0 && refresh_in < expires_in)
		at = now + refresh_in;
	else if (expires_in >= 20 * 60)
		at = now + expires_in - 5 * 60;
	else
		at = now + expires_in - (expires_in >= 8 ? expires_in / 4 : 1);
	return at > now ? at : now + 1;
}

long entra_retry_ms(unsigned attempt, double jitter, int64_t now_ms, int64_t expires_at_ms)
{
	long delay = 1000;

	for (unsigned i = 1; i < attempt && delay < 60000; i++)
		delay *= 2;
	if (delay > 60000)
		delay = 60000;
	if (jitter < 0 || jitter >= 1)
		jitter = 0;
	delay = (long)((double)delay * (0.5 + jitter / 2));
	/* before a still-valid token runs out, try once more just ahead of it */
	if (expires_at_ms > now_ms + 200 && expires_at_ms - 200 - now_ms < delay)
		delay = (long)(expires_at_ms - 200 - now_ms);
	return delay > 100 ? delay : 100;
}

static const struct {
	const char *code;
	const char *words;
} entra_codes[] = {
        {"AADSTS7000215", "wrong client secret: client_secret is not a valid secret of this "
                          "application (AADSTS7000215)"},
        {"AADSTS7000222", "the client secret has expired: create a new one for the "
                          "application (AADSTS7000222)"},
        {"AADSTS700016", "unknown application: client_id is not registered in this tenant "
                         "(AADSTS700016)"},
        {"AADSTS90002", "unknown tenant: tenant_id names no Entra tenant (AADSTS90002)"},
        {"AADSTS900023", "invalid tenant: tenant_id is not a tenant id or domain "
                         "(AADSTS900023)"},
        {"AADSTS700024", "the federated token has expired: the token file is stale "
                         "(AADSTS700024)"},
        {"AADSTS70021", "no federated credential of the application matches the token file's "
                        "issuer and subject (AADSTS70021)"},
        {"AADSTS700211", "no federated credential of the application matches the token file's "
                         "issuer (AADSTS700211)"},
        {"AADSTS7000218", "the request has neither client_secret nor client_assertion "
                          "(AADSTS7000218)"},
        {"AADSTS500011", "unknown resource: azure_scope names no resource in this tenant "
                         "(AADSTS500011)"},
        {"AADSTS70011", "invalid scope: azure_scope is not a valid scope (AADSTS70011)"},
};

const char *entra_error_words(const char *text)
{
	if (!text)
		return NULL;
	for (size_t i = 0; i < sizeof(entra_codes) / sizeof(entra_codes[0]); i++) {
		const char *at = strstr(text, entra_codes[i].code);
		size_t n = strlen(entra_codes[i].code);

		/* AADSTS70011 must not match AADSTS700111 */
		if (at && (at[n] < '0' || at[n] > '9'))
			return entra_codes[i].words;
	}
	if (strcasestr(text, "identity not found") || strcasestr(text, "no managed identity") ||
	    strcasestr(text, "unable to load the proper managed identity"))
		return "managed identity not assigned: the VM or app has no (such) identity";
	return NULL;
}

/* The error's description: our words when we know the code, else Entra's. */
static void describe_error(long status, json_t *root, char *err, size_t errlen)
{
	const char *desc = NULL, *code = NULL, *words;
	char shown[200];

	if (json_is_object(root)) {
		json_t *d = json_object_get(root, "error_description");
		json_t *e = json_object_get(root, "error");
		json_t *m = json_object_get(root, "message");

		desc = json_is_string(d)   ? json_string_value(d)
		       : json_is_string(m) ? json_string_value(m)
		                           : NULL;
		code = json_is_string(e) ? json_string_value(e) : NULL;
	}
	words = entra_error_words(desc);
	if (words) {
		snprintf(err, errlen, "%s", words);
		return;
	}
	/* the first line of Entra's description, cut short */
	snprintf(shown, sizeof(shown), "%.*s", desc ? (int)strcspn(desc, "\r\n") : 0,
	         desc ? desc : "");
	snprintf(err, errlen, "token endpoint answered %ld%s%s%s%s", status, code ? " " : "",
	         code ? code : "", shown[0] ? ": " : "", shown);
}

int entra_parse_response(long status, const char *body, size_t len, int64_t now,
                         struct entra_token *ret_token, char *err, size_t errlen)
{
	json_t *root = json_loadb(body ? body : "", len, 0, NULL);
	int64_t expires_in = 0, expires_on = 0, refresh_in = 0;
	const char *token;
	size_t n;
	int r = 0;

	err[0] = '\0';
	if (status != 200) {
		describe_error(status, root, err, errlen);
		r = status == 429 || status >= 500 ? -EAGAIN : -EACCES;
		/* a managed identity endpoint without the identity answers 400 or 404 */
		goto out;
	}
	if (!json_is_object(root) || !json_is_string(json_object_get(root, "access_token"))) {
		snprintf(err, errlen, "token endpoint answered 200 without an access_token");
		r = -EPROTO;
		goto out;
	}
	token = json_string_value(json_object_get(root, "access_token"));
	n = strlen(token);
	if (n == 0 || n > ENTRA_TOKEN_MAX) {
		snprintf(err, errlen, "token endpoint answered a token of %zu bytes (at most %d)",
		         n, ENTRA_TOKEN_MAX);
		r = n ? -EFBIG : -EPROTO;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)token[i] <= ' ' || (unsigned char)token[i] >= 0x7f) {
			snprintf(err, errlen,
			         "token endpoint answered a token that cannot be a header");
			r = -EPROTO;
			goto out;
		}
	if (!json_seconds(json_object_get(root, "expires_in"), &expires_in) &&
	    json_seconds(json_object_get(root, "expires_on"), &expires_on))
		expires_in = expires_on - now;
	if (expires_in <= 0) {
		snprintf(err, errlen, "token endpoint answered a token without a lifetime");
		r = -EPROTO;
		goto out;
	}
	json_seconds(json_object_get(root, "refresh_in"), &refresh_in);
	memcpy(ret_token->token, token, n + 1);
	ret_token->expires_at = now + expires_in;
	ret_token->refresh_at = entra_refresh_at(now, expires_in, refresh_in);
out:
	json_decref(root);
	return r;
}
