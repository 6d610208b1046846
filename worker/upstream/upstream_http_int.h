/*
 * upstream_http_int: what the parts of the own HTTP/1.1 client share (see
 * upstream_http.h for the parts): the host table, connections, the client
 * itself, and the uh_ functions one part calls in another. Private to
 * upstream_http*.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "resolver.h"
#include "upstream_http.h"

#define UH_RBUF          16384
#define UH_SPARES        64   /* buffers of each size kept for the next transfers, per client */
#define UH_OUT_SPARE     2048 /* a request that fits (a JSON request's head) is built in a spare */
#define UH_RBUF_MAX      (UPSTREAM_PARSER_MAX_HEAD + UH_RBUF)
#define UH_IDLE_PER_HOST 256
#define UH_IDLE_MS       60000

_Static_assert(UPSTREAM_URL_MAX_NAME == RESOLVER_NAME_MAX, "a URL's host name is resolvable");

/* One host:port (and scheme) of a URL: where its connections go, and its
 * pool of idle ones. */
struct uh_host {
	struct uh_host *next;
	char key[UPSTREAM_URL_MAX_AUTHORITY]; /* the URL's authority, also the Host header */
	char name[UPSTREAM_URL_MAX_NAME + 1]; /* the name resolved, and for TLS verified */
	bool tls;
	bool resolve; /* NAME is a host name: addr is its last answer */
	bool http2;   /* https: a handshake chose HTTP/2: libcurl's from then on */
	uint16_t port;
	struct resolver_answer addrs; /* with a name: its addresses, and the one in use */
	size_t pick;
	struct sockaddr_storage addr; /* where new connections go */
	socklen_t addr_len;
	struct uh_conn *idle; /* most recently used first */
	size_t n_idle;
};

struct uh_conn {
	struct upstream_http *uh;
	struct uh_host *host;
	struct uh_conn *prev, *next; /* in host->idle */
	struct uh_transfer *t;       /* NULL when idle */
	int fd;
	int error; /* a connect error to report from the loop */
	struct event *ev_read, *ev_write, *ev_timer;
	struct upstream_tls_conn *tls; /* NULL for plain HTTP */
	bool reading, writing, connecting;
	bool handshaking;      /* TLS: connected, the handshake not done */
	bool read_wants_write; /* TLS: the last read waits for writability */
	bool write_wants_read; /* TLS: the last write waits for readability */
	int tls_held;          /* TLS: a read's status that came after bytes, for the next read */
	bool reused;           /* it carried a response before this transfer */
	int64_t idle_ms;       /* when it last went idle (clock_coarse_ms; see uh_conn_take) */
	char *rbuf;
	size_t rcap, rlen, rpos; /* rpos: bytes of rbuf already handled */
};

/* A request to an https upstream that goes on a new connection, whose
 * handshake may pick HTTP/2, kept to hand it to libcurl then. One allocation:
 * the header array and every string follow the struct. */
struct uh_handover {
	const char *method; /* the request's (a literal), or NULL */
	const char *url;
	struct upstream_header *headers;
	size_t n_headers;
	size_t body_off, body_len; /* the body, in the transfer's out buffer */
};

/* Buffers of SIZE bytes that transfers gave back, which the next transfers
 * take before any malloc (poisoned while kept: spare_poison.h). */
struct uh_spares {
	char *buf[UH_SPARES];
	size_t n;
	size_t size; /* set once, with the client */
};

/* A buffer of SPARES->size bytes: a spare, or a new one (NULL when out of
 * memory). */
char *uh_spare_take(struct uh_spares *spares);
/* BUF, of SPARES->size bytes, kept in SPARES when there is room, else freed. */
void uh_spare_give(struct uh_spares *spares, char *buf);
/* Frees every buffer SPARES keeps. */
void uh_spares_free(struct uh_spares *spares);

struct upstream_http {
	struct event_base *base;
	struct resolver *resolver; /* from the first host name on */
	struct upstream_tls *tls;  /* its OpenSSL context is made by the first https transfer */
	bool https;                /* https:// URLs are ours too */
	bool h2_own;               /* HTTP/2 connections go to the own HTTP/2 client */
	struct uh_host *hosts;
	size_t active;
	struct uh_spares rbufs; /* read buffers of UH_RBUF bytes (an idle connection keeps none) */
	struct uh_spares outs;  /* request buffers of UH_OUT_SPARE bytes */
	struct http_header headers[UPSTREAM_PARSER_MAX_HEADERS]; /* the head being parsed */
};

/* T's request buffer, no longer needed (T is done, or its answer's head
 * came: it is never sent again): a spare for the next transfers, or freed. */
void uh_transfer_out_release(struct uh_transfer *t);

/* ---- hosts (upstream_http_host.c) ---- */

struct uh_host *uh_host_find(const struct upstream_http *uh, const struct upstream_url *u);
/* U's host, made on first use; NULL when out of memory. */
struct uh_host *uh_host_get(struct upstream_http *uh, const struct upstream_url *u);
/* New connections to H go to its address number PICK. */
void uh_host_use(struct uh_host *h, size_t pick);
/* Whether H has a fresh address (in h->addr) for a new connection. */
bool uh_host_resolved(struct upstream_http *uh, struct uh_host *h);
/* T waits for its host's name to resolve; it connects from the answer. */
int uh_host_resolve(struct uh_transfer *t);

/* ---- connections and their pool (upstream_http_conn.c) ---- */

/* A read buffer of UH_RBUF bytes for C (a spare, or a new one): 0 or -ENOMEM. */
int uh_conn_rbuf_take(struct uh_conn *c);

/* A new connection to H, connecting; NULL with errno set. */
struct uh_conn *uh_conn_new(struct upstream_http *uh, struct uh_host *h);
/* H's most recently used idle connection, out of the pool; NULL for none. */
struct uh_conn *uh_conn_take(struct uh_host *h);
/* C's transfer left it: back to its host's pool when REUSE and it is clean
 * and there is room, else closed. */
void uh_conn_put(struct uh_conn *c, bool reuse);
void uh_conn_close_idle(struct uh_conn *c);
/* Hands C's socket and TLS session to the caller: C closes neither. */
void uh_conn_give_socket(struct uh_conn *c, int *ret_fd, struct upstream_tls_conn **ret_tls);
void uh_conn_set_reading(struct uh_conn *c, bool on);
void uh_conn_set_writing(struct uh_conn *c, bool on);
/* Whether a TLS connection has something to read that the socket will not
 * signal: bytes OpenSSL holds, or a status held back. */
bool uh_conn_tls_more(const struct uh_conn *c);

/* ---- the transfer state machine (upstream_http_transfer.c) ---- */

/* Puts T on C and starts sending (from the loop when C has an error). */
int uh_transfer_attach(struct uh_transfer *t, struct uh_conn *c);
/* Detaches T's connection: back to the pool when REUSE, else closed. */
void uh_transfer_release(struct uh_transfer *t, bool reuse);
/* Ends T with RESULT: on_done, then gone. */
void uh_transfer_finish(struct uh_transfer *t, enum upstream_result result, const char *error);
/* An upload's body (upstream_http.c): the next chunk after OUT's head,
 * 1, or 0 at its end, or a negative errno; and back to its start. */
#define UH_BODY_CHUNK 16384
int uh_body_refill(struct uh_transfer *t);
void uh_body_rewind(struct uh_transfer *t);
/* Sends what is left of the request; false when T left the connection. */
bool uh_transfer_send(struct uh_transfer *t);
/* Handles the unread bytes of T's connection, as far as T's state allows. */
void uh_transfer_process(struct uh_transfer *t);
bool uh_transfer_next_address(struct uh_transfer *t, int err);
void uh_transfer_eof(struct uh_transfer *t, int err);
void uh_transfer_truncated(struct uh_transfer *t);
void uh_transfer_tls_failed(struct uh_transfer *t);

/* ---- the HTTP/2 hand-over (upstream_http_handover.c) ---- */

/* A copy of REQ for T, whose new connection's handshake may pick HTTP/2. */
int uh_handover_keep(struct uh_transfer *t, const struct upstream_request *req);
/* T's upstream picked HTTP/2 in the handshake of T's connection. */
void uh_handover_run(struct uh_transfer *t);
