/*
 * curl_api: libcurl, loaded only by the worker that needs it.
 *
 * llmgated is not linked against libcurl. Its dependency tree (GnuTLS,
 * LDAP, RTMP, SSH, Kerberos, IDN...) costs about 6 MB of resident memory in
 * every process that loads it, supervisor included, while the worker's own
 * client carries plain HTTP and TLS upstreams and libcurl is left with
 * proxies and odd URLs. So this file defines the libcurl functions
 * upstream_curl.c calls, and the first call to curl_global_init() dlopen()s
 * libcurl.so.4 and binds them (the way systemd loads optional libraries).
 * upstream_curl.c keeps calling libcurl's API by its names, with curl.h's
 * compile-time type checks of curl_easy_setopt() and friends.
 *
 * The variadic functions forward their one argument by the type libcurl
 * gives the option or info code (the same rule libcurl itself reads it by).
 * Until libcurl is loaded every function fails softly: NULL, an error code
 * or nothing. The symbols are not exported from the executable (no
 * --export-dynamic), so libcurl never binds to them.
 */
#include <curl/curl.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdbool.h>

#include "log.h"

#define CURL_SONAME "libcurl.so.4"

static struct {
	bool tried;
	void *lib;
	CURLcode (*global_init)(long);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	CURLcode (*easy_pause)(CURL *, int);
	const char *(*easy_strerror)(CURLcode);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_cleanup)(CURLM *);
	CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_assign)(CURLM *, curl_socket_t, void *);
	CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
} api;

/* Binds NAME into *SLOT; false when libcurl lacks it. */
static bool bind_one(const char *name, void *slot)
{
	void *sym = dlsym(api.lib, name);

	if (!sym) {
		log_error("libcurl: %s has no %s", CURL_SONAME, name);
		return false;
	}
	*(void **)slot = sym;
	return true;
}

/* an int: the & below binds every symbol, each missing one logged, with no
 * short cut (and no bitwise-on-bool warning) */
#define BIND(field) ((int)bind_one("curl_" #field, &api.field))

static bool curl_api_load(void)
{
	bool ok;

	if (api.tried)
		return api.lib != NULL && api.global_init != NULL;
	api.tried = true;
	api.lib = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!api.lib) {
		log_error("libcurl: cannot load %s: %s", CURL_SONAME, dlerror());
		return false;
	}
	ok = BIND(global_init) & BIND(global_cleanup) & BIND(easy_init) & BIND(easy_cleanup) &
	     BIND(easy_setopt) & BIND(easy_getinfo) & BIND(easy_pause) & BIND(easy_strerror) &
	     BIND(multi_init) & BIND(multi_cleanup) & BIND(multi_setopt) & BIND(multi_add_handle) &
	     BIND(multi_remove_handle) & BIND(multi_assign) & BIND(multi_socket_action) &
	     BIND(multi_info_read) & BIND(slist_append) & BIND(slist_free_all);
	if (!ok)
		api.global_init = NULL; /* nothing works without all of them */
	return ok;
}

CURLcode curl_global_init(long flags)
{
	if (!curl_api_load())
		return CURLE_FAILED_INIT;
	return api.global_init(flags);
}

void curl_global_cleanup(void)
{
	if (api.global_init)
		api.global_cleanup();
}

CURL *curl_easy_init(void)
{
	return api.global_init ? api.easy_init() : NULL;
}

void curl_easy_cleanup(CURL *easy)
{
	if (api.global_init)
		api.easy_cleanup(easy);
}

/* Options and multi options share libcurl's numbering by argument type. */
#define FORWARD_BY_OPTION_TYPE(fn, handle, option, ap, ret)                   \
	do {                                                                  \
		if ((option) < CURLOPTTYPE_OBJECTPOINT)                       \
			ret = fn(handle, option, va_arg(ap, long));           \
		else if ((option) < CURLOPTTYPE_FUNCTIONPOINT)                \
			ret = fn(handle, option, va_arg(ap, void *));         \
		else if ((option) < CURLOPTTYPE_OFF_T)                        \
			ret = fn(handle, option, va_arg(ap, void (*)(void))); \
		else if ((option) < CURLOPTTYPE_BLOB)                         \
			ret = fn(handle, option, va_arg(ap, curl_off_t));     \
		else                                                          \
			ret = fn(handle, option, va_arg(ap, void *));         \
	} while (0)

#undef curl_easy_setopt
CURLcode curl_easy_setopt(CURL *easy, CURLoption option, ...)
{
	CURLcode ret;
	va_list ap;

	if (!api.global_init)
		return CURLE_FAILED_INIT;
	va_start(ap, option);
	FORWARD_BY_OPTION_TYPE(api.easy_setopt, easy, option, ap, ret);
	va_end(ap);
	return ret;
}

#undef curl_multi_setopt
CURLMcode curl_multi_setopt(CURLM *multi, CURLMoption option, ...)
{
	CURLMcode ret;
	va_list ap;

	if (!api.global_init)
		return CURLM_INTERNAL_ERROR;
	va_start(ap, option);
	FORWARD_BY_OPTION_TYPE(api.multi_setopt, multi, option, ap, ret);
	va_end(ap);
	return ret;
}

/* Every info code takes a pointer to where the answer goes. */
#undef curl_easy_getinfo
CURLcode curl_easy_getinfo(CURL *easy, CURLINFO info, ...)
{
	CURLcode ret;
	va_list ap;

	if (!api.global_init)
		return CURLE_FAILED_INIT;
	va_start(ap, info);
	ret = api.easy_getinfo(easy, info, va_arg(ap, void *));
	va_end(ap);
	return ret;
}

CURLcode curl_easy_pause(CURL *easy, int bitmask)
{
	return api.global_init ? api.easy_pause(easy, bitmask) : CURLE_FAILED_INIT;
}

const char *curl_easy_strerror(CURLcode code)
{
	return api.global_init ? api.easy_strerror(code) : "libcurl is not loaded";
}

CURLM *curl_multi_init(void)
{
	return api.global_init ? api.multi_init() : NULL;
}

CURLMcode curl_multi_cleanup(CURLM *multi)
{
	return api.global_init ? api.multi_cleanup(multi) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_add_handle(CURLM *multi, CURL *easy)
{
	return api.global_init ? api.multi_add_handle(multi, easy) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_remove_handle(CURLM *multi, CURL *easy)
{
	return api.global_init ? api.multi_remove_handle(multi, easy) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_assign(CURLM *multi, curl_socket_t fd, void *p)
{
	return api.global_init ? api.multi_assign(multi, fd, p) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_socket_action(CURLM *multi, curl_socket_t fd, int ev_bitmask, int *running)
{
	return api.global_init ? api.multi_socket_action(multi, fd, ev_bitmask, running)
	                       : CURLM_INTERNAL_ERROR;
}

CURLMsg *curl_multi_info_read(CURLM *multi, int *msgs_in_queue)
{
	return api.global_init ? api.multi_info_read(multi, msgs_in_queue) : NULL;
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *s)
{
	return api.global_init ? api.slist_append(list, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *list)
{
	if (api.global_init)
		api.slist_free_all(list);
}
