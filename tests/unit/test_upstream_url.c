/*
 * Unit tests of the own upstream client's URL parser (worker/upstream/
 * upstream_url.c), one table: schemes, ports, IPv4, IPv6 and name hosts,
 * userinfo, paths and queries, and what is left to libcurl or refused;
 * and the cached parse against the full one.
 */
#include "upstream_url.h"
#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

struct url_case {
	const char *url;
	int want; /* 0 or -EINVAL */
	/* when taken: */
	bool tls, resolve;
	unsigned port;
	const char *authority, *host, *path;
	const char *ip; /* the address when not RESOLVE, as inet_ntop writes it */
};

/* a URL refused */
#define BAD(u)                              \
	{                                   \
		.url = (u), .want = -EINVAL \
	}

static const struct url_case cases[] = {
        /* schemes and default ports */
        {"http://127.0.0.1/v1", 0, false, false, 80, "127.0.0.1", "127.0.0.1", "/v1", "127.0.0.1"},
        {"https://127.0.0.1/v1", 0, true, false, 443, "127.0.0.1", "127.0.0.1", "/v1", "127.0.0.1"},
        {"HTTP://10.0.0.1/", 0, false, false, 80, "10.0.0.1", "10.0.0.1", "/", "10.0.0.1"},
        {"HttpS://10.0.0.1/", 0, true, false, 443, "10.0.0.1", "10.0.0.1", "/", "10.0.0.1"},
        BAD("ftp://10.0.0.1/"),
        BAD("http:/10.0.0.1/"),
        BAD("10.0.0.1/v1"),
        BAD(""),
        /* ports */
        {"http://127.0.0.1:8080/v1/chat", 0, false, false, 8080, "127.0.0.1:8080", "127.0.0.1",
         "/v1/chat", "127.0.0.1"},
        {"https://127.0.0.1:1/", 0, true, false, 1, "127.0.0.1:1", "127.0.0.1", "/", "127.0.0.1"},
        {"http://127.0.0.1:65535", 0, false, false, 65535, "127.0.0.1:65535", "127.0.0.1", "/",
         "127.0.0.1"},
        BAD("http://127.0.0.1:0/"),
        BAD("http://127.0.0.1:65536/"),
        BAD("http://127.0.0.1:/"),
        BAD("http://127.0.0.1:080800/"),
        BAD("http://127.0.0.1:8a/"),
        BAD("http://127.0.0.1:-1/"),
        /* IPv6 literals */
        {"http://[::1]/v1", 0, false, false, 80, "[::1]", "::1", "/v1", "::1"},
        {"https://[::1]:8443/v1", 0, true, false, 8443, "[::1]:8443", "::1", "/v1", "::1"},
        {"http://[2001:db8::7]:81", 0, false, false, 81, "[2001:db8::7]:81", "2001:db8::7", "/",
         "2001:db8::7"},
        BAD("http://[::1/"),
        BAD("http://[::1]x/"),
        BAD("http://[::1]:/"),
        BAD("http://[nope]/"),
        BAD("http://[127.0.0.1]/"),
        /* names */
        {"http://localhost:4000/v1", 0, false, false, 4000, "localhost:4000", "localhost", "/v1",
         "127.0.0.1"},
        {"https://LocalHost/", 0, true, false, 443, "LocalHost", "LocalHost", "/", "127.0.0.1"},
        {"https://api.openai.com/v1/chat/completions", 0, true, true, 443, "api.openai.com",
         "api.openai.com", "/v1/chat/completions", NULL},
        {"https://my-res.openai.azure.com:8443/openai", 0, true, true, 8443,
         "my-res.openai.azure.com:8443", "my-res.openai.azure.com", "/openai", NULL},
        {"http://under_score.internal/", 0, false, true, 80, "under_score.internal",
         "under_score.internal", "/", NULL},
        BAD("http://127.1/"), /* other spellings of addresses: libcurl's */
        /* hex has letters: a name to us, resolved by getaddrinfo() */
        {"http://0x7f000001/", 0, false, true, 80, "0x7f000001", "0x7f000001", "/", NULL},
        BAD("http://1.2.3.4.5/"),
        BAD("http://-bad.example/"),
        BAD("http://bad-.example/"),
        BAD("http://a..b/"),
        BAD("http://.a/"),
        BAD("http://exa mple/"),
        BAD("http://ex%41mple/"),
        BAD("http:///v1"),
        BAD("http://:80/"),
        /* userinfo is refused: libcurl's */
        BAD("http://user:pw@127.0.0.1/"),
        BAD("http://@127.0.0.1/"),
        /* paths and queries */
        {"http://127.0.0.1/v1/chat/completions?api-version=2024-06-01", 0, false, false, 80,
         "127.0.0.1", "127.0.0.1", "/v1/chat/completions?api-version=2024-06-01", "127.0.0.1"},
        {"http://127.0.0.1", 0, false, false, 80, "127.0.0.1", "127.0.0.1", "/", "127.0.0.1"},
        BAD("http://127.0.0.1?q=1"),
        BAD("http://127.0.0.1/#frag"),
        BAD("http://127.0.0.1#frag"),
        BAD("http://127.0.0.1/a b"),
        BAD("http://127.0.0.1/a\tb"),
        BAD("http://127.0.0.1/a\x7f"),
        BAD("http://127.0.0.1/\xc3\xa9"),
};

static void check_address(const struct url_case *c, const struct upstream_url *u)
{
	char text[INET6_ADDRSTRLEN] = "";
	unsigned port = 0;

	if (u->addr.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&u->addr;

		inet_ntop(AF_INET, &s4->sin_addr, text, sizeof(text));
		port = ntohs(s4->sin_port);
		tap_ok(u->addr_len == sizeof(*s4), "%s: IPv4 address length", c->url);
	} else if (u->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&u->addr;

		inet_ntop(AF_INET6, &s6->sin6_addr, text, sizeof(text));
		port = ntohs(s6->sin6_port);
		tap_ok(u->addr_len == sizeof(*s6), "%s: IPv6 address length", c->url);
	}
	tap_str(text, c->ip, c->url);
	tap_ok(port == c->port, "%s: the address's port %u", c->url, port);
}

static void check(const struct url_case *c)
{
	struct upstream_url u;
	int r = upstream_url_parse(c->url, &u);

	if (!tap_ok(r == c->want, "'%s' %s", c->url, c->want == 0 ? "taken" : "refused") || r < 0)
		return;
	tap_ok(u.tls == c->tls && u.resolve == c->resolve && u.port == c->port,
	       "%s: tls %d resolve %d port %u", c->url, u.tls, u.resolve, (unsigned)u.port);
	tap_str(u.authority, c->authority, c->url);
	tap_str(u.host, c->host, c->url);
	tap_str(u.path, c->path, c->url);
	if (c->resolve)
		tap_ok(u.addr_len == 0, "%s: a name has no address yet", c->url);
	else
		check_address(c, &u);
}

/* Lengths at and over the limits of the authority and a name. */
static void test_limits(void)
{
	char url[1024], label[64];
	struct upstream_url u;

	memset(label, 'a', 63);
	label[63] = '\0';
	snprintf(url, sizeof(url), "http://%s.%s.%s.%.61s/", label, label, label, label);
	tap_ok(upstream_url_parse(url, &u) == 0 && strlen(u.host) == 253, "a 253-byte name");
	snprintf(url, sizeof(url), "http://%s.%s.%s.%.62s/", label, label, label, label);
	tap_ok(upstream_url_parse(url, &u) == -EINVAL, "a 254-byte name");
	snprintf(url, sizeof(url), "http://%sa.example/", label);
	tap_ok(upstream_url_parse(url, &u) == -EINVAL, "a 64-byte label");
	memset(url, 'a', sizeof(url));
	memcpy(url, "http://", 7);
	url[7 + UPSTREAM_URL_MAX_AUTHORITY] = '\0';
	tap_ok(upstream_url_parse(url, &u) == -EINVAL, "an authority over the limit");
}

/* The path points into the URL: no copy is made of it. */
static void test_path_in_url(void)
{
	const char *url = "http://127.0.0.1:9/v1/x";
	struct upstream_url u;

	tap_ok(upstream_url_parse(url, &u) == 0 && u.path == url + 18, "the path is the URL's");
}

static bool same_parse(const struct upstream_url *a, const struct upstream_url *b)
{
	return strcmp(a->authority, b->authority) == 0 && strcmp(a->host, b->host) == 0 &&
	       a->tls == b->tls && a->resolve == b->resolve && a->port == b->port &&
	       a->path == b->path && a->addr_len == b->addr_len &&
	       memcmp(&a->addr, &b->addr, a->addr_len) == 0;
}

/* The cached parse gives what the full one gives, whatever URL it parsed
 * last: every case of the table after every other (prefixes that share
 * bytes, like "http://127.0.0.1" and "http://127.0.0.1:8080/v1"). */
static void test_cache(void)
{
	size_t n = sizeof(cases) / sizeof(cases[0]), bad = 0, hits = 0;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			struct upstream_url_cache c = {0};
			struct upstream_url full, cached, warm;
			int rf, rc;

			(void)upstream_url_parse_cached(&c, cases[i].url, &warm);
			hits += c.prefix_len &&
			        strncmp(cases[j].url, c.prefix, c.prefix_len) == 0 &&
			        cases[j].url[c.prefix_len] == '/';
			rf = upstream_url_parse(cases[j].url, &full);
			rc = upstream_url_parse_cached(&c, cases[j].url, &cached);
			if (rf != rc || (rf == 0 && !same_parse(&full, &cached))) {
				printf("# after '%s': '%s' %d, cached %d\n", cases[i].url,
				       cases[j].url, rf, rc);
				bad++;
			}
		}
	tap_ok(bad == 0, "the cached parse is the full one's, for %zu pairs", n * n);
	tap_ok(hits > 0, "the cache was taken (%zu times)", hits);
}

/* A deployment's next attempt takes the cached parse; its path is its own. */
static void test_cache_hit(void)
{
	const char *a = "https://my-res.openai.azure.com/openai/v1/chat/completions";
	const char *b = "https://my-res.openai.azure.com/openai/v1/embeddings";
	struct upstream_url_cache c = {0};
	struct upstream_url u;

	tap_ok(upstream_url_parse_cached(&c, a, &u) == 0 && c.prefix_len == 31,
	       "a full parse fills the cache");
	c.url.port = 1; /* marks the cached parse: a hit returns it */
	tap_ok(upstream_url_parse_cached(&c, b, &u) == 0 && u.port == 1 && u.path == b + 31,
	       "the next URL of the authority is a hit, with its own path");
	tap_ok(upstream_url_parse_cached(&c, "https://my-res.openai.azure.com/a b", &u) == -EINVAL,
	       "a hit's path is still checked");
	tap_ok(upstream_url_parse_cached(&c, "https://my-res.openai.azure.com:8443/x", &u) == 0 &&
	               u.port == 8443,
	       "another authority sharing the prefix is parsed in full");
}

int main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check(&cases[i]);
	test_limits();
	test_path_in_url();
	test_cache();
	test_cache_hit();
	return tap_done();
}
