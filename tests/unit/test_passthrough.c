/*
 * Unit tests of what a relayed request sends upstream
 * (worker/passthrough_request.c): the files deployment's URL per provider
 * style and its credential, the client's key never, hop-by-hop headers
 * dropped, the query kept without api-version; a pass_through_endpoints
 * entry's target, subpath, headers and forward_headers; which entry serves
 * a path. And the files-API paths of the config (config_passthrough.c).
 */
#include "../../worker/passthrough_call.h"
#include "config.h"
#include "config_passthrough.h"
#include "diag.h"
#include "http_server.h"
#include "tap.h"

#include <stdlib.h>
#include <unistd.h>

static const char yaml[] =
        "model_list:\n"
        "  - model_name: o\n"
        "    litellm_params: {model: openai/m, api_base: 'https://api.openai.com/v1',\n"
        "                     api_key: sk-dep}\n"
        "  - model_name: a\n"
        "    litellm_params: {model: azure/dep, api_base: 'https://r.openai.azure.com',\n"
        "                     api_version: '2024-10-21', api_key: az-dep}\n"
        "  - model_name: av1\n"
        "    litellm_params: {model: azure/dep, api_base: 'https://r.openai.azure.com',\n"
        "                     api_version: v1, api_key: az-dep}\n"
        "general_settings:\n"
        "  master_key: sk-master-0123456789\n"
        "  pass_through_endpoints:\n"
        "    - {path: /vendor/, target: 'https://v.example/api/', include_subpath: true,\n"
        "       headers: {Authorization: Bearer sk-vendor, Content-Type: text/x}}\n"
        "    - {path: /vendor/exact, target: 'https://w.example/x?k=1', forward_headers: true,\n"
        "       auth: true}\n"
        "    - {path: /, target: 'http://root.example'}\n"
        "llmgate:\n"
        "  files_deployment: o\n";

static struct config *config;

static struct http_header client_headers[] = {
        {"Authorization", "Bearer sk-master-0123456789", 13, 27},
        {"api-key", "sk-master-0123456789", 7, 20},
        {"Content-Type", "multipart/form-data; boundary=xyz", 12, 33},
        {"Connection", "keep-alive", 10, 10},
        {"Host", "gw", 4, 2},
        {"Content-Length", "10", 14, 2},
        {"Transfer-Encoding", "chunked", 17, 7},
        {"Expect", "100-continue", 6, 12},
        {"x-client-trace", "t-1", 14, 3},
};

static struct http_request req_of(const char *path, const char *query)
{
	return (struct http_request){
	        .method = "POST",
	        .path = path,
	        .path_len = strlen(path),
	        .query = query,
	        .headers = client_headers,
	        .n_headers = sizeof(client_headers) / sizeof(client_headers[0]),
	};
}

static const char *header(const struct pt_call *call, const char *name)
{
	for (size_t i = 0; i < call->n_headers; i++)
		if (strcasecmp(call->headers[i].name, name) == 0)
			return call->headers[i].value;
	return NULL;
}

static int count(const struct pt_call *call, const char *name)
{
	int n = 0;

	for (size_t i = 0; i < call->n_headers; i++)
		n += strcasecmp(call->headers[i].name, name) == 0;
	return n;
}

static void files(size_t dep, const char *path, const char *query, const char *want,
                  const char *what)
{
	struct passthrough pt = {.config = config};
	struct pt_call *call = calloc(1, sizeof(*call));
	struct http_request req = req_of(path, query);
	const char *op = NULL;

	config->files_deployment = dep;
	call->pt = &pt;
	tap_ok(config_passthrough_files_path(path, strlen(path), &op), "%s: a files path", what);
	tap_ok(pt_request_files(call, &req, op, NULL) == 0, "%s: built", what);
	tap_str(call->url, want, what);
	tap_ok(!header(call, "api-key") || strcmp(header(call, "api-key"), "sk-master-0123456789"),
	       "%s: the client's api-key stays", what);
	tap_ok(!header(call, "authorization") ||
	               !strstr(header(call, "authorization"), "sk-master"),
	       "%s: the client's Authorization stays", what);
	tap_str(header(call, "content-type"), "multipart/form-data; boundary=xyz", what);
	tap_ok(count(call, "content-type") == 1, "%s: one Content-Type, the client's", what);
	tap_ok(!header(call, "connection") && !header(call, "host") &&
	               !header(call, "content-length") && !header(call, "transfer-encoding") &&
	               !header(call, "expect"),
	       "%s: hop-by-hop and framing headers dropped", what);
	tap_str(header(call, "x-client-trace"), "t-1", what);
	free(call);
}

static void test_files(void)
{
	struct passthrough pt = {.config = config};
	struct pt_call call = {.pt = &pt};
	struct http_request req = req_of("/v1/files", NULL);

	tap_ok(config->has_files_deployment && config->files_deployment == 0,
	       "llmgate.files_deployment names a model_name of one deployment");
	files(0, "/v1/files", NULL, "https://api.openai.com/v1/files", "openai");
	files(0, "/v1/files/file-1/content", "a=1&api-version=x&b=2",
	      "https://api.openai.com/v1/files/file-1/content?a=1&b=2", "openai, a query");
	files(0, "/openai/v1/batches", "limit=2", "https://api.openai.com/v1/batches?limit=2",
	      "openai, the Azure v1 spelling");
	tap_str(header(&call, "authorization"), NULL, "nothing before it is built");
	config->files_deployment = 0;
	tap_ok(pt_request_files(&call, &req, req.path + 4, NULL) == 0, "openai: built");
	tap_str(header(&call, "authorization"), "Bearer sk-dep", "openai: the deployment's key");
	files(1, "/openai/files", "api-version=2099-01-01",
	      "https://r.openai.azure.com/openai/files?api-version=2024-10-21",
	      "azure dated, the client's api-version replaced");
	files(1, "/v1/fine_tuning/jobs/ft-1/events", "limit=5",
	      "https://r.openai.azure.com/openai/fine_tuning/jobs/ft-1/events"
	      "?api-version=2024-10-21&limit=5",
	      "azure dated, fine_tuning");
	files(2, "/v1/vector_stores/vs_1", "api-version=preview",
	      "https://r.openai.azure.com/openai/v1/vector_stores/vs_1", "azure v1");
	call = (struct pt_call){.pt = &pt};
	config->files_deployment = 1;
	tap_ok(pt_request_files(&call, &req, req.path + 4, NULL) == 0, "azure: built");
	tap_str(header(&call, "api-key"), "az-dep", "azure: the deployment's api-key");
	tap_ok(count(&call, "api-key") == 1, "azure: one api-key");
	call = (struct pt_call){.pt = &pt};
	config->deployments[1].entra = true;
	tap_ok(pt_request_files(&call, &req, req.path + 4, "eyJtoken") == 0, "entra: built");
	tap_str(header(&call, "authorization"), "Bearer eyJtoken", "entra: the token as Bearer");
	tap_ok(!header(&call, "api-key"), "entra: no api-key at all");
	config->deployments[1].entra = false;
}

static void test_paths(void)
{
	const char *op;
	static const char *const yes[] = {
	        "/v1/files",
	        "/files",
	        "/openai/files",
	        "/openai/v1/files/x",
	        "/v1/batches/b",
	        "/v1/uploads/u/parts",
	        "/v1/fine_tuning/jobs",
	        "/v1/vector_stores",
	};
	static const char *const no[] = {
	        "/v1/filesx",
	        "/v1/file",
	        "/v1/chat/completions",
	        "/v2/files",
	        "/openai/deployments/x/files",
	        "/v1/",
	        "/",
	        "/v1/v1/files",
	};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		tap_ok(config_passthrough_files_path(yes[i], strlen(yes[i]), &op), "%s", yes[i]);
	tap_ok(config_passthrough_files_path("/openai/v1/files/x", 18, &op) &&
	               strcmp(op, "files/x") == 0,
	       "the op after the prefix");
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		tap_ok(!config_passthrough_files_path(no[i], strlen(no[i]), &op), "not %s", no[i]);
}

static void test_endpoints(void)
{
	const struct passthrough_endpoint *eps = config->passthrough;
	struct passthrough pt = {.config = config};
	struct pt_call call = {.pt = &pt};
	struct http_request req = req_of("/vendor/a/b", "q=1");

	tap_ok(config->n_passthrough == 3, "three endpoints");
	if (config->n_passthrough != 3)
		return;
	tap_str(eps[0].path, "/vendor", "a trailing '/' of a path goes");
	tap_str(eps[0].target, "https://v.example/api", "a trailing '/' of a target goes");
	tap_ok(pt_request_find(config, &req) == &eps[0], "a subpath");
	req = req_of("/vendorx", NULL);
	tap_ok(pt_request_find(config, &req) == NULL, "not at a '/'");
	req = req_of("/vendor/exact", NULL);
	tap_ok(pt_request_find(config, &req) == &eps[1], "the longest path wins");
	req = req_of("/vendor/exact/more", NULL);
	tap_ok(pt_request_find(config, &req) == &eps[0], "no subpath: the shorter one with it");
	req = req_of("/", NULL);
	tap_ok(pt_request_find(config, &req) == &eps[2], "the root, exact");
	req = req_of("/other", NULL);
	tap_ok(pt_request_find(config, &req) == NULL, "the root without include_subpath");

	req = req_of("/vendor/a/b", "q=1");
	tap_ok(pt_request_endpoint(&call, &req, &eps[0]) == 0, "built");
	tap_str(call.url, "https://v.example/api/a/b?q=1", "target + subpath + query");
	tap_str(header(&call, "authorization"), "Bearer sk-vendor", "the configured header");
	tap_str(header(&call, "content-type"), "text/x", "the configured Content-Type wins");
	tap_ok(count(&call, "content-type") == 1 && count(&call, "authorization") == 1,
	       "no duplicate");
	tap_ok(!header(&call, "x-client-trace") && !header(&call, "api-key"),
	       "without forward_headers the client's stay");

	call = (struct pt_call){.pt = &pt};
	req = req_of("/vendor/exact", "z=2");
	tap_ok(pt_request_endpoint(&call, &req, &eps[1]) == 0, "built");
	tap_str(call.url, "https://w.example/x?k=1&z=2", "the queries joined");
	tap_str(header(&call, "x-client-trace"), "t-1", "forward_headers");
	tap_str(header(&call, "content-type"), "multipart/form-data; boundary=xyz",
	        "the client's Content-Type");
	tap_ok(!header(&call, "authorization") && !header(&call, "api-key"),
	       "a header with the gateway key is never forwarded");
	tap_ok(!header(&call, "connection") && !header(&call, "host"), "hop-by-hop dropped");
	free(config->master_key);
	config->master_key = strdup("sk-other-key-0123456789");
	call = (struct pt_call){.pt = &pt};
	tap_ok(pt_request_endpoint(&call, &req, &eps[1]) == 0 && header(&call, "authorization") &&
	               header(&call, "api-key"),
	       "a client key that is no gateway key is forwarded");
}

int main(void)
{
	char path[] = "/tmp/test_passthrough.XXXXXX";
	struct diag_list diags = {0};
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, yaml, sizeof(yaml) - 1) != (ssize_t)(sizeof(yaml) - 1))
		abort();
	close(fd);
	tap_ok(config_load(path, &config, &diags) == 0, "the test config loads");
	for (size_t i = 0; i < diags.n; i++)
		printf("# %s\n", diags.items[i].message);
	unlink(path);
	diag_free(&diags);
	test_paths();
	if (!config)
		return tap_done();
	test_files();
	test_endpoints();
	config_free(config);
	return tap_done();
}
