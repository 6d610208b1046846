/*
 * http_peer: compact client addresses and their "address:port" text (see
 * http_peer.h). Runs in a worker, once per request that reaches a handler or
 * a reject: IPv4, the usual case, is formatted by hand (no printf family on
 * the request path), IPv6 through inet_ntop().
 */
#include "http_peer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "decimal.h"

void http_peer_set(struct http_peer *p, const struct sockaddr_storage *ss)
{
	memset(p, 0, sizeof(*p));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		memcpy(p->addr, &in->sin_addr, 4);
		p->port = ntohs(in->sin_port);
		p->family = AF_INET;
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		memcpy(p->addr, &in6->sin6_addr, 16);
		p->port = ntohs(in6->sin6_port);
		p->family = AF_INET6;
	}
}

const char *http_peer_format(const struct http_peer *p, char buf[HTTP_PEER_MAX])
{
	char *e = buf;

	if (p->family == AF_INET) {
		for (int i = 0; i < 4; i++) {
			e = decimal_put(e, p->addr[i]);
			*e++ = i < 3 ? '.' : ':';
		}
	} else if (p->family == AF_INET6) {
		*e++ = '[';
		if (!inet_ntop(AF_INET6, p->addr, e, INET6_ADDRSTRLEN))
			strcpy(e, "?");
		e += strlen(e);
		*e++ = ']';
		*e++ = ':';
	} else {
		strcpy(buf, "local");
		return buf;
	}
	e = decimal_put(e, p->port);
	*e = '\0';
	return buf;
}
