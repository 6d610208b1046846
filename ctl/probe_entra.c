/*
 * probe_entra: one blocking token fetch per credential for `llmgatectl
 * probe` (see probe_entra.h). Runs in llmgatectl. As the gateway does: TLS
 * verified, no proxy from the environment, the federated token file read
 * for the fetch; the answer parsed and Entra's error decoded by entra.c.
 */
#include "probe_entra.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ANSWER_MAX (64 * 1024)

struct answer {
	char *buf;
	size_t len;
	bool too_long;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct answer *a = arg;
	size_t len = size * n;
	char *p;

	if (a->too_long || a->len + len > ANSWER_MAX) {
		a->too_long = true;
		return len;
	}
	p = realloc(a->buf, a->len + len + 1);
	if (!p) {
		a->too_long = true;
		return len;
	}
	a->buf = p;
	memcpy(a->buf + a->len, data, len);
	a->len += len;
	a->buf[a->len] = '\0';
	return len;
}

int probe_entra_fetch(const struct entra_credential *cred, long timeout_ms, char **ret_token,
                      char *err, size_t errlen)
{
	static struct entra_request req;
	static struct entra_token token;
	static char assertion[ENTRA_ASSERTION_MAX + 1];
	struct answer a = {0};
	struct curl_slist *headers = NULL;
	char line[ENTRA_URL_MAX], curl_err[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode code;
	CURL *e;
	int r;

	*ret_token = NULL;
	if (cred->source == ENTRA_WORKLOAD_IDENTITY) {
		r = entra_read_assertion(cred->token_file, assertion, sizeof(assertion));
		if (r < 0) {
			snprintf(err, errlen, "federated token file '%s' %s: %s", cred->token_file,
			         r == -ENOENT    ? "is missing"
			         : r == -ENODATA ? "is empty"
			                         : "unreadable",
			         strerror(-r));
			return r;
		}
	}
	r = entra_request_build(cred, assertion, &req);
	explicit_bzero(assertion, sizeof(assertion));
	if (r < 0) {
		snprintf(err, errlen, "cannot build the token request: %s", strerror(-r));
		return r;
	}
	e = curl_easy_init();
	headers = curl_slist_append(headers, "Accept: application/json");
	if (req.header_name) {
		snprintf(line, sizeof(line), "%s: %s", req.header_name, req.header_value);
		headers = curl_slist_append(headers, line);
		explicit_bzero(line, sizeof(line));
	}
	if (!e || !headers) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	curl_easy_setopt(e, CURLOPT_URL, req.url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
	if (req.get) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, req.body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)req.body_len);
	}
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	code = curl_easy_perform(e);
	if (code != CURLE_OK) {
		snprintf(err, errlen, "token endpoint unreachable: %s",
		         curl_err[0] ? curl_err : curl_easy_strerror(code));
		r = -EHOSTUNREACH;
		goto out;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (a.too_long) {
		snprintf(err, errlen, "token endpoint answered more than 64 KB");
		r = -EPROTO;
		goto out;
	}
	r = entra_parse_response(status, a.buf, a.len, (int64_t)time(NULL), &token, err, errlen);
	if (r == 0) {
		*ret_token = strdup(token.token);
		explicit_bzero(token.token, sizeof(token.token));
		if (!*ret_token) {
			snprintf(err, errlen, "out of memory");
			r = -ENOMEM;
		}
	}
out:
	explicit_bzero(&req, sizeof(req));
	if (a.buf)
		explicit_bzero(a.buf, a.len);
	free(a.buf);
	curl_slist_free_all(headers);
	if (e)
		curl_easy_cleanup(e);
	return r;
}
