/*
 * config_yaml: builds the located node tree of config_yaml.h from libyaml
 * parser events. Runs wherever a config is loaded (supervisor, --check,
 * probe); never logs.
 *
 * The builder keeps an explicit stack of open collections, so no recursion
 * follows the input while parsing. Invariants that make the recursive helpers
 * (copy, free) safe on hostile input: no node is deeper than
 * CONFIG_YAML_MAX_DEPTH (an alias only expands where depth + its height fits),
 * the tree holds at most CONFIG_YAML_MAX_NODES nodes counting alias copies,
 * and no node is shared (anchors keep private copies, aliases copy them).
 */
#include "config_yaml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define TAG_PREFIX "tag:yaml.org,2002:"
/* Merging compares keys pairwise: bounded so a hostile merge stays cheap. */
#define MERGE_MAX_KEYS 1024
/* Up to this many pairs a mapping's duplicate keys are found pairwise, more
 * are sorted. */
#define SETTLE_PAIRWISE 16

struct anchor {
	char *name;
	struct config_yaml_node *node; /* a private copy, never part of the tree */
	int height;
};

struct frame {
	struct config_yaml_node *node;
	struct config_yaml_node *key; /* mapping: the key awaiting its value */
	char *anchor;
	int height; /* of the subtree so far: 1 + the highest child */
};

struct builder {
	const char *file;
	const char *data;
	size_t len;
	struct diag_list *diags;
	struct frame stack[CONFIG_YAML_MAX_DEPTH];
	size_t depth;
	struct config_yaml_node *root;
	struct anchor *anchors;
	size_t n_anchors, cap_anchors;
	size_t n_nodes;
	int documents;
	int error; /* 0, -EINVAL or -ENOMEM */
};

static const char *const kind_names[CONFIG_YAML__COUNT] = {
        [CONFIG_YAML_SCALAR] = "a string",
        [CONFIG_YAML_MAPPING] = "a mapping",
        [CONFIG_YAML_SEQUENCE] = "a list",
};

const char *config_yaml_kind_name(enum config_yaml_kind kind)
{
	if ((unsigned)kind >= CONFIG_YAML__COUNT)
		return "a node";
	return kind_names[kind];
}

bool config_yaml_is_null(const struct config_yaml_node *node)
{
	if (!node)
		return true;
	if (node->kind != CONFIG_YAML_SCALAR || !node->plain)
		return false;
	return node->len == 0 || strcmp(node->value, "~") == 0 ||
	       strcmp(node->value, "null") == 0 || strcmp(node->value, "Null") == 0 ||
	       strcmp(node->value, "NULL") == 0;
}

void config_yaml_free(struct config_yaml_node *node)
{
	if (!node)
		return;
	free(node->value);
	for (size_t i = 0; i < node->n_pairs; i++) {
		config_yaml_free(node->pairs[i].key);
		config_yaml_free(node->pairs[i].value);
	}
	free(node->pairs);
	for (size_t i = 0; i < node->n_items; i++)
		config_yaml_free(node->items[i]);
	free(node->items);
	free(node);
}

__attribute__((format(printf, 5, 6))) static void fail(struct builder *b, int error, int line,
                                                       int col, const char *fmt, ...)
{
	char message[256];
	va_list ap;

	if (b->error)
		return;
	b->error = error;
	if (error == -ENOMEM) {
		diag_add(b->diags, DIAG_ERROR, b->file, line, col,
		         "out of memory reading the file");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	diag_add(b->diags, DIAG_ERROR, b->file, line, col, "%s", message);
}

static struct config_yaml_node *node_new(struct builder *b, enum config_yaml_kind kind, int line,
                                         int col)
{
	struct config_yaml_node *node;

	if (b->n_nodes >= CONFIG_YAML_MAX_NODES) {
		fail(b, -EINVAL, line, col,
		     "the document has more than %d nodes (aliases included)",
		     CONFIG_YAML_MAX_NODES);
		return NULL;
	}
	node = calloc(1, sizeof(*node));
	if (!node) {
		fail(b, -ENOMEM, line, col, "%s", "");
		return NULL;
	}
	b->n_nodes++;
	node->kind = kind;
	node->line = line;
	node->col = col;
	return node;
}

static struct config_yaml_node *copy_node(struct builder *b, const struct config_yaml_node *src)
{
	struct config_yaml_node *dst = node_new(b, src->kind, src->line, src->col);

	if (!dst)
		return NULL;
	dst->plain = src->plain;
	if (src->value) {
		dst->value = malloc(src->len + 1);
		if (!dst->value)
			goto oom;
		memcpy(dst->value, src->value, src->len + 1);
		dst->len = src->len;
	}
	if (src->n_pairs) {
		dst->pairs = calloc(src->n_pairs, sizeof(*dst->pairs));
		if (!dst->pairs)
			goto oom;
		dst->cap = src->n_pairs;
		for (size_t i = 0; i < src->n_pairs; i++) {
			struct config_yaml_node *k = copy_node(b, src->pairs[i].key);
			struct config_yaml_node *v = k ? copy_node(b, src->pairs[i].value) : NULL;

			if (!v) {
				config_yaml_free(k);
				goto fail;
			}
			dst->pairs[i].key = k;
			dst->pairs[i].value = v;
			dst->pairs[i].first = src->pairs[i].first;
			dst->pairs[i].later = src->pairs[i].later;
			dst->n_pairs = i + 1;
		}
	}
	if (src->n_items) {
		dst->items = calloc(src->n_items, sizeof(*dst->items));
		if (!dst->items)
			goto oom;
		dst->cap = src->n_items;
		for (size_t i = 0; i < src->n_items; i++) {
			dst->items[i] = copy_node(b, src->items[i]);
			if (!dst->items[i])
				goto fail;
			dst->n_items = i + 1;
		}
	}
	return dst;
oom:
	fail(b, -ENOMEM, src->line, src->col, "%s", "");
fail:
	config_yaml_free(dst);
	return NULL;
}

static int grow(void *ptr, size_t *cap, size_t n, size_t size)
{
	void **p = ptr;
	size_t new_cap;
	void *q;

	if (n < *cap)
		return 0;
	new_cap = *cap ? *cap * 2 : 4;
	if (new_cap > SIZE_MAX / size)
		return -ENOMEM;
	q = realloc(*p, new_cap * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = new_cap;
	return 0;
}

static int append_item(struct config_yaml_node *seq, struct config_yaml_node *item)
{
	if (grow(&seq->items, &seq->cap, seq->n_items, sizeof(*seq->items)) < 0)
		return -ENOMEM;
	seq->items[seq->n_items++] = item;
	return 0;
}

static int append_pair(struct config_yaml_node *map, struct config_yaml_node *key,
                       struct config_yaml_node *value)
{
	if (grow(&map->pairs, &map->cap, map->n_pairs, sizeof(*map->pairs)) < 0)
		return -ENOMEM;
	map->pairs[map->n_pairs].key = key;
	map->pairs[map->n_pairs].value = value;
	map->n_pairs++;
	return 0;
}

static bool is_merge_key(const struct config_yaml_node *key)
{
	return key->kind == CONFIG_YAML_SCALAR && key->plain && strcmp(key->value, "<<") == 0;
}

static bool has_key(const struct config_yaml_pair *pairs, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (pairs[i].key && !is_merge_key(pairs[i].key) &&
		    strcmp(pairs[i].key->value, key) == 0)
			return true;
	return false;
}

/* Moves the pairs of SRC whose keys MAP lacks into OUT (which is checked
 * against too, so the first merged mapping wins, as in PyYAML). */
static int merge_from(struct config_yaml_node *map, struct config_yaml_node *src,
                      struct config_yaml_node *out)
{
	for (size_t i = 0; i < src->n_pairs; i++) {
		struct config_yaml_pair *p = &src->pairs[i];

		if (!p->key || is_merge_key(p->key))
			continue;
		if (has_key(map->pairs, map->n_pairs, p->key->value) ||
		    has_key(out->pairs, out->n_pairs, p->key->value))
			continue;
		if (append_pair(out, p->key, p->value) < 0)
			return -ENOMEM;
		p->key = NULL;
		p->value = NULL;
	}
	return 0;
}

/* Resolves `<<` keys of a finished mapping: merged pairs first, then the
 * mapping's own pairs, which win. */
static void resolve_merges(struct builder *b, struct config_yaml_node *map)
{
	struct config_yaml_node merged = {.kind = CONFIG_YAML_MAPPING};
	struct config_yaml_pair *pairs;
	size_t n = 0, total = 0;
	bool any = false;

	for (size_t i = 0; i < map->n_pairs; i++) {
		const struct config_yaml_node *v = map->pairs[i].value;

		if (!is_merge_key(map->pairs[i].key))
			continue;
		any = true;
		total += v->n_pairs;
		for (size_t j = 0; j < v->n_items; j++)
			total += v->items[j]->n_pairs;
	}
	if (!any)
		return;
	if (total + map->n_pairs > MERGE_MAX_KEYS) {
		fail(b, -EINVAL, map->line, map->col,
		     "a mapping with '<<' merges may hold at most %d keys", MERGE_MAX_KEYS);
		return;
	}

	for (size_t i = 0; i < map->n_pairs && !b->error; i++) {
		struct config_yaml_node *v = map->pairs[i].value;

		if (!is_merge_key(map->pairs[i].key))
			continue;
		if (v->kind == CONFIG_YAML_MAPPING) {
			if (merge_from(map, v, &merged) < 0)
				fail(b, -ENOMEM, v->line, v->col, "%s", "");
			continue;
		}
		if (v->kind == CONFIG_YAML_SEQUENCE) {
			for (size_t j = 0; j < v->n_items && !b->error; j++) {
				if (v->items[j]->kind != CONFIG_YAML_MAPPING)
					fail(b, -EINVAL, v->items[j]->line, v->items[j]->col, "%s",
					     "a '<<' merge list may only contain mappings");
				else if (merge_from(map, v->items[j], &merged) < 0)
					fail(b, -ENOMEM, v->line, v->col, "%s", "");
			}
			continue;
		}
		fail(b, -EINVAL, v->line, v->col, "%s",
		     "a '<<' merge value must be a mapping or a list of mappings");
	}

	total = merged.n_pairs + map->n_pairs;
	pairs = calloc(total, sizeof(*pairs));
	if (!pairs) {
		fail(b, -ENOMEM, map->line, map->col, "%s", "");
		/* Keep the tree consistent: the merged pairs still need freeing. */
		for (size_t i = 0; i < merged.n_pairs; i++) {
			config_yaml_free(merged.pairs[i].key);
			config_yaml_free(merged.pairs[i].value);
		}
		free(merged.pairs);
		return;
	}
	for (size_t i = 0; i < merged.n_pairs; i++)
		pairs[n++] = merged.pairs[i];
	for (size_t i = 0; i < map->n_pairs; i++) {
		if (is_merge_key(map->pairs[i].key)) {
			config_yaml_free(map->pairs[i].key);
			config_yaml_free(map->pairs[i].value);
		} else {
			pairs[n++] = map->pairs[i];
		}
	}
	free(merged.pairs);
	free(map->pairs);
	map->pairs = pairs;
	map->n_pairs = n;
	map->cap = total;
}

/* Pairs by key, then by place. */
static int by_key(const void *a, const void *b)
{
	const struct config_yaml_pair *x = *(const struct config_yaml_pair *const *)a;
	const struct config_yaml_pair *y = *(const struct config_yaml_pair *const *)b;
	int r = strcmp(x->key->value, y->key->value);

	return r ? r : (x > y) - (x < y);
}

/* Settles the duplicate keys of a finished MAP (its merges resolved): each
 * pair learns its key's first pair and whether a later one follows. */
static void settle_keys(struct builder *b, struct config_yaml_node *map)
{
	struct config_yaml_pair *p = map->pairs, **order;
	size_t n = map->n_pairs;

	for (size_t i = 0; i < n; i++) {
		p[i].first = i;
		p[i].later = false;
	}
	if (n <= SETTLE_PAIRWISE) {
		for (size_t i = 1; i < n; i++)
			for (size_t j = i; j-- > 0;)
				if (strcmp(p[j].key->value, p[i].key->value) == 0) {
					p[i].first = p[j].first;
					p[j].later = true;
					break;
				}
		return;
	}
	order = malloc(n * sizeof(*order));
	if (!order) {
		fail(b, -ENOMEM, map->line, map->col, "%s", "");
		return;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = &p[i];
	qsort(order, n, sizeof(*order), by_key);
	for (size_t i = 1; i < n; i++)
		if (strcmp(order[i - 1]->key->value, order[i]->key->value) == 0) {
			order[i]->first = order[i - 1]->first;
			order[i - 1]->later = true;
		}
	free(order);
}

bool config_yaml_next_key(const struct config_yaml_node *map, enum config_yaml_dups rule,
                          size_t *pos, struct config_yaml_key *ret)
{
	if (config_yaml_is_null(map) || map->kind != CONFIG_YAML_MAPPING)
		return false;
	while (*pos < map->n_pairs) {
		size_t i = (*pos)++;
		const struct config_yaml_pair *p = &map->pairs[i];
		bool repeated = p->first != i;
		bool read = !p->later && (rule == CONFIG_YAML_LATER_WINS || !repeated);

		if (!read && !repeated)
			continue; /* a first pair whose key comes again: settled there */
		*ret = (struct config_yaml_key){
		        .pair = read ? p : NULL,
		        .again = repeated ? p : NULL,
		        .first = &map->pairs[p->first],
		};
		return true;
	}
	return false;
}

static int node_height(const struct config_yaml_node *node)
{
	int h = 0;

	for (size_t i = 0; i < node->n_pairs; i++) {
		int k = node_height(node->pairs[i].value);

		if (k > h)
			h = k;
	}
	for (size_t i = 0; i < node->n_items; i++) {
		int k = node_height(node->items[i]);

		if (k > h)
			h = k;
	}
	return node->kind == CONFIG_YAML_SCALAR ? 1 : h + 1;
}

static void add_anchor(struct builder *b, char *name, const struct config_yaml_node *node)
{
	struct config_yaml_node *copy;

	if (!name)
		return;
	copy = copy_node(b, node);
	if (!copy) {
		free(name);
		return;
	}
	for (size_t i = 0; i < b->n_anchors; i++) {
		if (strcmp(b->anchors[i].name, name) == 0) {
			/* YAML lets a later anchor reuse a name; aliases after it
			 * mean the new node. */
			config_yaml_free(b->anchors[i].node);
			free(name);
			b->anchors[i].node = copy;
			b->anchors[i].height = node_height(copy);
			return;
		}
	}
	if (grow(&b->anchors, &b->cap_anchors, b->n_anchors, sizeof(*b->anchors)) < 0) {
		config_yaml_free(copy);
		free(name);
		fail(b, -ENOMEM, node->line, node->col, "%s", "");
		return;
	}
	b->anchors[b->n_anchors].name = name;
	b->anchors[b->n_anchors].node = copy;
	b->anchors[b->n_anchors].height = node_height(copy);
	b->n_anchors++;
}

/* Hands a finished node to its parent (or makes it the root). Takes
 * ownership of NODE in every case. */
static void attach(struct builder *b, struct config_yaml_node *node, int height)
{
	struct frame *top;
	int r = 0;

	if (b->depth == 0) {
		if (b->root)
			config_yaml_free(b->root);
		b->root = node;
		return;
	}
	top = &b->stack[b->depth - 1];
	if (height + 1 > top->height)
		top->height = height + 1;
	if (top->node->kind == CONFIG_YAML_SEQUENCE) {
		r = append_item(top->node, node);
	} else if (!top->key) {
		if (node->kind != CONFIG_YAML_SCALAR) {
			fail(b, -EINVAL, node->line, node->col,
			     "a mapping key must be a string, not %s",
			     config_yaml_kind_name(node->kind));
			config_yaml_free(node);
			return;
		}
		top->key = node;
		return;
	} else {
		r = append_pair(top->node, top->key, node);
		if (r == 0)
			top->key = NULL;
	}
	if (r < 0) {
		fail(b, -ENOMEM, node->line, node->col, "%s", "");
		config_yaml_free(node);
	}
}

static char *dup_anchor(struct builder *b, const yaml_char_t *anchor, const yaml_mark_t *mark)
{
	char *copy;

	if (!anchor)
		return NULL;
	copy = strdup((const char *)anchor);
	if (!copy)
		fail(b, -ENOMEM, (int)mark->line + 1, (int)mark->column + 1, "%s", "");
	return copy;
}

/* Standard tags keep their meaning; local tags such as `!ENV` have no
 * constructor in LiteLLM's safe loader either, so they are refused. */
static bool check_tag(struct builder *b, const yaml_char_t *tag, int line, int col)
{
	if (!tag || strcmp((const char *)tag, "!") == 0 ||
	    strncmp((const char *)tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0)
		return true;
	fail(b, -EINVAL, line, col, "unsupported YAML tag '%.64s' (only standard tags are allowed)",
	     (const char *)tag);
	return false;
}

static void on_scalar(struct builder *b, const yaml_event_t *ev, int line, int col)
{
	const char *tag = (const char *)ev->data.scalar.tag;
	struct config_yaml_node *node;
	char *anchor;

	if (!check_tag(b, ev->data.scalar.tag, line, col))
		return;
	if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length)) {
		fail(b, -EINVAL, line, col, "%s", "a string contains a NUL character");
		return;
	}
	node = node_new(b, CONFIG_YAML_SCALAR, line, col);
	if (!node)
		return;
	node->value = malloc(ev->data.scalar.length + 1);
	if (!node->value) {
		config_yaml_free(node);
		fail(b, -ENOMEM, line, col, "%s", "");
		return;
	}
	memcpy(node->value, ev->data.scalar.value, ev->data.scalar.length);
	node->value[ev->data.scalar.length] = '\0';
	node->len = ev->data.scalar.length;
	node->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	              (!tag || strcmp(tag, TAG_PREFIX "str") != 0);
	anchor = dup_anchor(b, ev->data.scalar.anchor, &ev->start_mark);
	if (anchor)
		add_anchor(b, anchor, node);
	attach(b, node, 1);
}

static void on_alias(struct builder *b, const yaml_event_t *ev, int line, int col)
{
	const char *name = (const char *)ev->data.alias.anchor;
	struct config_yaml_node *copy;

	for (size_t i = 0; i < b->n_anchors; i++) {
		if (strcmp(b->anchors[i].name, name) != 0)
			continue;
		if (b->depth + (size_t)b->anchors[i].height > CONFIG_YAML_MAX_DEPTH + 1) {
			fail(b, -EINVAL, line, col,
			     "alias '*%.64s' nests deeper than %d levels where it is used", name,
			     CONFIG_YAML_MAX_DEPTH);
			return;
		}
		copy = copy_node(b, b->anchors[i].node);
		if (copy)
			attach(b, copy, b->anchors[i].height);
		return;
	}
	/* Also the case of an alias to a collection still being built. */
	fail(b, -EINVAL, line, col, "alias '*%.64s' names no finished anchor (&%.64s) before it",
	     name, name);
}

static void on_start(struct builder *b, const yaml_event_t *ev, enum config_yaml_kind kind,
                     int line, int col)
{
	const yaml_char_t *tag = kind == CONFIG_YAML_MAPPING ? ev->data.mapping_start.tag
	                                                     : ev->data.sequence_start.tag;
	const yaml_char_t *anchor = kind == CONFIG_YAML_MAPPING ? ev->data.mapping_start.anchor
	                                                        : ev->data.sequence_start.anchor;
	struct config_yaml_node *node;

	if (!check_tag(b, tag, line, col))
		return;
	if (b->depth >= CONFIG_YAML_MAX_DEPTH) {
		fail(b, -EINVAL, line, col, "nesting deeper than %d levels", CONFIG_YAML_MAX_DEPTH);
		return;
	}
	node = node_new(b, kind, line, col);
	if (!node)
		return;
	b->stack[b->depth] = (struct frame){.node = node, .height = 1};
	b->stack[b->depth].anchor = dup_anchor(b, anchor, &ev->start_mark);
	b->depth++;
}

static void on_end(struct builder *b)
{
	struct frame f;

	if (b->depth == 0)
		return;
	f = b->stack[--b->depth];
	if (f.key) {
		/* libyaml always closes a key with a value; be safe anyway. */
		config_yaml_free(f.key);
	}
	if (f.node->kind == CONFIG_YAML_MAPPING)
		resolve_merges(b, f.node);
	if (f.node->kind == CONFIG_YAML_MAPPING && !b->error)
		settle_keys(b, f.node);
	if (f.anchor && !b->error)
		add_anchor(b, f.anchor, f.node);
	else
		free(f.anchor);
	if (b->error) {
		config_yaml_free(f.node);
		return;
	}
	attach(b, f.node, f.height);
}

/* libyaml reports reader errors (bad UTF-8, control characters) by byte
 * offset only; turn that into a line and column. */
static void offset_to_mark(const char *data, size_t len, size_t offset, int *line, int *col)
{
	size_t start = 0;

	*line = 1;
	if (offset > len)
		offset = len;
	for (size_t i = 0; i < offset; i++) {
		if (data[i] == '\n') {
			(*line)++;
			start = i + 1;
		}
	}
	*col = (int)(offset - start) + 1;
}

static void parser_error(struct builder *b, const yaml_parser_t *p)
{
	int line, col;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		fail(b, -ENOMEM, 0, 0, "%s", "");
		return;
	case YAML_READER_ERROR:
		offset_to_mark(b->data, b->len, p->problem_offset, &line, &col);
		if (b->error)
			return;
		b->error = -EINVAL;
		diag_add(b->diags, DIAG_ERROR, b->file, line, col, "invalid YAML: %s",
		         p->problem ? p->problem : "unreadable input");
		return;
	default:
		if (b->error)
			return;
		b->error = -EINVAL;
		line = (int)p->problem_mark.line + 1;
		col = (int)p->problem_mark.column + 1;
		if (p->context)
			diag_add(b->diags, DIAG_ERROR, b->file, line, col,
			         "invalid YAML: %s (%s started at %d:%d)",
			         p->problem ? p->problem : "syntax error", p->context,
			         (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
		else
			diag_add(b->diags, DIAG_ERROR, b->file, line, col, "invalid YAML: %s",
			         p->problem ? p->problem : "syntax error");
		return;
	}
}

static void builder_free(struct builder *b)
{
	for (size_t i = 0; i < b->depth; i++) {
		config_yaml_free(b->stack[i].node);
		config_yaml_free(b->stack[i].key);
		free(b->stack[i].anchor);
	}
	b->depth = 0;
	for (size_t i = 0; i < b->n_anchors; i++) {
		free(b->anchors[i].name);
		config_yaml_free(b->anchors[i].node);
	}
	free(b->anchors);
	config_yaml_free(b->root);
}

int config_yaml_parse(const char *file, const char *data, size_t len,
                      struct config_yaml_node **ret_root, struct diag_list *diags)
{
	struct builder b = {.file = file, .data = data, .len = len, .diags = diags};
	yaml_parser_t parser;
	bool done = false;

	*ret_root = NULL;
	if (!yaml_parser_initialize(&parser)) {
		diag_add(diags, DIAG_ERROR, file, 0, 0, "out of memory reading the file");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);

	while (!done && !b.error) {
		yaml_event_t ev;
		int line, col;

		if (!yaml_parser_parse(&parser, &ev)) {
			parser_error(&b, &parser);
			break;
		}
		line = (int)ev.start_mark.line + 1;
		col = (int)ev.start_mark.column + 1;
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++b.documents > 1)
				fail(&b, -EINVAL, line, col, "%s",
				     "a second YAML document; the config must be a single document");
			break;
		case YAML_SCALAR_EVENT:
			on_scalar(&b, &ev, line, col);
			break;
		case YAML_ALIAS_EVENT:
			on_alias(&b, &ev, line, col);
			break;
		case YAML_SEQUENCE_START_EVENT:
			on_start(&b, &ev, CONFIG_YAML_SEQUENCE, line, col);
			break;
		case YAML_MAPPING_START_EVENT:
			on_start(&b, &ev, CONFIG_YAML_MAPPING, line, col);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			on_end(&b);
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);

	if (b.error) {
		int error = b.error;

		builder_free(&b);
		return error;
	}
	*ret_root = b.root;
	b.root = NULL;
	builder_free(&b);
	return 0;
}
