/*
 * stub_files: /files and /batches of OpenAI (/v1/...) and Azure OpenAI (/openai/...?api-version=
 * YYYY-MM-DD[-preview], /openai/v1/...), strict where the real APIs are (see stub_files.h):
 *
 *   POST   files                multipart/form-data with exactly a `file` part (with a filename)
 *                               and a `purpose` (assistants, batch, fine-tune, vision, user_data,
 *                               evals); anything else is a 400
 *   GET    files                the list
 *   GET    files/{id}           the file object; an unknown id is a 404
 *   GET    files/{id}/content   its bytes (application/octet-stream)
 *   DELETE files/{id}
 *   POST   batches              JSON {input_file_id, endpoint, completion_window "24h"
 *                               [, metadata]}: the file must exist and have purpose batch
 *   GET    batches, batches/{id}; POST batches/{id}/cancel
 *
 * Ids count up per stub: file-stub<N>, batch_stub<N>. Synthetic files (POST /_stub/files) hold
 * no bytes: their content is one static filler block added by reference as often as needed.
 */
#include "stub_files.h"

#include "stub_body.h"
#include "stub_http.h"

#include <errno.h>
#include <event2/buffer.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define FILES_MAX   256
#define BATCHES_MAX 256
#define FILL_BLOCK  65536

struct stub_file {
	char id[32];
	char filename[128];
	char purpose[32];
	char *data; /* NULL: synthetic filler */
	long long bytes;
	long long created;
	bool deleted;
};

struct stub_batch {
	char id[32];
	json_t *object;
};

struct stub_files {
	char *name;
	char *require_key;
	struct stub_file files[FILES_MAX];
	size_t n_files;
	struct stub_batch batches[BATCHES_MAX];
	size_t n_batches;
};

enum flavor { OPENAI, AZURE, AZURE_V1 };

static char filler[FILL_BLOCK];
static const char files_json_ct[] = "application/json";

int stub_files_new(const char *name, const char *require_key, struct stub_files **ret)
{
	struct stub_files *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->name = strdup(name);
	f->require_key = require_key ? strdup(require_key) : NULL;
	if (!f->name || (require_key && !f->require_key)) {
		stub_files_free(f);
		return -ENOMEM;
	}
	for (size_t i = 0; i < sizeof(filler); i++)
		filler[i] = (char)('a' + i % 26);
	*ret = f;
	return 0;
}

void stub_files_free(struct stub_files *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_files; i++)
		free(f->files[i].data);
	for (size_t i = 0; i < f->n_batches; i++)
		json_decref(f->batches[i].object);
	free(f->name);
	free(f->require_key);
	free(f);
}

static void respond_json(struct stub_files *f, struct stub_http_conn *conn, int status,
                         json_t *value)
{
	char *text = value ? json_dumps(value, JSON_COMPACT) : NULL;
	char extra[160];

	json_decref(value);
	snprintf(extra, sizeof(extra), "x-stub-name: %s\r\n", f->name);
	if (!text) {
		stub_http_respond(conn, 500, files_json_ct, extra, "{}", 2);
		return;
	}
	stub_http_respond(conn, status, files_json_ct, extra, text, strlen(text));
	free(text);
}

static void respond_error(struct stub_files *f, struct stub_http_conn *conn, enum flavor fl,
                          int status, const char *message)
{
	struct evbuffer *buf = evbuffer_new();
	char extra[160];

	if (!buf) {
		stub_http_respond(conn, 500, files_json_ct, NULL, "{}", 2);
		return;
	}
	if (fl == AZURE && status == 404)
		stub_body_azure_error(buf, "404", message);
	else
		stub_body_openai_error(buf, message, "invalid_request_error", NULL);
	snprintf(extra, sizeof(extra), "x-stub-name: %s\r\n", f->name);
	stub_http_head(conn, status, files_json_ct, (long long)evbuffer_get_length(buf), extra);
	stub_http_write_buffer(conn, buf);
	stub_http_end(conn);
	evbuffer_free(buf);
}

/* The value of KEY in QUERY into BUF; false when absent. */
static bool query_param(const char *query, const char *key, char *buf, size_t size)
{
	size_t klen = strlen(key);

	for (const char *p = query; *p;) {
		size_t len = strcspn(p, "&");

		if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
			snprintf(buf, size, "%.*s", (int)(len - klen - 1), p + klen + 1);
			return true;
		}
		p += len;
		if (*p == '&')
			p++;
	}
	return false;
}

static bool dated_version(const char *v)
{
	static const char date[] = "0000-00-00";

	for (size_t i = 0; i < sizeof(date) - 1; i++)
		if (date[i] == '0' ? (v[i] < '0' || v[i] > '9') : v[i] != '-')
			return false;
	return v[10] == '\0' || strcmp(v + 10, "-preview") == 0;
}

static json_t *file_json(const struct stub_file *file)
{
	return json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "id", file->id, "object", "file",
	                 "bytes", (json_int_t)file->bytes, "created_at", (json_int_t)file->created,
	                 "filename", file->filename, "purpose", file->purpose, "status",
	                 "processed");
}

static struct stub_file *find_file(struct stub_files *f, const char *id, size_t len)
{
	for (size_t i = 0; i < f->n_files; i++)
		if (!f->files[i].deleted && strlen(f->files[i].id) == len &&
		    memcmp(f->files[i].id, id, len) == 0)
			return &f->files[i];
	return NULL;
}

static bool purpose_ok(const char *p)
{
	static const char *const purposes[] = {"assistants", "batch",     "fine-tune",
	                                       "vision",     "user_data", "evals"};

	for (size_t i = 0; i < sizeof(purposes) / sizeof(purposes[0]); i++)
		if (strcmp(p, purposes[i]) == 0)
			return true;
	return false;
}

static const char *memfind(const char *hay, size_t len, const char *needle, size_t n)
{
	for (const char *p = hay; len >= n && (size_t)(p - hay) <= len - n; p++) {
		p = memchr(p, needle[0], len - n - (size_t)(p - hay) + 1);
		if (!p)
			return NULL;
		if (memcmp(p, needle, n) == 0)
			return p;
	}
	return NULL;
}

/* The quoted parameter KEY="..." of a Content-Disposition line (up to LINE_END). */
static bool disposition_param(const char *line, const char *line_end, const char *key, char *buf,
                              size_t size)
{
	size_t klen = strlen(key);

	for (const char *p = line; p + klen + 2 < line_end; p++) {
		if ((p == line || p[-1] == ' ' || p[-1] == ';') && strncmp(p, key, klen) == 0 &&
		    p[klen] == '=' && p[klen + 1] == '"') {
			const char *v = p + klen + 2, *q = memchr(v, '"', (size_t)(line_end - v));

			if (!q || (size_t)(q - v) >= size)
				return false;
			memcpy(buf, v, (size_t)(q - v));
			buf[q - v] = '\0';
			return true;
		}
	}
	return false;
}

/* A strict multipart/form-data upload: its `file` part into FILE, its `purpose`. NULL or the
 * error message. */
static const char *parse_upload(const struct stub_http_request *req, struct stub_file *file,
                                const char **ret_data, size_t *ret_len)
{
	const char *ct = stub_http_header(req, "content-type");
	const char *b = ct ? strstr(ct, "boundary=") : NULL;
	char delim[128], name[64];
	const char *p, *end = req->body + req->body_len;
	bool got_purpose = false, got_file = false;
	size_t dl;

	if (!ct || strncasecmp(ct, "multipart/form-data", 19) != 0 || !b)
		return "Invalid Content-Type header (multipart/form-data with a boundary expected)";
	b += 9;
	if (*b == '"')
		b++;
	dl = strcspn(b, "\";");
	if (dl == 0 || dl > 70)
		return "Invalid multipart boundary";
	snprintf(delim, sizeof(delim), "--%.*s", (int)dl, b);
	dl += 2;
	if (req->body_len < dl + 2 || memcmp(req->body, delim, dl) != 0)
		return "Invalid multipart body: it does not start with the boundary";
	p = req->body + dl;
	for (;;) {
		const char *head, *head_end, *data, *next, *disp;
		char crlf_delim[132];

		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			break; /* the close delimiter */
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
			return "Invalid multipart body: a boundary line is not followed by CRLF";
		head = p + 2;
		head_end = memfind(head, (size_t)(end - head), "\r\n\r\n", 4);
		if (!head_end)
			return "Invalid multipart body: a part has no header end";
		data = head_end + 4;
		snprintf(crlf_delim, sizeof(crlf_delim), "\r\n%s", delim);
		next = memfind(data, (size_t)(end - data), crlf_delim, dl + 2);
		if (!next)
			return "Invalid multipart body: a part has no closing boundary (truncated?)";
		disp = memfind(head, (size_t)(head_end - head), "form-data;", 10);
		if (!disp || !disposition_param(disp, head_end, "name", name, sizeof(name)))
			return "Invalid multipart body: a part has no Content-Disposition name";
		if (strcmp(name, "purpose") == 0) {
			size_t n = (size_t)(next - data);

			if (got_purpose || n == 0 || n >= sizeof(file->purpose))
				return "'purpose' is given twice or is empty";
			memcpy(file->purpose, data, n);
			file->purpose[n] = '\0';
			got_purpose = true;
		} else if (strcmp(name, "file") == 0) {
			if (got_file)
				return "'file' is given twice";
			if (!disposition_param(disp, head_end, "filename", file->filename,
			                       sizeof(file->filename)) ||
			    !file->filename[0])
				return "The 'file' part has no filename";
			*ret_data = data;
			*ret_len = (size_t)(next - data);
			got_file = true;
		} else if (strcmp(name, "expires_after[anchor]") != 0 &&
		           strcmp(name, "expires_after[seconds]") != 0) {
			return "Unrecognized multipart field";
		}
		p = next + 2 + dl;
	}
	if (end - p < 2 || memcmp(p, "--", 2) != 0)
		return "Invalid multipart body: no close delimiter";
	if (!got_file)
		return "Missing required parameter: 'file'";
	if (!got_purpose)
		return "Missing required parameter: 'purpose'";
	if (!purpose_ok(file->purpose))
		return "Invalid value for 'purpose'";
	return NULL;
}

static struct stub_file *new_file(struct stub_files *f)
{
	struct stub_file *file;

	if (f->n_files >= FILES_MAX)
		return NULL;
	file = &f->files[f->n_files];
	memset(file, 0, sizeof(*file));
	snprintf(file->id, sizeof(file->id), "file-stub%zu", f->n_files + 1);
	file->created = (long long)time(NULL);
	return file;
}

static void upload(struct stub_files *f, struct stub_http_conn *conn, enum flavor fl,
                   const struct stub_http_request *req)
{
	struct stub_file *file = new_file(f);
	const char *data = NULL, *err;
	size_t len = 0;

	if (!file) {
		respond_error(f, conn, fl, 400, "Too many files");
		return;
	}
	if ((err = parse_upload(req, file, &data, &len))) {
		respond_error(f, conn, fl, 400, err);
		return;
	}
	file->data = malloc(len ? len : 1);
	if (!file->data) {
		respond_error(f, conn, fl, 500, "out of memory");
		return;
	}
	memcpy(file->data, data, len);
	file->bytes = (long long)len;
	f->n_files++;
	respond_json(f, conn, 200, file_json(file));
}

static void content(struct stub_files *f, struct stub_http_conn *conn, const struct stub_file *file)
{
	char extra[160];

	snprintf(extra, sizeof(extra), "x-stub-name: %s\r\n", f->name);
	if (file->data) {
		stub_http_respond(conn, 200, "application/octet-stream", extra, file->data,
		                  (size_t)file->bytes);
		return;
	}
	struct evbuffer *buf = evbuffer_new();
	long long left = file->bytes;

	stub_http_head(conn, 200, "application/octet-stream", file->bytes, extra);
	while (buf && left > 0) {
		size_t n = left < FILL_BLOCK ? (size_t)left : FILL_BLOCK;

		evbuffer_add_reference(buf, filler, n, NULL, NULL);
		left -= (long long)n;
	}
	if (buf) {
		stub_http_write_buffer(conn, buf);
		evbuffer_free(buf);
	}
	stub_http_end(conn);
}

static void files_route(struct stub_files *f, struct stub_http_conn *conn, enum flavor fl,
                        const struct stub_http_request *req, const char *rest)
{
	const char *id = rest[5] == '/' ? rest + 6 : NULL;
	size_t id_len = id ? strcspn(id, "/") : 0;
	const char *tail = id ? id + id_len : "";
	struct stub_file *file;
	const char *m = req->method;

	if (!id) {
		if (strcmp(m, "POST") == 0) {
			upload(f, conn, fl, req);
		} else if (strcmp(m, "GET") == 0) {
			json_t *data = json_array();

			for (size_t i = 0; i < f->n_files; i++)
				if (!f->files[i].deleted)
					json_array_append_new(data, file_json(&f->files[i]));
			respond_json(f, conn, 200,
			             json_pack("{s:s, s:o, s:b}", "object", "list", "data", data,
			                       "has_more", 0));
		} else {
			respond_error(f, conn, fl, 405, "Invalid method for files");
		}
		return;
	}
	if (!(file = find_file(f, id, id_len))) {
		respond_error(f, conn, fl, 404, "No such File object");
		return;
	}
	if (strcmp(tail, "/content") == 0 && strcmp(m, "GET") == 0)
		content(f, conn, file);
	else if (!*tail && strcmp(m, "GET") == 0)
		respond_json(f, conn, 200, file_json(file));
	else if (!*tail && strcmp(m, "DELETE") == 0) {
		file->deleted = true;
		respond_json(f, conn, 200,
		             json_pack("{s:s, s:s, s:b}", "id", file->id, "object", "file",
		                       "deleted", 1));
	} else
		respond_error(f, conn, fl, 404, "Invalid URL");
}

static bool batch_endpoint_ok(enum flavor fl, const char *e)
{
	static const char *const ends[] = {"/v1/chat/completions", "/v1/embeddings",
	                                   "/v1/completions", "/v1/responses"};

	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
		if (strcmp(e, ends[i]) == 0 || (fl != OPENAI && strcmp(e, ends[i] + 3) == 0))
			return true;
	return false;
}

static void batch_create(struct stub_files *f, struct stub_http_conn *conn, enum flavor fl,
                         const struct stub_http_request *req)
{
	json_t *root = json_loadb(req->body, req->body_len, 0, NULL), *v;
	const char *key, *input, *endpoint, *window;
	const char *ct = stub_http_header(req, "content-type");
	struct stub_file *file;
	struct stub_batch *b;

	if (!ct || strncasecmp(ct, "application/json", 16) != 0 || !json_is_object(root)) {
		json_decref(root);
		respond_error(f, conn, fl, 400, "The body must be a JSON object");
		return;
	}
	json_object_foreach(root, key, v)
	{
		if (strcmp(key, "input_file_id") && strcmp(key, "endpoint") &&
		    strcmp(key, "completion_window") && strcmp(key, "metadata") &&
		    strcmp(key, "output_expires_after")) {
			json_decref(root);
			respond_error(f, conn, fl, 400, "Unrecognized request argument supplied");
			return;
		}
	}
	input = json_string_value(json_object_get(root, "input_file_id"));
	endpoint = json_string_value(json_object_get(root, "endpoint"));
	window = json_string_value(json_object_get(root, "completion_window"));
	if (!input || !endpoint || !window) {
		json_decref(root);
		respond_error(
		        f, conn, fl, 400,
		        "Missing required parameter: input_file_id, endpoint, completion_window");
		return;
	}
	file = find_file(f, input, strlen(input));
	if (!file || strcmp(file->purpose, "batch") != 0 || !batch_endpoint_ok(fl, endpoint) ||
	    strcmp(window, "24h") != 0 || f->n_batches >= BATCHES_MAX) {
		json_decref(root);
		respond_error(f, conn, fl, 400,
		              !file ? "The input_file_id does not name an uploaded file"
		                    : "Invalid batch: purpose, endpoint or completion_window");
		return;
	}
	b = &f->batches[f->n_batches];
	snprintf(b->id, sizeof(b->id), "batch_stub%zu", f->n_batches + 1);
	b->object =
	        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:{s:i, s:i, s:i}, s:O?}", "id",
	                  b->id, "object", "batch", "endpoint", endpoint, "input_file_id", input,
	                  "completion_window", window, "status", "validating", "created_at",
	                  (json_int_t)time(NULL), "request_counts", "total", 0, "completed", 0,
	                  "failed", 0, "metadata", json_object_get(root, "metadata"));
	json_decref(root);
	if (!b->object) {
		respond_error(f, conn, fl, 500, "out of memory");
		return;
	}
	f->n_batches++;
	respond_json(f, conn, 200, json_incref(b->object));
}

static void batches_route(struct stub_files *f, struct stub_http_conn *conn, enum flavor fl,
                          const struct stub_http_request *req, const char *rest)
{
	const char *id = rest[7] == '/' ? rest + 8 : NULL;
	size_t id_len = id ? strcspn(id, "/") : 0;
	const char *tail = id ? id + id_len : "";
	const char *m = req->method;

	if (!id) {
		if (strcmp(m, "POST") == 0) {
			batch_create(f, conn, fl, req);
		} else if (strcmp(m, "GET") == 0) {
			json_t *data = json_array();

			for (size_t i = 0; i < f->n_batches; i++)
				json_array_append(data, f->batches[i].object);
			respond_json(f, conn, 200,
			             json_pack("{s:s, s:o, s:b}", "object", "list", "data", data,
			                       "has_more", 0));
		} else {
			respond_error(f, conn, fl, 405, "Invalid method for batches");
		}
		return;
	}
	for (size_t i = 0; i < f->n_batches; i++) {
		struct stub_batch *b = &f->batches[i];

		if (strlen(b->id) != id_len || memcmp(b->id, id, id_len) != 0)
			continue;
		if (!*tail && strcmp(m, "GET") == 0) {
			respond_json(f, conn, 200, json_incref(b->object));
		} else if (strcmp(tail, "/cancel") == 0 && strcmp(m, "POST") == 0) {
			json_object_set_new(b->object, "status", json_string("cancelling"));
			respond_json(f, conn, 200, json_incref(b->object));
		} else {
			respond_error(f, conn, fl, 404, "Invalid URL");
		}
		return;
	}
	respond_error(f, conn, fl, 404, "No such Batch object");
}

bool stub_files_handle(struct stub_files *f, struct stub_http_conn *conn,
                       const struct stub_http_request *req)
{
	const char *rest, *auth, *key = NULL;
	enum flavor fl;
	char version[64];
	bool has_version = query_param(req->query, "api-version", version, sizeof(version));

	if (strncmp(req->path, "/openai/v1/", 11) == 0) {
		fl = AZURE_V1;
		rest = req->path + 11;
	} else if (strncmp(req->path, "/openai/", 8) == 0) {
		fl = AZURE;
		rest = req->path + 8;
	} else if (strncmp(req->path, "/v1/", 4) == 0) {
		fl = OPENAI;
		rest = req->path + 4;
	} else {
		return false;
	}
	if (!((strncmp(rest, "files", 5) == 0 && (!rest[5] || rest[5] == '/')) ||
	      (strncmp(rest, "batches", 7) == 0 && (!rest[7] || rest[7] == '/'))))
		return false;
	if (fl == AZURE && (!has_version || !dated_version(version))) {
		respond_error(f, conn, fl, has_version ? 400 : 404,
		              has_version ? "API version not supported" : "Resource not found");
		return true;
	}
	if (fl != AZURE && has_version &&
	    (fl == OPENAI ||
	     (strcmp(version, "preview") && strcmp(version, "v1") && strcmp(version, "latest")))) {
		respond_error(f, conn, fl, 400, "Unexpected api-version");
		return true;
	}
	auth = stub_http_header(req, "authorization");
	if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
		key = auth + 7;
	if (fl != OPENAI && stub_http_header(req, "api-key"))
		key = stub_http_header(req, "api-key");
	if (f->require_key && (!key || strcmp(key, f->require_key) != 0)) {
		struct evbuffer *buf = evbuffer_new();

		if (buf) {
			stub_body_auth_error(buf, fl != OPENAI, key);
			stub_http_head(conn, 401, files_json_ct,
			               (long long)evbuffer_get_length(buf), NULL);
			stub_http_write_buffer(conn, buf);
			stub_http_end(conn);
			evbuffer_free(buf);
		} else {
			stub_http_respond(conn, 401, files_json_ct, NULL, "{}", 2);
		}
		return true;
	}
	if (rest[0] == 'f')
		files_route(f, conn, fl, req, rest);
	else
		batches_route(f, conn, fl, req, rest);
	return true;
}

void stub_files_synthetic(struct stub_files *f, struct stub_http_conn *conn,
                          const struct stub_http_request *req)
{
	json_t *root = json_loadb(req->body, req->body_len, 0, NULL);
	json_int_t bytes = json_integer_value(json_object_get(root, "bytes"));
	const char *purpose = json_string_value(json_object_get(root, "purpose"));
	const char *filename = json_string_value(json_object_get(root, "filename"));
	struct stub_file *file = new_file(f);

	if (!file || bytes <= 0 || !purpose || !purpose_ok(purpose)) {
		json_decref(root);
		respond_error(f, conn, OPENAI, 400, "bytes > 0 and a valid purpose expected");
		return;
	}
	file->bytes = (long long)bytes;
	snprintf(file->purpose, sizeof(file->purpose), "%s", purpose);
	snprintf(file->filename, sizeof(file->filename), "%s", filename ? filename : "big.bin");
	json_decref(root);
	f->n_files++;
	respond_json(f, conn, 200, file_json(file));
}
