/*
 * Unit tests of usage_scan (the usage object of an answer, found from its
 * end) and usage_cost (what it costs at a deployment's prices): the shapes
 * OpenAI and Azure send (chat, completions, embeddings, Responses; bodies
 * and streams), the traps (a "usage" inside a string or as a value, usage
 * null, a stream cut before its usage chunk), a stream fed in reads cut at
 * every offset (the same usage, bounded memory), and
 * the price arithmetic with cached and reasoning tokens.
 */
#include "../../worker/usage_scan.h"
#include "../../worker/usage_stream.h"
#include "tap.h"
#include "usage_cost.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

static struct usage scan(const char *body)
{
	struct usage u;
	int r = usage_scan_body(body, strlen(body), &u);

	if ((r == 0) != u.known)
		tap_ok(0, "return value and known agree for '%.40s'", body);
	return u;
}

static struct usage scan_stream(const char *s, bool responses)
{
	struct usage u;

	usage_scan_stream(s, strlen(s), responses, &u);
	return u;
}

static void bodies(void)
{
	struct usage u;

	u = scan("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
	         "\"message\":{\"role\":\"assistant\",\"content\":\"hi \\\"usage\\\":{\\\"prompt_"
	         "tokens\\\":99}\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":19,"
	         "\"completion_tokens\":10,\"total_tokens\":29,\"prompt_tokens_details\":{"
	         "\"cached_tokens\":8,\"audio_tokens\":0},\"completion_tokens_details\":{"
	         "\"reasoning_tokens\":4,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,"
	         "\"rejected_prediction_tokens\":0}},\"system_fingerprint\":\"fp_1\"}");
	tap_ok(u.known && u.prompt == 19 && u.completion == 10 && u.total == 29,
	       "chat: prompt, completion, total");
	tap_ok(u.has_cached && u.cached_prompt == 8 && u.has_reasoning && u.reasoning == 4,
	       "chat: cached and reasoning from the details");

	u = scan("{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,"
	         "\"embedding\":[0.1,-0.2]}],\"model\":\"m\",\"usage\":{\"prompt_tokens\":5,"
	         "\"total_tokens\":5}}");
	tap_ok(u.known && u.prompt == 5 && u.completion == 0 && u.total == 5 && !u.has_cached &&
	               !u.has_reasoning,
	       "embeddings: prompt and total only");

	u = scan("{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\",\"usage\":{"
	         "\"input_tokens\":36,\"input_tokens_details\":{\"cached_tokens\":32},"
	         "\"output_tokens\":87,\"output_tokens_details\":{\"reasoning_tokens\":64},"
	         "\"total_tokens\":123},\"user\":null,\"metadata\":{\"usage\":\"x\"}}");
	tap_ok(u.known && u.prompt == 36 && u.completion == 87 && u.total == 123 &&
	               u.cached_prompt == 32 && u.reasoning == 64,
	       "responses: input/output names, details, a metadata value named usage");

	u = scan("{\"usage\" : { \"completion_tokens\" : 3 , \"prompt_tokens\" : 4 } }");
	tap_ok(u.known && u.total == 7, "no total_tokens: the sum; white space anywhere");

	u = scan("{\"id\":\"resp_1\",\"status\":\"in_progress\",\"usage\":null}");
	tap_ok(!u.known, "usage null: unknown");
	u = scan("{\"a\":{\"usage\":{\"prompt_tokens\":1}},\"usage\":null}");
	tap_ok(!u.known, "the last usage key decides: null after a nested one is unknown");
	u = scan("{\"type\":\"usage\"}");
	tap_ok(!u.known, "\"usage\" as a value is no key");
	u = scan("{\"choices\":[]}");
	tap_ok(!u.known, "no usage at all");
	u = scan("{\"usage\":{\"prompt_tokens\":-1,\"total_tokens\":2}}");
	tap_ok(!u.known, "a negative count: unknown, never a guess");
	u = scan("{\"usage\":{\"prompt_tokens\":1.5}}");
	tap_ok(!u.known, "a fraction: unknown");
	u = scan("{\"usage\":{\"prompt_tokens\":1234567890123456}}");
	tap_ok(!u.known, "16 digits: unknown");
	u = scan("{\"usage\":{\"prompt_tokens\":012}}");
	tap_ok(!u.known, "a leading zero: unknown");
	u = scan("{\"usage\":{\"prompt_tokens\":12");
	tap_ok(!u.known, "cut inside the usage object: unknown");
	u = scan("{\"usage\":{}}");
	tap_ok(!u.known, "an empty usage object: unknown");
	u = scan(
	        "{\"usage\":{\"prompt_tokens\":2,\"prompt_tokens_details\":null,"
	        "\"completion_tokens_details\":{\"reasoning_tokens\":null},\"x\":[1,{\"y\":\"}\"}]}}");
	tap_ok(u.known && u.prompt == 2 && !u.has_cached && !u.has_reasoning,
	       "details null, a null count, other members skipped");
}

#define CHUNK(s) "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\"," s "}\n\n"

static void streams(void)
{
	struct usage u;
	const char *usage_chunk = CHUNK(
	        "\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,"
	        "\"total_tokens\":12,\"completion_tokens_details\":{\"reasoning_tokens\":1}}");

	char buf[2048];

	snprintf(buf, sizeof(buf), "%s%s%sdata: [DONE]\n\n",
	         CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}],\"usage\":null"),
	         CHUNK("\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
	               "\"usage\":null"),
	         usage_chunk);
	u = scan_stream(buf, false);
	tap_ok(u.known && u.prompt == 9 && u.completion == 3 && u.total == 12 && u.reasoning == 1,
	       "chat stream: the usage chunk before [DONE]");
	u = scan_stream(buf + 20, false);
	tap_ok(u.known && u.total == 12, "chat stream: the window starts mid-event");

	snprintf(buf, sizeof(buf), "%s%s",
	         CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}],\"usage\":null"),
	         CHUNK("\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
	               "\"usage\":null"));
	u = scan_stream(buf, false);
	tap_ok(!u.known, "chat stream cut before its usage chunk: unknown");
	snprintf(buf, sizeof(buf), "%sdata: [DONE]\n\n",
	         CHUNK("\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]"));
	u = scan_stream(buf, false);
	tap_ok(!u.known, "chat stream without include_usage: unknown");
	u = scan_stream("data: [DONE]\n\n", false);
	tap_ok(!u.known, "only [DONE]: unknown");
	u = scan_stream("", false);
	tap_ok(!u.known, "nothing: unknown");

	u = scan_stream(
	        "event: response.output_text.done\ndata: {\"type\":\"response.output_text."
	        "done\",\"text\":\"x\"}\n\nevent: response.completed\ndata: {\"type\":"
	        "\"response.completed\",\"sequence_number\":9,\"response\":{\"id\":\"resp_1\","
	        "\"usage\":{\"input_tokens\":5,\"input_tokens_details\":{\"cached_tokens\":0},"
	        "\"output_tokens\":2,\"output_tokens_details\":{\"reasoning_tokens\":0},"
	        "\"total_tokens\":7},\"metadata\":{}}}\n\n",
	        true);
	tap_ok(u.known && u.prompt == 5 && u.completion == 2 && u.has_cached && u.has_reasoning,
	       "responses stream: response.completed");
	u = scan_stream("event: response.incomplete\ndata: {\"type\":\"response.incomplete\","
	                "\"response\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":16,"
	                "\"total_tokens\":21}}}\n\n",
	                true);
	tap_ok(u.known && u.total == 21, "responses stream: response.incomplete");
	u = scan_stream("event: response.output_item.done\ndata: {\"type\":\"response.output_item."
	                "done\",\"item\":{\"usage\":{\"input_tokens\":5}}}\n\n",
	                true);
	tap_ok(!u.known, "responses stream cut before response.completed: unknown");
	u = scan_stream("event: error\ndata: {\"type\":\"error\",\"code\":\"x\"}\n\n", true);
	tap_ok(!u.known, "responses stream ending in error: unknown");
}

/* STREAM fed one byte a read. */
static struct usage feed_bytewise(const char *stream, bool responses)
{
	struct usage_stream st;
	struct usage u;
	size_t len = strlen(stream);

	usage_stream_init(&st, responses, NULL);
	for (size_t i = 0; i < len; i++)
		usage_stream_feed(&st, stream + i, 1);
	usage_stream_end(&st, &u);
	usage_stream_free(&st);
	return u;
}

/* STREAM fed as PIECES reads cut at CUTS (N of them, increasing). */
static struct usage feed_cut(const char *stream, bool responses, const size_t *cuts, size_t n,
                             size_t *held_max)
{
	struct usage_stream st;
	struct usage u;
	size_t at = 0, len = strlen(stream);

	usage_stream_init(&st, responses, NULL);
	for (size_t i = 0; i <= n; i++) {
		size_t to = i < n ? cuts[i] : len;

		usage_stream_feed(&st, stream + at, to - at);
		if (held_max && st.held_cap > *held_max)
			*held_max = st.held_cap;
		at = to;
	}
	usage_stream_end(&st, &u);
	if (st.held)
		tap_ok(0, "the stream's end frees what it held");
	usage_stream_free(&st);
	return u;
}

static bool same_usage(const struct usage *a, const struct usage *b)
{
	return a->known == b->known && a->prompt == b->prompt && a->completion == b->completion &&
	       a->total == b->total && a->cached_prompt == b->cached_prompt &&
	       a->reasoning == b->reasoning && a->has_cached == b->has_cached &&
	       a->has_reasoning == b->has_reasoning;
}

/* STREAM split into two reads at every offset and into three at every
 * pair of offsets STEP apart, and in one-byte reads: always WANT. */
static bool every_split(const char *stream, bool responses, const struct usage *want)
{
	size_t len = strlen(stream), cuts[2];
	struct usage u;

	for (size_t i = 0; i <= len; i++) {
		cuts[0] = i;
		u = feed_cut(stream, responses, cuts, 1, NULL);
		if (!same_usage(&u, want))
			return false;
		for (size_t j = i; j <= len; j += 7) {
			cuts[1] = j;
			u = feed_cut(stream, responses, cuts, 2, NULL);
			if (!same_usage(&u, want))
				return false;
		}
	}
	u = feed_bytewise(stream, responses);
	return same_usage(&u, want);
}

static void stream_splits(void)
{
	static char chat[2048], big[3 * USAGE_EVENT_MAX];
	struct usage want, none = {0};
	struct usage_stream st;
	size_t held_max = 0, cut;
	int n;

	snprintf(chat, sizeof(chat), "%s%s%s\ndata: [DONE]\n\n",
	         CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\\n\\n\"}}],"
	               "\"usage\":null"),
	         CHUNK("\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
	               "\"usage\":null"),
	         CHUNK("\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,"
	               "\"total_tokens\":12,\"prompt_tokens_details\":{\"cached_tokens\":2},"
	               "\"completion_tokens_details\":{\"reasoning_tokens\":1}}"));
	usage_scan_stream(chat, strlen(chat), false, &want);
	tap_ok(want.known && want.total == 12 && want.cached_prompt == 2 && want.reasoning == 1,
	       "split: the chat stream whole");
	tap_ok(every_split(chat, false, &want),
	       "split: a chat stream cut into reads at every offset: the same usage");

	/* the same stream without its usage chunk: unknown however it is cut */
	snprintf(chat, sizeof(chat), "%s%sdata: [DONE]\n\n",
	         CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}],\"usage\":null"),
	         CHUNK("\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
	               "\"usage\":null"));
	tap_ok(every_split(chat, false, &none), "split: a chat stream without usage: unknown at "
	                                        "every offset");
	snprintf(chat, sizeof(chat), "%sdata: [DONE]\n\ndata: [DONE]\n\n",
	         CHUNK("\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"total_tokens\":9}"));
	tap_ok(every_split(chat, false, &none),
	       "split: [DONE] twice after the usage chunk: unknown, as the last event before the "
	       "last [DONE] is none");
	/* cut in the usage chunk's blank line: the chunk is whole, counted */
	snprintf(chat, sizeof(chat), "%s",
	         CHUNK("\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"total_tokens\":9}"));
	chat[strlen(chat) - 1] = 0;
	usage_scan_stream(chat, strlen(chat), false, &want);
	tap_ok(want.known && want.total == 9 && every_split(chat, false, &want),
	       "split: a stream ending in its usage chunk without [DONE]");

	/* CRLF line ends (SSE allows them): the same events */
	snprintf(
	        chat, sizeof(chat), "%s%sdata: [DONE]\r\n\r\n",
	        "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":null}\r\n\r\n",
	        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"total_tokens\":6}}\r\n\r\n");
	usage_scan_stream(chat, strlen(chat), false, &want);
	tap_ok(want.known && want.total == 6 && every_split(chat, false, &want),
	       "split: a chat stream with CRLF line ends, at every offset");
	snprintf(chat, sizeof(chat), "%s%s",
	         "event: response.output_text.done\r\ndata: {\"type\":\"response.output_text."
	         "done\"}\r\n\r\n",
	         "event: response.completed\r\ndata: {\"type\":\"response.completed\","
	         "\"response\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":2}}}\r\n\r\n");
	usage_scan_stream(chat, strlen(chat), true, &want);
	tap_ok(want.known && want.total == 7 && every_split(chat, true, &want),
	       "split: a Responses stream with CRLF line ends, at every offset");
	snprintf(chat, sizeof(chat), "%s",
	         "event: response.completed\r\ndata: {\"type\":\"response.completed\","
	         "\"response\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":2}}}\r\n\r\n"
	         "event: response.output_text.done\r\ndata: {\"type\":\"response.output_text."
	         "done\"}\r\n\r\n");
	tap_ok(every_split(chat, true, &none),
	       "split: a Responses stream with CRLF whose last event is not the completed one: "
	       "unknown at every offset");

	/* a line end left after a blank line ("\n\n\r") starts no event */
	snprintf(chat, sizeof(chat), "%s\r%s\r\ndata: [DONE]\n\n\r",
	         CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]"),
	         CHUNK("\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"total_tokens\":9}"));
	usage_scan_stream(chat, strlen(chat), false, &want);
	tap_ok(want.known && want.total == 9 && every_split(chat, false, &want),
	       "split: stray line ends after blank lines, at every offset");

	/* a Responses stream whose response.completed is far longer than the bound */
	n = snprintf(big, sizeof(big),
	             "event: response.output_text.delta\ndata: {\"type\":\"response.output_text."
	             "delta\",\"delta\":\"x\"}\n\nevent: response.completed\ndata: {\"type\":"
	             "\"response.completed\",\"response\":{\"id\":\"resp_1\",\"output\":[{\"text\":"
	             "\"");
	memset(big + n, 'a', 2 * USAGE_EVENT_MAX);
	n += 2 * USAGE_EVENT_MAX;
	snprintf(
	        big + n, sizeof(big) - (size_t)n,
	        "\"}],\"usage\":{\"input_tokens\":5,\"output_tokens\":2,\"total_tokens\":7}}}\n\n");
	usage_scan_stream(big, strlen(big), true, &want);
	tap_ok(want.known && want.total == 7, "long event: the usage at its end is read");
	for (cut = 1; cut < strlen(big); cut += 61) {
		struct usage u = feed_cut(big, true, &cut, 1, &held_max);

		if (!same_usage(&u, &want))
			break;
	}
	tap_ok(cut >= strlen(big), "long event: the same usage at every 61st cut");
	tap_ok(held_max > 0 && held_max <= USAGE_EVENT_MAX,
	       "long event: what is held is bounded by USAGE_EVENT_MAX (%zu)", held_max);
	for (char *c = big; (c = strstr(c, "response.completed")) && c < big + 256;)
		memcpy(c, "response.Xompleted", 18); /* another type, in both places */
	usage_scan_stream(big, strlen(big), true, &want);
	tap_ok(!want.known, "long event: a long event of another type has no usage");

	/* reads that end at events' ends hold nothing */
	usage_stream_init(&st, false, NULL);
	usage_stream_feed(&st, CHUNK("\"choices\":[],\"usage\":null"),
	                  strlen(CHUNK("\"choices\":[],\"usage\":null")));
	usage_stream_feed(&st, "data: [DONE]\n\n", 14);
	tap_ok(st.held == NULL && !st.pending, "reads at events' ends: nothing held");
	usage_stream_feed(&st, "data: {\"a\":", 11);
	tap_ok(st.held && st.held_cap <= 256, "an event straddling reads: held, in a small buffer");
	usage_stream_end(&st, &want);
	tap_ok(st.held == NULL && !want.known, "its end frees it");
	usage_stream_free(&st);

	tap_ok(usage_scan_may_hold("\"total_tokens\":1", 16) &&
	               !usage_scan_may_hold("data: {\"object\":\"chunk\",\"usage\":null}", 38) &&
	               !usage_scan_may_hold("_tokens", 7) && !usage_scan_may_hold("", 0),
	       "may_hold: only with the bytes _tokens\"");
}

/* Every stream of four pieces from a set of line ends and events
 * that straddle each other's edges, read in one piece, cut in two at every
 * offset and read byte by byte: always the same usage (chat and Responses). */
static void split_exhaustive(void)
{
	static const char *piece[] = {
	        "\n",
	        "\r",
	        "\r\n",
	        "data: [DONE]",
	        "data: {\"usage\":{\"prompt_tokens\":3,\"total_tokens\":4}}",
	        "event: response.completed\ndata: {\"usage\":{\"input_tokens\":1,\"output_tokens\":2}}",
	        "data: {\"usage\":null}",
	};
	enum { PIECES = sizeof(piece) / sizeof(piece[0]) };
	char stream[512];
	size_t checked = 0, failed = 0;

	for (unsigned code = 0; code < PIECES * PIECES * PIECES * PIECES; code++) {
		unsigned c = code;

		stream[0] = 0;
		for (int i = 0; i < 4; i++, c /= PIECES)
			strcat(stream, piece[c % PIECES]);
		for (int responses = 0; responses < 2; responses++) {
			struct usage want, u;
			size_t len = strlen(stream), cut;

			usage_scan_stream(stream, len, responses, &want);
			for (cut = 0; cut <= len; cut++) {
				u = feed_cut(stream, responses, &cut, 1, NULL);
				failed += !same_usage(&u, &want);
			}
			u = feed_bytewise(stream, responses);
			failed += !same_usage(&u, &want);
			checked++;
		}
	}
	tap_ok(failed == 0, "split: %zu streams of line ends and events, at every cut: %zu differ",
	       checked, failed);
}

/* Events about USAGE_EVENT_MAX long, their usage key on either side of
 * where their last USAGE_EVENT_MAX bytes begin, with line ends before
 * their blank line: cut anywhere, read as in one piece. */
static void split_long(void)
{
	static char stream[2 * USAGE_EVENT_MAX];
	static const char *usage = "\"usage\":{\"prompt_tokens\":3,\"total_tokens\":4}";
	static const char *tails[] = {"\n\n", "\r\n\r\n", "\r\r\n\n"};
	size_t failed = 0, known = 0, checked = 0;

	for (size_t t = 0; t < 3; t++) {
		for (int shift = -3; shift <= 3; shift++) {
			/* from the usage key to the event's end: USAGE_EVENT_MAX + SHIFT */
			size_t pad = USAGE_EVENT_MAX - strlen(usage) - 8 - strlen(tails[t]) + 3,
			       len, cut;
			struct usage want, u;

			pad = pad + (size_t)shift - 3;
			len = (size_t)sprintf(stream, "data: {%s,\"y\":\"", usage);
			memset(stream + len, 'b', pad);
			len += pad;
			len += (size_t)sprintf(stream + len, "\"}%sdata: [DONE]\n\n", tails[t]);
			usage_scan_stream(stream, len, false, &want);
			known += want.known;
			if (want.known != (shift < 0)) /* the key needs the byte before it */
				failed++;
			for (cut = 0; cut <= len; cut++) {
				u = feed_cut(stream, false, &cut, 1, NULL);
				failed += !same_usage(&u, &want);
			}
			u = feed_bytewise(stream, false);
			failed += !same_usage(&u, &want);
			checked++;
		}
	}
	tap_ok(failed == 0 && known == 9 && checked == 21,
	       "split: events at the USAGE_EVENT_MAX edge read alike however cut (%zu of %zu "
	       "with their usage key and the byte before it in the window, %zu differ)",
	       known, checked, failed);
}

#define OPENAI_USAGE(p, c, t, cached, reasoning)                                                 \
	"{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":[],\"usage\":{"       \
	"\"prompt_tokens\":" p ",\"completion_tokens\":" c ",\"total_tokens\":" t                \
	",\"prompt_tokens_details\":{\"cached_tokens\":" cached ",\"audio_tokens\":0},"          \
	"\"completion_tokens_details\":{\"reasoning_tokens\":" reasoning                         \
	",\"audio_tokens\":0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}" \
	"},\"system_fingerprint\":\"fp_1\"}"

/* BODY read with SH as without: the same usage; *HIT whether a shape read it. */
static bool shaped(struct usage_shapes *sh, const char *body, bool *hit)
{
	struct usage a, b;
	uint32_t hits = sh->hits;
	int ra = usage_scan_body(body, strlen(body), &a);
	int rb = usage_scan_body_shaped(body, strlen(body), sh, &b);

	*hit = sh->hits != hits;
	return ra == rb && same_usage(&a, &b);
}

static void shapes(void)
{
	static struct usage_shapes sh;
	struct usage u;
	bool hit;

	tap_ok(shaped(&sh, OPENAI_USAGE("22", "5", "27", "0", "0"), &hit) && !hit &&
	               sh.shape[0].len,
	       "shape: the first object is read in full and its shape kept");
	tap_ok(shaped(&sh, OPENAI_USAGE("123456", "78", "123534", "1024", "64"), &hit) && hit,
	       "shape: one laid out alike is read by it (longer counts)");
	usage_scan_body_shaped(OPENAI_USAGE("9", "1", "10", "3", "2"),
	                       strlen(OPENAI_USAGE("9", "1", "10", "3", "2")), &sh, &u);
	tap_ok(u.known && u.prompt == 9 && u.completion == 1 && u.total == 10 &&
	               u.cached_prompt == 3 && u.has_cached && u.reasoning == 2 && u.has_reasoning,
	       "shape: each count in its place");
	tap_ok(shaped(&sh, OPENAI_USAGE("05", "5", "27", "0", "0"), &hit) && !hit,
	       "shape: a leading zero is no count, by shape or not");
	tap_ok(shaped(&sh, OPENAI_USAGE("5.0", "5", "27", "0", "0"), &hit) && !hit,
	       "shape: a fraction is no count, by shape or not");
	tap_ok(shaped(&sh, OPENAI_USAGE("1234567890123456", "5", "27", "0", "0"), &hit) && !hit,
	       "shape: 16 digits are no count, by shape or not");
	tap_ok(shaped(&sh, OPENAI_USAGE("22", "5", "27", "null", "0"), &hit) && !hit,
	       "shape: a null where a count was: read in full");
	tap_ok(shaped(&sh,
	              "{\"usage\":{\"completion_tokens\":5,\"completion_tokens_details\":{"
	              "\"reasoning_tokens\":1},\"prompt_tokens\":7,\"total_tokens\":12}}",
	              &hit) &&
	               !hit,
	       "shape: another layout (Azure's order) read in full, its shape kept too");
	tap_ok(shaped(&sh,
	              "{\"usage\":{\"completion_tokens\":50,\"completion_tokens_details\":{"
	              "\"reasoning_tokens\":10},\"prompt_tokens\":70,\"total_tokens\":120}}",
	              &hit) &&
	               hit && shaped(&sh, OPENAI_USAGE("2", "5", "7", "null", "3"), &hit) && hit &&
	               shaped(&sh, OPENAI_USAGE("2", "5", "7", "0", "0"), &hit) && !hit,
	       "shape: the last two layouts kept, each read by its own (the third is read in "
	       "full)");
	tap_ok(shaped(&sh,
	              "{\"usage\":{\"completion_tokens\":50,\"completion_tokens_details\":{"
	              "\"reasoning_tokens\":10},\"prompt_tokens\":70,\"total_tokens\":120,"
	              "\"prompt_tokens\":3}}",
	              &hit) &&
	               !hit,
	       "shape: a longer object is not read by a shape that is its start");
}

static bool near(double a, double b)
{
	return fabs(a - b) <= 1e-12 * (fabs(b) > 1 ? fabs(b) : 1);
}

static void cost(void)
{
	struct usage u = {.known = true,
	                  .prompt = 1000,
	                  .completion = 500,
	                  .total = 1500,
	                  .cached_prompt = 400,
	                  .reasoning = 200,
	                  .has_cached = true,
	                  .has_reasoning = true};
	struct usage_price p = {.set = true,
	                        .input = 2.5e-6,
	                        .output = 10e-6,
	                        .has_input = true,
	                        .has_output = true};
	double v;

	tap_ok(near(usage_cost(&u, &p), 1000 * 2.5e-6 + 500 * 10e-6),
	       "no cache or reasoning price: cached at input, reasoning at output");
	p.cache_read = 1.25e-6;
	p.has_cache_read = true;
	tap_ok(near(usage_cost(&u, &p), 600 * 2.5e-6 + 400 * 1.25e-6 + 500 * 10e-6),
	       "cached prompt tokens at the cache price instead of the input price");
	p.reasoning = 20e-6;
	p.has_reasoning = true;
	tap_ok(near(usage_cost(&u, &p), 600 * 2.5e-6 + 400 * 1.25e-6 + 300 * 10e-6 + 200 * 20e-6),
	       "reasoning tokens at their price instead of the output price");
	u.has_cached = u.has_reasoning = false;
	tap_ok(near(usage_cost(&u, &p), 1000 * 2.5e-6 + 500 * 10e-6),
	       "details not reported: every token at the input and output price");
	u.has_cached = true;
	u.cached_prompt = 5000;
	tap_ok(near(usage_cost(&u, &p), 1000 * 1.25e-6 + 500 * 10e-6),
	       "more cached than prompt tokens: capped at the prompt");
	u.known = false;
	tap_ok(usage_cost(&u, &p) == 0, "unknown usage costs nothing");
	u.known = true;
	p = (struct usage_price){0};
	tap_ok(usage_cost(&u, &p) == 0, "no price configured: no cost");

	tap_ok(usage_price_parse("0.0000025", &v) && v == 0.0000025, "price: decimal");
	tap_ok(usage_price_parse("2.5e-06", &v) && v == 2.5e-6, "price: scientific");
	tap_ok(usage_price_parse("0", &v) && v == 0, "price: 0");
	tap_ok(!usage_price_parse("-1e-6", &v) && !usage_price_parse("abc", &v) &&
	               !usage_price_parse("", &v) && !usage_price_parse("inf", &v) &&
	               !usage_price_parse("nan", &v) && !usage_price_parse("1e-6x", &v),
	       "price: negative, words, empty, inf, nan, trailing bytes refused");
}

int main(void)
{
	bodies();
	streams();
	stream_splits();
	split_exhaustive();
	split_long();
	shapes();
	cost();
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}
