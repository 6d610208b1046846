/*
 * trace_context: traceparent and tracestate by the W3C Trace Context
 * recommendation, and the id generator (see trace_context.h). Pure; runs in
 * workers on the request path and in the unit and fuzz tests.
 *
 * Parsing is strict where the spec says an invalid header means "start a
 * new trace": lower-case hex only, the dashes where they belong, version ff
 * refused, zero ids refused; a version above 00 is read for its first four
 * fields (what the spec requires of a version-00 parser).
 */
#include "trace_context.h"

#include <errno.h>
#include <string.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* N bytes from 2N lower-case hex digits; -1 for anything else. */
static int unhex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static bool all_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

int trace_parent_parse(const char *value, size_t len, struct trace_parent *ret)
{
	uint8_t version;

	if (!value || len < TRACEPARENT_LEN)
		return -EINVAL;
	if (unhex(value, &version, 1) < 0 || version == 0xff)
		return -EINVAL;
	if (version == 0 && len != TRACEPARENT_LEN)
		return -EINVAL;
	if (len > TRACEPARENT_LEN && value[TRACEPARENT_LEN] != '-')
		return -EINVAL;
	if (value[2] != '-' || value[35] != '-' || value[52] != '-')
		return -EINVAL;
	if (unhex(value + 3, ret->trace_id, TRACE_ID_LEN) < 0 ||
	    unhex(value + 36, ret->span_id, TRACE_SPAN_ID_LEN) < 0 ||
	    unhex(value + 53, &ret->flags, 1) < 0)
		return -EINVAL;
	if (all_zero(ret->trace_id, TRACE_ID_LEN) || all_zero(ret->span_id, TRACE_SPAN_ID_LEN))
		return -EINVAL;
	return 0;
}

/* Two lower-case hex digits per byte value: one load per byte. */
#define HEX_ROW(h)                                                                            \
	h "0" h "1" h "2" h "3" h "4" h "5" h "6" h "7" h "8" h "9" h "a" h "b" h "c" h "d" h \
	  "e" h "f"
static const char hex_pairs[] = HEX_ROW("0") HEX_ROW("1") HEX_ROW("2") HEX_ROW("3") HEX_ROW("4")
        HEX_ROW("5") HEX_ROW("6") HEX_ROW("7") HEX_ROW("8") HEX_ROW("9") HEX_ROW("a") HEX_ROW("b")
                HEX_ROW("c") HEX_ROW("d") HEX_ROW("e") HEX_ROW("f");
#undef HEX_ROW

void trace_hex(const uint8_t *bytes, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++)
		memcpy(out + 2 * i, hex_pairs + 2 * bytes[i], 2);
}

#ifdef __SSE2__
#include <emmintrin.h>

/* The nibbles of 16 (or 8) bytes as hex digits, 16 at a time: the
 * traceparent of every attempt in a few vector operations. */
static __m128i digits(__m128i nibbles)
{
	__m128i letters = _mm_cmpgt_epi8(nibbles, _mm_set1_epi8(9));

	return _mm_add_epi8(_mm_add_epi8(nibbles, _mm_set1_epi8('0')),
	                    _mm_and_si128(letters, _mm_set1_epi8('a' - '0' - 10)));
}

static void hex_block(const uint8_t *b, size_t len, char *out)
{
	__m128i mask = _mm_set1_epi8(0x0f), v, hi, lo;

	v = len == 16 ? _mm_loadu_si128((const __m128i *)b) : _mm_loadl_epi64((const __m128i *)b);
	hi = _mm_and_si128(_mm_srli_epi16(v, 4), mask);
	lo = _mm_and_si128(v, mask);
	_mm_storeu_si128((__m128i *)out, digits(_mm_unpacklo_epi8(hi, lo)));
	if (len == 16)
		_mm_storeu_si128((__m128i *)(out + 16), digits(_mm_unpackhi_epi8(hi, lo)));
}
#else
/* The 8 hex digits of 4 bytes at once: each byte's nibbles spread into two
 * bytes, then made digits together. */
static void hex4(const uint8_t *b, char *out)
{
	uint64_t x =
	        (uint64_t)b[0] | (uint64_t)b[1] << 16 | (uint64_t)b[2] << 32 | (uint64_t)b[3] << 48;
	uint64_t letters;

	/* byte 2i: the high nibble of b[i], byte 2i+1: its low one */
	x = ((x >> 4) & 0x000f000f000f000fULL) | ((x & 0x000f000f000f000fULL) << 8);
	letters = ((x + 0x0606060606060606ULL) >> 4) & 0x0101010101010101ULL; /* nibble > 9 */
	x += 0x3030303030303030ULL + letters * ('a' - '0' - 10);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	x = __builtin_bswap64(x);
#endif
	memcpy(out, &x, 8);
}

/* LEN (16 or 8) bytes as hex digits. */
static void hex_block(const uint8_t *b, size_t len, char *out)
{
	for (size_t i = 0; i < len; i += 4)
		hex4(b + i, out + 2 * i);
}
#endif

void trace_parent_format(const uint8_t trace_id[TRACE_ID_LEN],
                         const uint8_t span_id[TRACE_SPAN_ID_LEN], uint8_t flags, char *buf)
{
	buf[0] = '0';
	buf[1] = '0';
	buf[2] = '-';
	hex_block(trace_id, TRACE_ID_LEN, buf + 3);
	buf[35] = '-';
	hex_block(span_id, TRACE_SPAN_ID_LEN, buf + 36);
	buf[52] = '-';
	memcpy(buf + 53, hex_pairs + 2 * flags, 2);
	buf[TRACEPARENT_LEN] = '\0';
}

bool trace_state_valid(const char *value, size_t len)
{
	if (!value || len == 0 || len > TRACESTATE_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)value[i] < 0x20 || (unsigned char)value[i] > 0x7e)
			return false;
	return true;
}

/* xoshiro256** (Blackman and Vigna, public domain algorithm). */
static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t next(struct trace_rng *rng)
{
	uint64_t *s = rng->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

void trace_rng_seed(struct trace_rng *rng, const uint8_t seed[32])
{
	memcpy(rng->s, seed, sizeof(rng->s));
	if (all_zero(seed, 32))
		rng->s[0] = 0x9e3779b97f4a7c15ULL; /* xoshiro's one forbidden state */
}

/* Ids are whole outputs of the generator (a zero one, one in 2^64, is
 * drawn again): no byte loop. */
void trace_rng_trace_id(struct trace_rng *rng, uint8_t out[TRACE_ID_LEN])
{
	uint64_t a, b;

	do {
		a = next(rng);
		b = next(rng);
	} while ((a | b) == 0);
	memcpy(out, &a, 8);
	memcpy(out + 8, &b, 8);
}

void trace_rng_span_id(struct trace_rng *rng, uint8_t out[TRACE_SPAN_ID_LEN])
{
	uint64_t a;

	do
		a = next(rng);
	while (a == 0);
	memcpy(out, &a, 8);
}
