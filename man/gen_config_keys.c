/*
 * gen_config_keys: writes llmgate.yaml(5) from its template, replacing the
 * line "@KEYS@" with one subsection per config section, generated from the
 * loader's own key table (common/config_keys.h): every implemented key with
 * its type, description and default in a tagged list, then the request
 * defaults and the LiteLLM keys llmgate ignores as compact lists. A key
 * cannot exist without its documentation. Build tool only; not installed.
 *
 * Usage: gen_config_keys TEMPLATE OUTPUT
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

/*
 * Text as text lines of at most 72 bytes, broken at spaces: no line starts
 * with a dot or a quote or a space, backslashes are escaped.
 */
static void text(FILE *out, const char *s)
{
	size_t col = 0;

	while (*s) {
		size_t word = strcspn(s, " ");

		if (col > 0 && col + 1 + word > 72) {
			putc('\n', out);
			col = 0;
		} else if (col > 0) {
			putc(' ', out);
			col++;
		}
		if (col == 0 && (s[0] == '.' || s[0] == '\''))
			fputs("\\&", out);
		for (size_t i = 0; i < word; i++) {
			if (s[i] == '\\')
				fputs("\\e", out);
			else
				putc(s[i], out);
		}
		col += word;
		s += word;
		while (*s == ' ')
			s++;
	}
}

static bool is_param(const struct config_key_doc *k)
{
	return strcmp(k->type, "request parameter") == 0;
}

static bool is_ignored(const struct config_key_doc *k)
{
	return strcmp(k->type, "ignored") == 0;
}

/* ".Cm a ,\n.Cm b ,\n.Cm c .\n" for the keys [from, to) that match. */
static void key_list(FILE *out, const struct config_key_doc *keys, size_t from, size_t to,
                     bool (*match)(const struct config_key_doc *), const char *description)
{
	size_t last = to;

	for (size_t i = from; i < to; i++)
		if (match(&keys[i]) &&
		    (!description || strcmp(keys[i].description, description) == 0))
			last = i;
	for (size_t i = from; i < to; i++) {
		if (!match(&keys[i]) ||
		    (description && strcmp(keys[i].description, description) != 0))
			continue;
		fprintf(out, ".Cm %s %s\n", keys[i].key, i == last ? "." : ",");
	}
}

static void section(FILE *out, const struct config_key_doc *keys, size_t from, size_t to)
{
	const char *name = keys[from].section;
	bool any = false;

	/* "\\&" keeps mdoc from taking the closing bracket of "model_list[]" for punctuation */
	fprintf(out, ".Ss %s%s\n", name[0] ? name : "top level",
	        name[0] && name[strlen(name) - 1] == ']' ? "\\&" : "");
	for (size_t i = from; i < to; i++) {
		const struct config_key_doc *k = &keys[i];

		if (is_param(k) || is_ignored(k))
			continue;
		if (!any)
			fputs(".Bl -tag -width Ds\n", out);
		any = true;
		fprintf(out, ".It Cm %s Pq %s\n", k->key, k->type);
		text(out, k->description ? k->description : "");
		putc('\n', out);
		if (k->default_value) {
			fputs(".Pp\nDefault: ", out);
			text(out, k->default_value);
			putc('\n', out);
		}
	}
	if (any)
		fputs(".El\n", out);

	/* Request defaults, one paragraph per distinct description. */
	for (size_t i = from; i < to; i++) {
		bool first = true;

		if (!is_param(&keys[i]))
			continue;
		for (size_t j = from; j < i; j++)
			if (is_param(&keys[j]) &&
			    strcmp(keys[j].description, keys[i].description) == 0)
				first = false;
		if (!first)
			continue;
		/* "request default (OpenAI-compatible servers)": the part after
		 * "request default" qualifies the list */
		const char *note = keys[i].description;

		if (strncmp(note, "request default", strlen("request default")) == 0)
			note += strlen("request default");
		note += strspn(note, " ");
		fputs(".Pp\nOpenAI request parameters kept as defaults for requests that do not\n"
		      "set them",
		      out);
		if (note[0]) {
			putc('\n', out);
			text(out, note);
		}
		fputs(":\n", out);
		key_list(out, keys, from, to, is_param, keys[i].description);
	}

	for (size_t i = from; i < to; i++) {
		if (!is_ignored(&keys[i]))
			continue;
		fputs(".Pp\nLiteLLM keys that llmgate does not implement: accepted, and listed as\n"
		      "ignored by\n.Ql llmgated --check :\n",
		      out);
		key_list(out, keys, from, to, is_ignored, NULL);
		break;
	}
}

static const char *const auth_text[] = {
        [PROVIDER_AUTH_BEARER] = "Authorization: Bearer",
        [PROVIDER_AUTH_AZURE] = "api-key (Authorization: Bearer with azure_ad_token)",
        [PROVIDER_AUTH_AZURE_AI] = ("api-key on *.services.ai.azure.com and *.openai.azure.com "
                                    "hosts, Authorization: Bearer on others"),
};

/* "chat/completions, embeddings" for OPS. */
static void ops_text(FILE *out, unsigned ops)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {{PROVIDER_OP_CHAT, "chat/completions"},
	             {PROVIDER_OP_COMPLETIONS, "completions"},
	             {PROVIDER_OP_EMBEDDINGS, "embeddings"},
	             {PROVIDER_OP_IMAGES, "images/generations, images/edits"},
	             {PROVIDER_OP_AUDIO, "audio/speech, audio/transcriptions, audio/translations"},
	             {PROVIDER_OP_MODERATIONS, "moderations"}};
	bool first = true;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(ops & names[i].bit))
			continue;
		fprintf(out, "%s%s", first ? "" : ", ", names[i].name);
		first = false;
	}
}

/* "Without KEY, VAR is used when set." or "..., the first set of A, B is used." */
static void variables(FILE *out, enum provider pv, const char *key,
                      bool (*var)(enum provider, size_t, char *, size_t))
{
	char name[64], next[64];

	if (!var(pv, 0, name, sizeof(name)))
		return;
	fprintf(out, "Without\n.Cm %s ,\n", key);
	if (!var(pv, 1, next, sizeof(next))) {
		fprintf(out, ".Ev %s\nis used when set.\n", name);
		return;
	}
	fputs("the first set of\n", out);
	for (size_t k = 0; var(pv, k, name, sizeof(name)); k++)
		fprintf(out, ".Ev %s%s\n", name, var(pv, k + 1, next, sizeof(next)) ? " ," : "");
	fputs("is used.\n", out);
}

static void providers(FILE *out)
{

	fputs(".Bl -tag -width Ds\n", out);
	for (size_t i = 0; i < PROVIDER__COUNT; i++) {
		const struct provider_info *p = provider_info((enum provider)i);

		if (!p->ops)
			continue;
		fprintf(out, ".It Li %s/ Ns Ar model\n", p->prefix);
		if (p->default_base)
			fprintf(out, "Default\n.Cm api_base :\n.Lk %s .\n", p->default_base);
		else
			fputs("No default\n.Cm api_base :\nthe config must name one.\n", out);
		variables(out, (enum provider)i, "api_base", provider_base_var);
		variables(out, (enum provider)i, "api_key", provider_key_var);
		fputs("Credential:\n", out);
		text(out, auth_text[p->auth]);
		fputs(".\nThe upstream answers:\n", out);
		ops_text(out, p->ops);
		fputs(".\n", out);
		if (p->note[0]) {
			text(out, p->note);
			fputs(".\n", out);
		}
	}
	fputs(".El\n.Pp\nNot served (the entry is reported by\n.Ql llmgated --check ) :\n"
	      ".Bl -tag -width Ds\n",
	      out);
	for (size_t i = 0; i < PROVIDER__COUNT; i++) {
		const struct provider_info *p = provider_info((enum provider)i);

		if (p->ops)
			continue;
		fprintf(out, ".It Li %s/\n", p->prefix);
		text(out, p->note);
		fputs(".\n", out);
	}
	fputs(".El\n", out);
}

int main(int argc, char **argv)
{
	char line[4096];
	size_t n;
	const struct config_key_doc *keys = config_keys(&n);
	FILE *in, *out;

	if (argc != 3) {
		fputs("usage: gen_config_keys TEMPLATE OUTPUT\n", stderr);
		return 2;
	}
	in = fopen(argv[1], "r");
	if (!in) {
		perror(argv[1]);
		return 1;
	}
	out = fopen(argv[2], "w");
	if (!out) {
		perror(argv[2]);
		fclose(in);
		return 1;
	}
	while (fgets(line, sizeof(line), in)) {
		if (strcmp(line, "@PROVIDERS@\n") == 0) {
			providers(out);
			continue;
		}
		if (strcmp(line, "@KEYS@\n") != 0) {
			fputs(line, out);
			continue;
		}
		for (size_t from = 0; from < n;) {
			size_t to = from + 1;

			while (to < n && strcmp(keys[to].section, keys[from].section) == 0)
				to++;
			section(out, keys, from, to);
			from = to;
		}
	}
	fclose(in);
	if (fclose(out) != 0) {
		perror(argv[2]);
		return 1;
	}
	return 0;
}
