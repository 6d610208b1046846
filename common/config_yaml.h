/*
 * config_yaml: a small YAML node tree for the config loader, built with
 * libyaml's event parser. Every node keeps the 1-based line and column where
 * it is written, so each diagnostic can point at its source.
 *
 * What the tree resolves for its users: anchors and aliases (an alias becomes
 * a copy of the anchored node), merge keys (`<<: *base`, explicit keys win),
 * duplicate keys (settled per mapping, read through config_yaml_next_key()),
 * and the YAML 1.1 distinction between plain and quoted scalars (`plain`).
 * Bounded: nesting depth, node count (so alias bombs stop early) and a single
 * document per file.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

#define CONFIG_YAML_MAX_DEPTH 64
#define CONFIG_YAML_MAX_NODES 262144

enum config_yaml_kind {
	CONFIG_YAML_SCALAR,
	CONFIG_YAML_MAPPING,
	CONFIG_YAML_SEQUENCE,
	CONFIG_YAML__COUNT,
};

struct config_yaml_pair;

struct config_yaml_node {
	enum config_yaml_kind kind;
	int line, col; /* 1-based: libyaml's mark.line + 1, mark.column + 1 */

	/* CONFIG_YAML_SCALAR: the text (never contains NUL) and whether it was
	 * written plain and untagged, so YAML typing applies (~, true, 600). */
	char *value;
	size_t len;
	bool plain;

	/* CONFIG_YAML_MAPPING: keys are scalars, in file order. */
	struct config_yaml_pair *pairs;
	size_t n_pairs;

	/* CONFIG_YAML_SEQUENCE */
	struct config_yaml_node **items;
	size_t n_items;

	size_t cap; /* the builder's: allocated pairs or items */
};

struct config_yaml_pair {
	struct config_yaml_node *key;
	struct config_yaml_node *value;
	/* Duplicate keys, settled when the mapping is built (read them through
	 * config_yaml_next_key()): the index of the first pair with this key
	 * (its own when none stands before), and whether a later one follows. */
	size_t first;
	bool later;
};

/*
 * Parses one YAML document from DATA (LEN bytes). Problems are added to
 * DIAGS located in FILE. Returns 0 and sets *ret_root (NULL for an empty
 * document), -EINVAL after a syntax or structure error (described in DIAGS),
 * or -ENOMEM.
 */
int config_yaml_parse(const char *file, const char *data, size_t len,
                      struct config_yaml_node **ret_root, struct diag_list *diags);

void config_yaml_free(struct config_yaml_node *node);

const char *config_yaml_kind_name(enum config_yaml_kind kind);

/* A YAML null: absent, or a plain `~`, `null` or empty scalar. */
bool config_yaml_is_null(const struct config_yaml_node *node);

/*
 * A key given twice in one mapping. YAML leaves it to the reader; a reader
 * that read both pairs would leak or mix the first value, so every mapping
 * reader of the config and the keys file walks its pairs with
 * config_yaml_next_key(), which settles duplicates by one of two rules:
 *
 * LATER_WINS: the main config's rule, LiteLLM's (PyYAML keeps the last
 *   value): only a key's last pair is read, at its place; the reader warns at
 *   each repeated pair.
 * REFUSED: the keys file's rule (llmgate.keys_file): a key id, a model list
 *   or a limit given twice must not silently change who may do what, so no
 *   pair of such a key is read; the reader reports an error at each repeated
 *   pair (and the file is refused).
 */
enum config_yaml_dups {
	CONFIG_YAML_LATER_WINS,
	CONFIG_YAML_REFUSED,
};

/* One step of config_yaml_next_key(): PAIR, the pair to read, or NULL; AGAIN,
 * when set, a pair whose key stands earlier too (FIRST is that key's first
 * pair), for the reader to report. At least one of PAIR and AGAIN is set;
 * under LATER_WINS both are for a key's last pair. */
struct config_yaml_key {
	const struct config_yaml_pair *pair;
	const struct config_yaml_pair *again;
	const struct config_yaml_pair *first;
};

/*
 * The next step through MAP's pairs in file order from *POS (0 to start),
 * with duplicate keys settled by RULE; false at the end, and for a null or
 * a node that is not a mapping. Use:
 *
 *	struct config_yaml_key k;
 *	for (size_t pos = 0; config_yaml_next_key(map, CONFIG_YAML_LATER_WINS, &pos, &k);) {
 *		if (k.again)
 *			report the repetition of k.again->key (first at k.first->key);
 *		if (k.pair)
 *			read k.pair;
 *	}
 */
bool config_yaml_next_key(const struct config_yaml_node *map, enum config_yaml_dups rule,
                          size_t *pos, struct config_yaml_key *ret);
