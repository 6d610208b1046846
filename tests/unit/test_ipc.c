/*
 * Unit tests of the IPC codec: round trips of every message type, and
 * rejection of truncated, oversized, wrong-version and unknown messages.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "ipc.h"
#include "tap.h"

static void test_roundtrip(void)
{
	struct ipc_hello hello = {.slot = 3, .pid = 4242};
	struct ipc_header h;
	const void *payload;
	char buf[IPC_MAX_MESSAGE];
	int n;

	n = ipc_encode(buf, sizeof(buf), IPC_HELLO, 7, 9, &hello, sizeof(hello));
	tap_ok(n == (int)(sizeof(struct ipc_header) + sizeof(hello)), "hello encodes to 24 bytes");
	tap_ok(ipc_decode(buf, (size_t)n, &h, &payload) == 0, "hello decodes");
	tap_ok(h.type == IPC_HELLO && h.generation == 7 && h.seq == 9 && h.length == 8,
	       "header fields survive");
	tap_ok(memcmp(payload, &hello, sizeof(hello)) == 0, "payload survives");

	n = ipc_encode(buf, sizeof(buf), IPC_READY, 1, 1, NULL, 0);
	tap_ok(n == (int)sizeof(struct ipc_header), "empty message is header only");
	tap_ok(ipc_decode(buf, (size_t)n, &h, &payload) == 0 && h.type == IPC_READY,
	       "ready decodes");
}

static void test_every_type(void)
{
	static char payload[IPC_MAX_MESSAGE];
	char buf[IPC_MAX_MESSAGE];
	struct ipc_header h;
	const void *p;

	for (int t = IPC_INVALID + 1; t < IPC_TYPE__COUNT; t++) {
		size_t size = ipc_payload_size(t);
		int n = ipc_encode(buf, sizeof(buf), t, 1, 2, payload, size);

		tap_ok(n > 0 && ipc_decode(buf, (size_t)n, &h, &p) == 0 && h.type == t,
		       "%s round trip", ipc_type_name(t));
	}
}

static void test_rejects(void)
{
	struct ipc_hello hello = {0};
	struct ipc_header h;
	const void *p;
	char buf[IPC_MAX_MESSAGE];
	int n;

	tap_ok(ipc_encode(buf, sizeof(buf), IPC_HELLO, 0, 0, &hello, 4) == -EINVAL,
	       "encode refuses a wrong payload size");
	tap_ok(ipc_encode(buf, sizeof(buf), IPC_TYPE__COUNT, 0, 0, NULL, 0) == -EINVAL,
	       "encode refuses an unknown type");
	tap_ok(ipc_encode(buf, 10, IPC_HELLO, 0, 0, &hello, sizeof(hello)) == -ENOBUFS,
	       "encode refuses a small buffer");

	n = ipc_encode(buf, sizeof(buf), IPC_HELLO, 0, 0, &hello, sizeof(hello));
	tap_ok(ipc_decode(buf, 0, &h, &p) == -EBADMSG, "empty message rejected");
	tap_ok(ipc_decode(buf, 15, &h, &p) == -EBADMSG, "short header rejected");
	tap_ok(ipc_decode(buf, (size_t)n - 1, &h, &p) == -EBADMSG, "truncated payload rejected");
	tap_ok(ipc_decode(buf, (size_t)n + 1, &h, &p) == -EBADMSG, "trailing byte rejected");

	struct ipc_header bad;
	memcpy(&bad, buf, sizeof(bad));
	bad.version = IPC_VERSION + 1;
	memcpy(buf, &bad, sizeof(bad));
	tap_ok(ipc_decode(buf, (size_t)n, &h, &p) == -EPROTONOSUPPORT, "other version rejected");

	bad.version = IPC_VERSION;
	bad.type = 999;
	memcpy(buf, &bad, sizeof(bad));
	tap_ok(ipc_decode(buf, (size_t)n, &h, &p) == -ENOMSG, "unknown type rejected");

	bad.type = IPC_INVALID;
	memcpy(buf, &bad, sizeof(bad));
	tap_ok(ipc_decode(buf, (size_t)n, &h, &p) == -ENOMSG, "type 0 rejected");

	/* Length field that lies about the payload. */
	bad.type = IPC_HELLO;
	bad.length = 0xffffffffu;
	memcpy(buf, &bad, sizeof(bad));
	tap_ok(ipc_decode(buf, (size_t)n, &h, &p) == -EBADMSG, "lying length rejected");

	/* Right length on the wire, wrong size for the type. */
	bad.type = IPC_READY;
	bad.length = 8;
	memcpy(buf, &bad, sizeof(bad));
	tap_ok(ipc_decode(buf, (size_t)n, &h, &p) == -EBADMSG, "payload size checked per type");
}

static void test_requests_layout(void)
{
	struct ipc_requests r = {.n = 1, .log_dropped = 2};
	struct ipc_requests got;
	struct ipc_header h;
	const void *p;
	char buf[IPC_MAX_MESSAGE];
	int n;

	r.counts[0] = (struct ipc_request_count){1, 2, 3, 4, 0, 5};
	r.rejected[0] = 6;
	r.rejected[HTTP_REJECT__COUNT - 1] = 7;
	n = ipc_encode(buf, sizeof(buf), IPC_REQUESTS, 1, 1, &r, sizeof(r));
	tap_ok(n == (int)(16 + 3208 + 4 * HTTP_REJECT__COUNT), "REQUESTS: %d bytes", n);
	tap_ok(ipc_decode(buf, (size_t)n, &h, &p) == 0, "REQUESTS decodes");
	memcpy(&got, p, sizeof(got));
	tap_ok(got.counts[0].count == 5 && got.rejected[0] == 6 &&
	               got.rejected[HTTP_REJECT__COUNT - 1] == 7,
	       "counts and rejects survive");
	h.length = 3208; /* the layout before rejects: a worker of another build */
	memcpy(buf, &h, sizeof(h));
	tap_ok(ipc_decode(buf, sizeof(h) + 3208, &h, &p) == -EBADMSG,
	       "the old layout (no rejects) is refused");
}

static void test_names(void)
{
	tap_str(ipc_type_name(IPC_HELLO), "HELLO", "name table");
	tap_str(ipc_type_name(IPC_DRAIN), "DRAIN", "name table end");
	tap_str(ipc_type_name((enum ipc_type)1234), "unknown", "name of an unknown type");
}

int main(void)
{
	test_roundtrip();
	test_every_type();
	test_rejects();
	test_requests_layout();
	test_names();
	return tap_done();
}
