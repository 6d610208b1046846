/*
 * Unit tests of worker/otlp_proto.c: batches of one and of many spans
 * decoded back by a strict, generic protobuf wire reader written here (tags,
 * wire types, varints, fixed64, lengths that must fit their parent), then
 * mapped by opentelemetry-proto's field numbers: the request's nesting, the
 * resource and scope, each span's ids as raw bytes, name, kind, times,
 * parent, trace state, status, every attribute of the table by type (also
 * those given as pre-encoded bytes), and strings made valid UTF-8.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_proto.h"
#include "tap.h"

/* --- the wire reader ------------------------------------------------- */

struct rd {
	const uint8_t *p, *end;
	bool bad; /* malformed: a test fails on it */
};

struct field {
	unsigned num, wt;
	uint64_t v;          /* VARINT, I64 */
	const uint8_t *data; /* LEN */
	size_t len;
};

static bool varint(struct rd *r, uint64_t *ret)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 70; shift += 7) {
		uint8_t b;

		if (r->p >= r->end)
			break;
		b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*ret = v;
			return true;
		}
	}
	r->bad = true;
	return false;
}

/* The next field, false at the end or when malformed (R->bad). */
static bool next(struct rd *r, struct field *f)
{
	uint64_t key;

	if (r->bad || r->p >= r->end || !varint(r, &key))
		return false;
	f->num = (unsigned)(key >> 3);
	f->wt = (unsigned)(key & 7);
	if (f->num == 0)
		goto bad;
	switch (f->wt) {
	case 0:
		return varint(r, &f->v);
	case 1:
		if (r->end - r->p < 8)
			goto bad;
		f->v = 0;
		for (int i = 0; i < 8; i++)
			f->v |= (uint64_t)r->p[i] << (8 * i);
		r->p += 8;
		return true;
	case 2:
		if (!varint(r, &f->v) || f->v > (uint64_t)(r->end - r->p))
			goto bad;
		f->data = r->p;
		f->len = (size_t)f->v;
		r->p += f->len;
		return true;
	default:
		goto bad;
	}
bad:
	r->bad = true;
	return false;
}

static struct rd sub(const struct field *f)
{
	return (struct rd){f->data, f->data + f->len, false};
}

/* --- mapped to OTLP -------------------------------------------------- */

struct attr {
	char key[64];
	bool is_int;
	int64_t i;
	char s[256]; /* a string value, when shorter */
	size_t len;  /* a string value's length */
};

struct span {
	uint8_t trace_id[16], span_id[8], parent[8];
	size_t trace_id_len, span_id_len, parent_len;
	char name[256], state[256];
	bool has_state;
	unsigned kind;
	uint64_t start, end;
	int status; /* -1: none */
	struct attr attrs[32];
	size_t n_attrs;
	bool bad;
};

static void copy_str(char *dst, size_t cap, const struct field *f, bool *bad)
{
	if (f->wt != 2 || f->len >= cap) {
		*bad = true;
		return;
	}
	memcpy(dst, f->data, f->len);
	dst[f->len] = '\0';
}

static void read_kv(const struct field *f, struct attr *a, bool *bad)
{
	struct rd r = sub(f), v;
	struct field g = {0}, h = {0};
	int values = 0;

	*a = (struct attr){0};
	while (next(&r, &g)) {
		if (g.num == 1) {
			copy_str(a->key, sizeof(a->key), &g, bad);
		} else if (g.num == 2 && g.wt == 2) {
			v = sub(&g);
			while (next(&v, &h)) {
				values++;
				if (h.num == 1 && h.wt == 2 && h.len >= sizeof(a->s))
					a->len = h.len; /* too long to keep: its length */
				else if (h.num == 1)
					copy_str(a->s, sizeof(a->s), &h, bad), a->len = h.len;
				else if (h.num == 3 && h.wt == 0)
					a->is_int = true, a->i = (int64_t)h.v;
				else
					*bad = true;
			}
			*bad |= v.bad;
		} else {
			*bad = true;
		}
	}
	*bad |= r.bad || values != 1;
}

static void read_span(const struct field *f, struct span *s)
{
	struct rd r = sub(f), st;
	struct field g = {0}, h = {0};

	*s = (struct span){.status = -1};
	while (next(&r, &g)) {
		switch (g.num) {
		case 1:
			s->trace_id_len = g.len;
			if (g.wt == 2 && g.len == 16)
				memcpy(s->trace_id, g.data, 16);
			break;
		case 2:
			s->span_id_len = g.len;
			if (g.wt == 2 && g.len == 8)
				memcpy(s->span_id, g.data, 8);
			break;
		case 3:
			s->has_state = true;
			copy_str(s->state, sizeof(s->state), &g, &s->bad);
			break;
		case 4:
			s->parent_len = g.len;
			if (g.wt == 2 && g.len == 8)
				memcpy(s->parent, g.data, 8);
			break;
		case 5:
			copy_str(s->name, sizeof(s->name), &g, &s->bad);
			break;
		case 6:
			s->kind = (unsigned)g.v;
			s->bad |= g.wt != 0;
			break;
		case 7:
			s->start = g.v;
			s->bad |= g.wt != 1;
			break;
		case 8:
			s->end = g.v;
			s->bad |= g.wt != 1;
			break;
		case 9:
			if (s->n_attrs < 32)
				read_kv(&g, &s->attrs[s->n_attrs++], &s->bad);
			break;
		case 15:
			st = sub(&g);
			while (next(&st, &h))
				if (h.num == 3 && h.wt == 0)
					s->status = (int)h.v;
			s->bad |= st.bad;
			break;
		default:
			s->bad = true;
		}
	}
	s->bad |= r.bad;
}

static const struct attr *attr(const struct span *s, const char *key)
{
	const struct attr *found = NULL;

	for (size_t i = 0; i < s->n_attrs; i++)
		if (strcmp(s->attrs[i].key, key) == 0) {
			if (found)
				return NULL; /* twice: as wrong as missing */
			found = &s->attrs[i];
		}
	return found;
}

/* A whole request: its resource's attributes, its scope, its spans. */
struct batch {
	struct attr resource[4];
	size_t n_resource;
	char scope_name[64], scope_version[64];
	struct span *spans;
	size_t n_spans;
	bool bad;
};

static void read_batch(const char *data, size_t len, struct batch *b, size_t cap)
{
	struct rd req = {(const uint8_t *)data, (const uint8_t *)data + len, false}, rs, ss, x;
	struct field f = {0}, g = {0}, h = {0}, k = {0};
	int n_rs = 0;

	while (next(&req, &f)) {
		if (f.num != 1 || f.wt != 2 || n_rs++) {
			b->bad = true;
			continue;
		}
		rs = sub(&f);
		while (next(&rs, &g)) {
			if (g.num == 1 && g.wt == 2) {
				x = sub(&g);
				while (next(&x, &h))
					if (h.num == 1 && b->n_resource < 4)
						read_kv(&h, &b->resource[b->n_resource++], &b->bad);
				b->bad |= x.bad;
			} else if (g.num == 2 && g.wt == 2) {
				ss = sub(&g);
				while (next(&ss, &h)) {
					if (h.num == 1 && h.wt == 2) {
						x = sub(&h);
						while (next(&x, &k))
							copy_str(k.num == 1 ? b->scope_name
							                    : b->scope_version,
							         64, &k, &b->bad);
						b->bad |= x.bad;
					} else if (h.num == 2 && h.wt == 2 && b->n_spans < cap) {
						read_span(&h, &b->spans[b->n_spans++]);
					} else {
						b->bad = true;
					}
				}
				b->bad |= ss.bad;
			} else {
				b->bad = true;
			}
		}
		b->bad |= rs.bad;
	}
	b->bad |= req.bad || n_rs != 1;
}

/* --- the tests ------------------------------------------------------- */

static void encode(const struct trace_span *spans, size_t n, struct otlp_buf *out)
{
	struct otlp_buf q = {0};
	size_t max = otlp_proto_head_max("svc \xff", "0.1.0"), head;

	otlp_buf_reserve(out, max);
	for (size_t i = 0; i < n; i++) {
		struct trace_span c = spans[i];

		trace_span_name(&c, c.name_op, strlen(c.name_op), c.name_model,
		                c.name_model ? strlen(c.name_model) : 0);
		otlp_proto_span(&q, &c);
	}
	head = otlp_proto_head(out->data, "svc \xff", "0.1.0", q.len);
	tap_ok(head <= max, "the head fits its bound (%zu <= %zu)", head, max);
	out->len = head;
	otlp_buf_add(out, q.data, q.len);
	otlp_buf_free(&q);
}

static void test_every_attribute(void)
{
	static const char model[] = "gpt-\"4o\"\n\xc3\xa9\xff";
	static const char state[] = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
	struct trace_span s[2] = {
	        {.kind = TRACE_KIND_SERVER,
	         .trace_id = {0x4b, [15] = 0x36},
	         .span_id = {1, 2, 3, 4, 5, 6, 7, 8},
	         .parent_id = {0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0, 1},
	         .has_parent = true,
	         .name_op = "chat",
	         .name_model = model,
	         .trace_state = state,
	         .trace_state_len = sizeof(state) - 1,
	         .start_ns = 1700000000123456789,
	         .end_ns = 1700000000223456789,
	         .error = true},
	        {.kind = TRACE_KIND_CLIENT,
	         .trace_id = {0x4b, [15] = 0x36},
	         .span_id = {9, 9, 9, 9, 9, 9, 9, 9},
	         .parent_id = {1, 2, 3, 4, 5, 6, 7, 8},
	         .has_parent = true,
	         .name_op = "embeddings",
	         .start_ns = 1,
	         .end_ns = 2},
	};
	struct otlp_buf out = {0}, pre = {0}, pre2 = {0};
	struct span got[2];
	struct batch b = {.spans = got};
	const struct attr *a;
	bool all = true;

	/* every attribute of the table on the first span */
	for (int k = 0; k < TRACE_ATTR__COUNT; k++)
		if (trace_attrs[k].type == TRACE_ATTR_STRING)
			trace_span_str(&s[0], (enum trace_attr)k, trace_attrs[k].key,
			               trace_attrs[k].key_len);
		else
			trace_span_int(&s[0], (enum trace_attr)k, 1000 + k);
	trace_span_str(&s[0], TRACE_ATTR_REQUEST_MODEL, model, sizeof(model) - 1);
	trace_span_int(&s[0], TRACE_ATTR_INPUT_TOKENS, 0);
	trace_span_int(&s[0], TRACE_ATTR_OUTPUT_TOKENS, (int64_t)1 << 40);
	/* the second: two attributes as pre-encoded bytes, one encoded here */
	otlp_proto_attr_string(&pre, TRACE_ATTR_DEPLOYMENT, "dep-1", 5);
	otlp_proto_attr_int(&pre2, TRACE_ATTR_SERVER_PORT, -1);
	tap_ok(otlp_proto_piece_pad(&pre) == 0 && otlp_proto_piece_pad(&pre2) == 0,
	       "pieces padded");
	trace_span_str(&s[1], TRACE_ATTR_DEPLOYMENT, "ignored", 7);
	trace_span_int(&s[1], TRACE_ATTR_SERVER_PORT, 7);
	trace_span_int(&s[1], TRACE_ATTR_ATTEMPT, 2);
	trace_span_pre(&s[1], 1u << TRACE_ATTR_DEPLOYMENT,
	               (struct trace_bytes){pre.data, pre.len}); /* in two pieces */
	trace_span_pre(&s[1], 1u << TRACE_ATTR_SERVER_PORT,
	               (struct trace_bytes){pre2.data, pre2.len});

	encode(s, 2, &out);
	read_batch(out.data, out.len, &b, 2);
	tap_ok(!b.bad && !got[0].bad && !got[1].bad, "the batch is well-formed protobuf");
	tap_ok(b.n_resource == 2 && strcmp(b.resource[0].key, "service.name") == 0 &&
	               strcmp(b.resource[0].s, "svc \xef\xbf\xbd") == 0 &&
	               strcmp(b.resource[1].key, "service.version") == 0 &&
	               strcmp(b.resource[1].s, "0.1.0") == 0,
	       "resource: service.name (made valid UTF-8) and service.version");
	tap_str(b.scope_name, "llmgate", "scope name");
	tap_str(b.scope_version, "0.1.0", "scope version");
	if (!tap_ok(b.n_spans == 2, "two spans"))
		goto out;
	tap_ok(got[0].trace_id_len == 16 && memcmp(got[0].trace_id, s[0].trace_id, 16) == 0,
	       "trace id: 16 raw bytes");
	tap_ok(got[0].span_id_len == 8 && memcmp(got[0].span_id, s[0].span_id, 8) == 0,
	       "span id: 8 raw bytes");
	tap_ok(got[0].parent_len == 8 && memcmp(got[0].parent, s[0].parent_id, 8) == 0,
	       "parent span id");
	tap_str(got[0].name, "chat gpt-\"4o\"\n\xc3\xa9\xef\xbf\xbd",
	        "the name: kept as it is, invalid UTF-8 replaced");
	tap_str(got[1].name, "embeddings", "a name without model");
	tap_ok(got[0].kind == 2 && got[1].kind == 3, "kinds SERVER and CLIENT");
	tap_ok(got[0].start == 1700000000123456789ULL && got[0].end == 1700000000223456789ULL,
	       "times as fixed64 nanoseconds");
	tap_ok(got[0].has_state && strcmp(got[0].state, state) == 0 && !got[1].has_state,
	       "trace state only where set");
	tap_ok(got[0].status == 2 && got[1].status == -1, "an error's status code 2, else none");
	tap_ok(got[0].n_attrs == TRACE_ATTR__COUNT, "every attribute once (%zu of %d)",
	       got[0].n_attrs, TRACE_ATTR__COUNT);
	for (int k = 0; k < TRACE_ATTR__COUNT; k++) {
		a = attr(&got[0], trace_attrs[k].key);
		if (!a || a->is_int != (trace_attrs[k].type == TRACE_ATTR_INT)) {
			all = false;
			printf("# %s missing or of the wrong type\n", trace_attrs[k].key);
		}
	}
	tap_ok(all, "each attribute under its key with its type");
	a = attr(&got[0], "gen_ai.request.model");
	tap_ok(a && strcmp(a->s, "gpt-\"4o\"\n\xc3\xa9\xef\xbf\xbd") == 0,
	       "a string attribute, made valid UTF-8");
	a = attr(&got[0], "llmgate.route");
	tap_ok(a && strcmp(a->s, "llmgate.route") == 0, "a string attribute");
	a = attr(&got[0], "gen_ai.usage.input_tokens");
	tap_ok(a && a->i == 0, "an integer 0");
	a = attr(&got[0], "gen_ai.usage.output_tokens");
	tap_ok(a && a->i == (int64_t)1 << 40, "an integer past 32 bits");
	tap_ok(got[1].n_attrs == 3, "pre-encoded attributes replace their values");
	a = attr(&got[1], "llmgate.deployment");
	tap_ok(a && strcmp(a->s, "dep-1") == 0, "a pre-encoded string");
	a = attr(&got[1], "server.port");
	tap_ok(a && a->is_int && a->i == -1, "a pre-encoded negative integer (10-byte varint)");
	a = attr(&got[1], "llmgate.attempt");
	tap_ok(a && a->i == 2, "and one encoded with the span");
out:
	otlp_buf_free(&pre);
	otlp_buf_free(&pre2);
	otlp_buf_free(&out);
}

/* Many spans with long strings: lengths of two and three varint bytes at
 * every level, each span whole and in order. */
static void test_many(void)
{
	enum { N = 700 };
	static char big[300];
	struct trace_span *s = calloc(N, sizeof(*s));
	struct span *got = calloc(N, sizeof(*got));
	struct otlp_buf out = {0};
	struct batch b = {.spans = got};
	bool ok = true;

	memset(big, 'x', sizeof(big) - 1);
	for (int i = 0; i < N; i++) {
		s[i].kind = TRACE_KIND_SERVER;
		s[i].trace_id[0] = (uint8_t)i;
		s[i].trace_id[1] = (uint8_t)(i >> 8);
		s[i].span_id[7] = 1;
		s[i].name_op = "chat";
		s[i].start_ns = i;
		s[i].end_ns = i + 1;
		trace_span_str(&s[i], TRACE_ATTR_REQUEST_ID, big, (size_t)(i % 200) + 1);
		trace_span_int(&s[i], TRACE_ATTR_ATTEMPTS, i);
	}
	encode(s, N, &out);
	tap_ok(out.len > 1 << 17, "the batch is over 128 KiB (%zu bytes)", out.len);
	read_batch(out.data, out.len, &b, N);
	tap_ok(!b.bad && b.n_spans == N, "%d spans read back", N);
	for (size_t i = 0; i < b.n_spans && ok; i++) {
		const struct attr *id = attr(&got[i], "llmgate.request_id");

		ok = !got[i].bad && got[i].trace_id[0] == (uint8_t)i &&
		     got[i].trace_id[1] == (uint8_t)(i >> 8) && got[i].start == i && id &&
		     strlen(id->s) == i % 200 + 1 && attr(&got[i], "llmgate.attempts")->i == (int)i;
		if (!ok)
			printf("# span %zu differs\n", i);
	}
	tap_ok(ok, "each span whole, in order");
	/* one byte short: the reader must see a cut field */
	memset(&b, 0, sizeof(b));
	b.spans = got;
	read_batch(out.data, out.len - 1, &b, N);
	tap_ok(b.bad, "the reader refuses a batch cut by one byte");
	otlp_buf_free(&out);
	free(s);
	free(got);
}

static void test_one(void)
{
	struct trace_span s = {.kind = TRACE_KIND_CLIENT,
	                       .trace_id = {1},
	                       .span_id = {2},
	                       .name_op = "responses",
	                       .start_ns = 5,
	                       .end_ns = 6};
	struct otlp_buf out = {0};
	struct span got;
	struct batch b = {.spans = &got};

	encode(&s, 1, &out);
	read_batch(out.data, out.len, &b, 1);
	tap_ok(!b.bad && b.n_spans == 1 && got.n_attrs == 0 && got.parent_len == 0 &&
	               got.status == -1 && strcmp(got.name, "responses") == 0,
	       "a batch of one bare span: no parent, no attributes, no status");
	otlp_buf_free(&out);
}

/* A span over 16 KiB (its length prefix is then not the usual 3 bytes) between two
 * usual ones: all three whole. */
static void test_huge(void)
{
	enum { BIG = 20000 };
	char *model = malloc(BIG + 1);
	struct trace_span s[3];
	struct otlp_buf out = {0};
	struct span *got = calloc(3, sizeof(*got));
	struct batch b = {.spans = got};

	memset(model, 'm', BIG);
	model[BIG] = '\0';
	for (int i = 0; i < 3; i++) {
		s[i] = (struct trace_span){.kind = TRACE_KIND_SERVER,
		                           .trace_id = {1, (uint8_t)i},
		                           .span_id = {2},
		                           .name_op = "chat",
		                           .start_ns = i,
		                           .end_ns = i};
		trace_span_str(&s[i], TRACE_ATTR_REQUEST_ID, "0123456789abcdef0123456789abcdef",
		               32);
		trace_span_str(&s[i], TRACE_ATTR_ROUTE, "primary", 7);
		trace_span_int(&s[i], TRACE_ATTR_HTTP_STATUS, 200);
	}
	trace_span_str(&s[1], TRACE_ATTR_REQUEST_MODEL, model, BIG);
	encode(s, 3, &out);
	read_batch(out.data, out.len, &b, 3);
	tap_ok(!b.bad && b.n_spans == 3 && !got[0].bad && !got[1].bad && !got[2].bad &&
	               got[2].trace_id[1] == 2 && got[2].start == 2 &&
	               attr(&got[1], "gen_ai.request.model") &&
	               attr(&got[1], "gen_ai.request.model")->len == BIG &&
	               attr(&got[1], "llmgate.route") && attr(&got[2], "llmgate.route"),
	       "a span over 16 KiB between two usual ones: the batch reads whole");
	otlp_buf_free(&out);
	free(got);
	free(model);
}

int main(void)
{
	test_huge();
	test_every_attribute();
	test_many();
	test_one();
	return tap_done();
}
