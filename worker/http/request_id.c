/*
 * request_id: validation and generation of request ids (see request_id.h).
 * Runs in a worker. The generator is splitmix64 over a 64-bit state seeded
 * from getrandom() (re-seeded in a child after fork, so workers never share
 * a sequence); ids need to be unique, not secret.
 */
#include "request_id.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static uint64_t state;
static bool seeded, atfork_set;

bool request_id_valid(const char *id)
{
	size_t n = 0;

	for (; id[n]; n++) {
		char c = id[n];

		if (n >= REQUEST_ID_MAX ||
		    !(c == '-' || c == '_' || c == '.' || (c >= '0' && c <= '9') ||
		      (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return false;
	}
	return n > 0;
}

static uint64_t next(void)
{
	uint64_t z = (state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void forget_seed(void)
{
	seeded = false;
}

void request_id_generate(char *buf)
{
	static const char hex[] = "0123456789abcdef";
	if (!seeded) {
		if (getrandom(&state, sizeof(state), GRND_NONBLOCK) != (ssize_t)sizeof(state)) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			state = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32);
		}
		state ^= (uint64_t)getpid() << 48;
		seeded = true;
		if (!atfork_set)
			atfork_set = pthread_atfork(NULL, NULL, forget_seed) == 0;
	}
	for (int half = 0; half < 2; half++) {
		uint64_t v = next();

		for (int i = 0; i < 16; i++, v >>= 4)
			buf[half * 16 + i] = hex[v & 15];
	}
	buf[32] = '\0';
}
