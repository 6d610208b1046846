/*
 * entra: the pure parts of Microsoft Entra ID (Azure AD) token acquisition
 * for keyless Azure OpenAI deployments: what a credential is, the HTTP
 * request that asks for a token (client credentials, client assertion from a
 * federated token file, App Service / Container Apps managed identity, the VM
 * instance metadata service), the parsing of the answer, the refresh
 * schedule, and Entra's error codes in plain words.
 *
 * Used by the token process (entra/, one per llmgated instance), by the
 * config loader (which builds credentials) and by `llmgatectl probe`. No I/O
 * but entra_read_assertion(), no clock (times are passed in), no logging.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ENTRA_DEFAULT_AUTHORITY "https://login.microsoftonline.com"
#define ENTRA_DEFAULT_SCOPE     "https://cognitiveservices.azure.com/.default"
#define ENTRA_IMDS_ENDPOINT     "http://169.254.169.254"
/* The largest access token llmgate carries (JWTs are a few KB; the IPC
 * message that hands one to the workers is sized for this). */
#define ENTRA_TOKEN_MAX 8000
/* The largest federated token file read (the kubelet's are ~1 KB). */
#define ENTRA_ASSERTION_MAX 16384
#define ENTRA_URL_MAX       2048
#define ENTRA_BODY_MAX      (ENTRA_ASSERTION_MAX + 2048)
/* Longest plain-words description of a failure. */
#define ENTRA_ERROR_MAX 320

/* X(ENUM, name as in config and status) */
#define ENTRA_SOURCES(X)                               \
	X(NONE, "none")                                \
	X(CLIENT_SECRET, "client_secret")              \
	X(WORKLOAD_IDENTITY, "workload_identity")      \
	X(APP_SERVICE, "managed_identity_app_service") \
	X(IMDS, "managed_identity_imds")

enum entra_source {
#define ENTRA_ENUM(id, name) ENTRA_##id,
	ENTRA_SOURCES(ENTRA_ENUM)
#undef ENTRA_ENUM
	        ENTRA__COUNT,
};

const char *entra_source_name(enum entra_source source);

/* One credential: what it takes to ask for a token. Strings are owned by
 * whoever built it (config_load()); NULL when unused. */
struct entra_credential {
	enum entra_source source;
	char *authority;       /* client_secret, workload_identity: no trailing slash */
	char *tenant_id;       /* client_secret, workload_identity */
	char *client_id;       /* the app, or a user-assigned managed identity (or NULL) */
	char *client_secret;   /* client_secret: a secret */
	char *token_file;      /* workload_identity: AZURE_FEDERATED_TOKEN_FILE */
	char *endpoint;        /* app_service: IDENTITY_ENDPOINT; imds: its base URL */
	char *identity_header; /* app_service: IDENTITY_HEADER, a secret */
	char *scope;           /* e.g. https://cognitiveservices.azure.com/.default */
};

/* Whether A and B ask for the same token (every field, secrets included). */
bool entra_credential_equal(const struct entra_credential *a, const struct entra_credential *b);
/* Deep copy into RET (0 or -ENOMEM); entra_credential_clear() frees it. */
int entra_credential_copy(const struct entra_credential *src, struct entra_credential *ret);
void entra_credential_clear(struct entra_credential *c);
/* A line for people: source, tenant, client id; never a secret. */
void entra_credential_describe(const struct entra_credential *c, char *buf, size_t len);

/* Whether URL is https://, or http:// to a loopback host (tests). */
bool entra_url_allowed(const char *url);

/* The HTTP request that asks for a token. */
struct entra_request {
	bool get; /* managed identity: GET; the others POST a form */
	char url[ENTRA_URL_MAX];
	const char *header_name; /* one extra header, or NULL */
	const char *header_value;
	char body[ENTRA_BODY_MAX];
	size_t body_len;
};

/*
 * Builds the request for C into RET. ASSERTION is the federated token
 * (workload_identity), else ignored. Returns 0, -EINVAL for an incomplete
 * credential, -ENAMETOOLONG when something does not fit. RET then holds
 * secrets (the client secret, the assertion): the caller wipes it.
 */
int entra_request_build(const struct entra_credential *c, const char *assertion,
                        struct entra_request *ret);

/* Reads the federated token file into BUF (trimmed). 0, a negative errno,
 * -EFBIG when larger than ENTRA_ASSERTION_MAX, -ENODATA when empty. */
int entra_read_assertion(const char *path, char *buf, size_t len);

/* A token and when to replace it (seconds of the realtime clock). */
struct entra_token {
	char token[ENTRA_TOKEN_MAX + 1];
	int64_t expires_at;
	int64_t refresh_at;
};

/*
 * Parses the answer of a token request (STATUS, BODY of LEN bytes) at NOW.
 * 200 with access_token and expires_in (or expires_on): 0 and RET_TOKEN
 * filled, refresh_at from entra_refresh_at(). Otherwise a negative errno and
 * a description in plain words in ERR (ENTRA_ERROR_MAX): -EACCES Entra
 * refused the credential, -EPROTO a malformed answer, -EFBIG a token over
 * ENTRA_TOKEN_MAX, -EAGAIN a temporary failure (429, 5xx).
 */
int entra_parse_response(long status, const char *body, size_t len, int64_t now,
                         struct entra_token *ret_token, char *err, size_t errlen);

/*
 * When to fetch the next token: at refresh_in when the answer had it, else
 * before expiry by a margin of 5 minutes, or a quarter of the lifetime for
 * tokens shorter than 20 minutes (at least a second). Never before NOW + 1.
 * Times are whole seconds of the realtime clock, as Entra gives them: the
 * caller sets its timer to the wall-clock time, not to a delay from a
 * truncated NOW.
 */
int64_t entra_refresh_at(int64_t now, int64_t expires_in, int64_t refresh_in);

/*
 * Milliseconds to wait before retry number ATTEMPT (1, 2, ...) after a
 * failed fetch: 1 s doubling up to 60 s, times a jitter factor JITTER in
 * [0, 1) mapped to 0.5..1.0, and never past EXPIRES_AT - NOW (a token still
 * valid is refreshed again before it runs out; 0 = no valid token).
 */
long entra_retry_ms(unsigned attempt, double jitter, int64_t now_ms, int64_t expires_at_ms);

/* Plain words for an Entra error code found in TEXT (AADSTS7000215 ...),
 * or NULL when it holds none llmgate knows. */
const char *entra_error_words(const char *text);
