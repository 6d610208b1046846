/*
 * http_reject: the fixed set of reasons the HTTP layer answers a request
 * itself (see http_reject.h). Pure.
 */
#include "http_reject.h"

static const char *const names[HTTP_REJECT__COUNT] = {
#define HTTP_REJECT_NAME(name, label, status, type, code) [HTTP_REJECT_##name] = label,
        HTTP_REJECTS(HTTP_REJECT_NAME)
#undef HTTP_REJECT_NAME
};

static const int statuses[HTTP_REJECT__COUNT] = {
#define HTTP_REJECT_STATUS(name, label, status, type, code) [HTTP_REJECT_##name] = status,
        HTTP_REJECTS(HTTP_REJECT_STATUS)
#undef HTTP_REJECT_STATUS
};

static const char *const types[HTTP_REJECT__COUNT] = {
#define HTTP_REJECT_TYPE(name, label, status, type, code) [HTTP_REJECT_##name] = type,
        HTTP_REJECTS(HTTP_REJECT_TYPE)
#undef HTTP_REJECT_TYPE
};

static const char *const codes[HTTP_REJECT__COUNT] = {
#define HTTP_REJECT_CODE(name, label, status, type, code) [HTTP_REJECT_##name] = code,
        HTTP_REJECTS(HTTP_REJECT_CODE)
#undef HTTP_REJECT_CODE
};

const char *http_reject_name(enum http_reject reason)
{
	return (unsigned)reason < HTTP_REJECT__COUNT ? names[reason] : "unknown";
}

int http_reject_status(enum http_reject reason)
{
	return (unsigned)reason < HTTP_REJECT__COUNT ? statuses[reason] : 500;
}

const char *http_reject_type(enum http_reject reason)
{
	return (unsigned)reason < HTTP_REJECT__COUNT ? types[reason] : "server_error";
}

const char *http_reject_code(enum http_reject reason)
{
	return (unsigned)reason < HTTP_REJECT__COUNT ? codes[reason] : "internal_error";
}

enum http_reject http_reject_of_status(int status)
{
	switch (status) {
	case 431:
		return HTTP_REJECT_HEAD_TOO_LARGE;
	case 417:
		return HTTP_REJECT_UNSUPPORTED_EXPECT;
	case 501:
		return HTTP_REJECT_UNSUPPORTED_TRANSFER_CODING;
	case 505:
		return HTTP_REJECT_UNSUPPORTED_VERSION;
	default:
		return HTTP_REJECT_MALFORMED;
	}
}
